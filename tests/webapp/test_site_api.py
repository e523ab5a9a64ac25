"""The JSON API: same checks and storage as the pages, JSON errors with fitting codes."""

import pytest

from tests.helpers.support import FakeTransformer, api_suggest, count_rows, make_app
from webapp.core.tables import ModelAnswer, Question


def test_suggest_one_question(client, app):
    response = api_suggest(
        client, {"title": "How do I use pip in a virtualenv?", "body": "```\npip install django\n```"}
    )
    assert response.status_code == 201
    data = response.get_json()
    # Absolute links, ready to follow.
    assert response.headers["Location"] == data["url"] == f"http://localhost/api/v1/predictions/{data['id']}"
    assert data["page"] == f"http://localhost/history/{data['id']}"
    baseline = data["answers"]["baseline"]
    assert baseline["tags"][0]["tag"] == "python" and 0 < baseline["tags"][0]["score"] <= 1
    assert [tag["score"] for tag in baseline["tags"]] == sorted(
        (tag["score"] for tag in baseline["tags"]), reverse=True
    )
    assert baseline["model_version"].startswith("baseline-") and baseline["latency_ms"] > 0
    assert "transformer" not in data["answers"]
    assert "not available" in data["unavailable"]["transformer"]
    assert data["review"] is None and data["top_k"] == 5 and data["threshold"] is None and data["source"] == "api"
    assert count_rows(app, Question) == 1


def test_suggest_both_models_with_settings(client_both):
    response = api_suggest(
        client_both, {"title": "spring hashmap", "models": ["baseline", "transformer"], "top_k": 1, "threshold": 0.0}
    )
    data = response.get_json()
    assert response.status_code == 201 and data["unavailable"] == {}
    assert [len(answer["tags"]) for answer in data["answers"].values()] == [1, 1]
    assert data["answers"]["transformer"] == {
        "model_version": "transformer-fake-1",
        "latency_ms": data["answers"]["transformer"]["latency_ms"],
        "confident": True,
        "tags": [{"tag": "java", "score": 0.9, "confident": True}],
    }
    data = api_suggest(client_both, {"title": "spring hashmap", "models": ["transformer"]}).get_json()
    assert list(data["answers"]) == ["transformer"]


def test_suggest_a_batch(client_both, app_both):
    questions = [
        {"title": "django pip question"},
        {"title": "npm promise callback", "body": "node"},
        {"title": "linq in wpf"},
    ]
    response = api_suggest(client_both, {"questions": questions, "models": "transformer"})
    assert response.status_code == 201
    items = response.get_json()["predictions"]
    assert [item["answers"]["transformer"]["tags"][0]["tag"] for item in items] == ["python", "javascript", "c#"]
    assert len({item["id"] for item in items}) == 3
    assert app_both.extensions["tagsmith.models"].get("transformer").calls == 1  # one batched call
    assert count_rows(app_both, Question) == 3


def test_batch_limits(client, app):
    too_many = [{"title": f"python question {n}"} for n in range(33)]
    response = api_suggest(client, {"questions": too_many})
    assert response.status_code == 422 and "at most 32 questions" in response.get_json()["fields"]["questions"]
    response = api_suggest(
        client,
        {"questions": [{"title": "fine python title"}, {"title": "x"}, "nope", {"title": "ok title", "tags": []}]},
    )
    fields = response.get_json()["fields"]
    assert response.status_code == 422
    assert "at least 3 characters" in fields["questions[1].title"]
    assert "questions[2]" in fields and "questions[3].tags" in fields
    assert api_suggest(client, {"questions": []}).status_code == 422
    assert api_suggest(client, {"questions": [{"title": "abc"}], "title": "abc"}).status_code == 422
    assert count_rows(app, Question) == 0


@pytest.mark.parametrize(
    "payload, field, words",
    [
        ({}, "title", "title is required"),
        ({"title": None}, "title", "title is required"),
        ({"title": ""}, "title", "is empty"),
        ({"title": " \n\t "}, "title", "only whitespace"),
        ({"title": 42}, "title", "must be text"),
        ({"title": "x" * 301}, "title", "at most 300"),
        ({"title": "ok title", "body": "b" * 50_001}, "body", "at most 50,000"),
        ({"title": "ok title", "body": ["list"]}, "body", "must be text"),
        ({"title": "bin\u0000ary title"}, "title", "binary data"),
        ({"title": "ok title", "body": "\u0007\u0001 bell"}, "body", "binary data"),
        ({"title": "lone \udce9 surrogate"}, "title", "not valid UTF-8"),
        ({"title": "ok title", "top_k": 0}, "top_k", "between 1 and 20"),
        ({"title": "ok title", "top_k": 21}, "top_k", "between 1 and 20"),
        ({"title": "ok title", "top_k": "5"}, "top_k", "whole number"),
        ({"title": "ok title", "top_k": True}, "top_k", "whole number"),
        ({"title": "ok title", "threshold": 1.01}, "threshold", "between 0 and 1"),
        ({"title": "ok title", "threshold": "0.5"}, "threshold", "a number from 0 to 1"),
        ({"title": "ok title", "models": "gpt"}, "models", "unknown model 'gpt'"),
        ({"title": "ok title", "models": []}, "models", "list of model names"),
        ({"title": "ok title", "titel": "typo"}, "titel", "unknown field"),
    ],
)
def test_validation_errors_are_422_with_field_messages(client, app, payload, field, words):
    response = api_suggest(client, payload)
    assert response.status_code == 422
    data = response.get_json()
    assert data["status"] == 422 and data["error"]
    assert words in data["fields"][field]
    assert count_rows(app, Question) == 0


def test_non_json_malformed_json_and_non_objects(client):
    response = client.post("/api/v1/suggest", data={"title": "python"})
    assert response.status_code == 415 and "Content-Type: application/json" in response.get_json()["error"]
    response = client.post("/api/v1/suggest", data='{"title": "python",', content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"].startswith("Malformed JSON")
    response = client.post("/api/v1/suggest", data=b'{"title": "caf\xe9 python"}', content_type="application/json")
    assert response.status_code == 400 and "not valid UTF-8" in response.get_json()["error"]
    response = client.post(
        "/api/v1/suggest", data='{"title": "ok title", "threshold": NaN}', content_type="application/json"
    )
    assert response.status_code == 400 and "NaN" in response.get_json()["error"]
    response = client.post("/api/v1/suggest", json=["python"])
    assert response.status_code == 422 and "must be an object" in response.get_json()["error"]


def test_request_too_large_is_413_json(trained_models, tmp_path, new_database):
    client = make_app(trained_models / "models", new_database(), MAX_CONTENT_LENGTH=5_000).test_client()
    response = api_suggest(client, {"title": "python", "body": "x" * 10_000})
    assert response.status_code == 413
    assert response.get_json()["status"] == 413 and "larger than the" in response.get_json()["error"]


def test_no_requested_model_available_is_503_and_stores_nothing(client, app):
    response = api_suggest(client, {"title": "spring hashmap", "models": ["transformer"]})
    assert response.status_code == 503
    data = response.get_json()
    assert data["error"] == "None of the requested models is available." and "transformer" in data["fields"]
    assert count_rows(app, Question) == 0


def test_a_failing_model_is_500_json_and_stores_nothing(trained_models, tmp_path, new_database):
    app = make_app(trained_models / "models", new_database(), transformer=FakeTransformer(fail=True))
    response = api_suggest(app.test_client(), {"questions": [{"title": "python one"}, {"title": "java two"}]})
    assert response.status_code == 500 and "Nothing was saved" in response.get_json()["error"]
    assert count_rows(app, Question) == 0 and count_rows(app, ModelAnswer) == 0


def test_predictions_are_paginated_newest_first_and_filterable(client_both):
    for number in range(5):
        api_suggest(client_both, {"title": f"question {number} django", "models": "baseline" if number % 2 else "both"})
    page = client_both.get("/api/v1/predictions?per_page=2").get_json()
    assert page["total"] == 5 and page["pages"] == 3 and page["page"] == 1 and page["prev"] is None
    assert [item["title"] for item in page["items"]] == ["question 4 django", "question 3 django"]
    following = client_both.get(page["next"]).get_json()
    assert [item["title"] for item in following["items"]] == ["question 2 django", "question 1 django"]
    last = client_both.get("/api/v1/predictions?per_page=2&page=3").get_json()
    assert len(last["items"]) == 1 and last["next"] is None
    assert client_both.get("/api/v1/predictions?page=99").get_json()["items"] == []
    transformer = client_both.get("/api/v1/predictions?model=transformer").get_json()
    assert transformer["total"] == 3
    assert (
        client_both.get("/api/v1/predictions?model=transformer&per_page=1")
        .get_json()["next"]
        .count("model=transformer")
        == 1
    )
    assert client_both.get("/api/v1/predictions?q=question%203").get_json()["total"] == 1
    assert client_both.get("/api/v1/predictions?tag=python&model=transformer").get_json()["total"] == 3
    assert client_both.get("/api/v1/predictions?reviewed=true").get_json()["total"] == 0


@pytest.mark.parametrize(
    "query, field", [("page=0", "page"), ("page=x", "page"), ("per_page=101", "per_page"), ("model=gpt", "model")]
)
def test_bad_list_parameters_are_422(client, query, field):
    response = client.get(f"/api/v1/predictions?{query}")
    assert response.status_code == 422 and field in response.get_json()["fields"]


def test_prediction_detail_and_404(client):
    created = api_suggest(client, {"title": "python django pip", "body": "<b>html</b>"}).get_json()
    detail = client.get(created["url"]).get_json()
    assert detail["id"] == created["id"] and detail["body"] == "<b>html</b>"
    assert detail["answers"] == created["answers"]
    response = client.get("/api/v1/predictions/999")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert response.get_json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "There is no prediction 999.",
        "instance": "/api/v1/predictions/999",
        "error": "There is no prediction 999.",  # v1's name, kept
    }
    assert client.get("/api/v1/nothing-here").status_code == 404
    assert client.get("/api/v1/nothing-here").get_json()["status"] == 404


def test_feedback_reviews_a_prediction(reviewer_both):
    created = api_suggest(reviewer_both, {"title": "spring hashmap with a join"}).get_json()
    suggested = {tag["tag"] for answer in created["answers"].values() for tag in answer["tags"]}
    assert {"java", "sql"} <= suggested
    response = reviewer_both.post(f"{created['url']}/feedback", json={"accepted": ["java"], "added": "hibernate, JPA"})
    assert response.status_code == 200
    review = response.get_json()["review"]
    assert review["accepted"] == ["java"] and review["added"] == ["hibernate", "jpa"]
    assert sorted(review["rejected"]) == sorted(suggested - {"java"})
    assert review["tags"] == ["java", "hibernate", "jpa"] and review["reviewed_at"].endswith("Z")
    listing = reviewer_both.get("/api/v1/predictions?reviewed=yes").get_json()
    assert [item["id"] for item in listing["items"]] == [created["id"]]
    # An added tag that a model suggested counts as accepted.
    review = reviewer_both.post(f"{created['url']}/feedback", json={"accepted": [], "added": ["sql"]}).get_json()[
        "review"
    ]
    assert review["accepted"] == ["sql"] and review["added"] == []
    # Who reviewed and when, and every earlier review, newest first.
    detail = reviewer_both.get(created["url"]).get_json()
    assert detail["review"]["reviewer"] == "ada"
    assert [entry["reviewer"] for entry in detail["reviews"]] == ["ada", "ada"]
    assert [entry["tags"] for entry in detail["reviews"]] == [["sql"], ["java", "hibernate", "jpa"]]
    assert detail["reviews"][0]["id"] > detail["reviews"][1]["id"]
    listed = reviewer_both.get("/api/v1/predictions?reviewed=yes").get_json()["items"][0]
    assert listed["review"]["reviewer"] == "ada" and "reviews" not in listed


@pytest.mark.parametrize(
    "payload, field, words",
    [
        ({}, "accepted", "list the suggested tags"),
        ({"accepted": ["ruby"]}, "accepted", "was not suggested"),
        ({"accepted": ["java"], "rejected": ["java"]}, "rejected", "both accepted and rejected"),
        ({"accepted": ["java"], "rejected": []}, "rejected", "undecided"),
        ({"accepted": "java", "added": ["bad tag!"]}, "added", "not a valid tag"),
        ({"accepted": [], "added": ["python", "..."]}, "added", "'...' is not a valid tag: it needs a letter or digit"),
        ({"accepted": [1, 2]}, "accepted", "list of tags"),
        ({"accepted": [], "added": [f"t{n}" for n in range(11)]}, "added", "at most 10"),
        ({"accepted": [], "verdict": "x"}, "verdict", "unknown field"),
    ],
)
def test_feedback_validation(reviewer_both, payload, field, words):
    created = api_suggest(reviewer_both, {"title": "spring hashmap with a join"}).get_json()
    response = reviewer_both.post(f"{created['url']}/feedback", json=payload)
    assert response.status_code == 422
    assert words in response.get_json()["fields"][field]
    assert reviewer_both.get(created["url"]).get_json()["review"] is None


def test_feedback_on_unknown_prediction_is_404(reviewer):
    assert reviewer.post("/api/v1/predictions/5/feedback", json={"accepted": []}).status_code == 404


def test_models_endpoint(client_both):
    models = {model["name"]: model for model in client_both.get("/api/v1/models").get_json()["models"]}
    baseline = models["baseline"]
    assert baseline["available"] and sorted(baseline["labels"]) == ["c#", "java", "javascript", "python", "sql"]
    assert "micro_f1" in baseline["test_metrics"] and "per_tag" not in baseline["test_metrics"]
    assert baseline["version"].startswith("baseline-") and baseline["global_threshold"] is not None
    assert models["transformer"]["version"] == "transformer-fake-1"
    assert models["transformer"]["test_metrics"]["micro_f1"] == 0.9123


def test_api_method_not_allowed_is_json(client):
    response = client.get("/api/v1/suggest")
    assert response.status_code == 405 and response.get_json()["status"] == 405
    assert "POST" in response.headers["Allow"]


def test_a_question_with_no_confident_tag_says_so(client_both):
    vague = api_suggest(client_both, {"title": "it does not work at all", "models": ["transformer"]}).get_json()
    answer = vague["answers"]["transformer"]
    assert answer["confident"] is False
    assert [tag["confident"] for tag in answer["tags"]] == [False]  # the top-1 fallback, marked as a guess
    page = client_both.get(vague["page"]).get_data(as_text=True)
    assert "No confident tag." in page and "low confidence" in page
    clear = api_suggest(client_both, {"title": "spring hashmap", "models": ["transformer"]}).get_json()
    assert clear["answers"]["transformer"]["confident"] is True
    assert "No confident tag." not in client_both.get(clear["page"]).get_data(as_text=True)
