"""The tag catalogue on the site: search for autocompletion, one tag's details, synonyms
renamed in reviews, and descriptions on suggested tags."""

import pytest

from tests.helpers.support import api_suggest, ask, asked_id, csrf_token


def test_tag_search_ranks_by_use_and_reaches_synonyms(client):
    data = client.get("/api/v1/tags?prefix=k8&limit=3").get_json()
    assert data["tags"][0] == {
        "tag": "kubernetes",
        "count": 58343,  # the 2024 save's count (41,218 in 2021)
        "description": data["tags"][0]["description"],
        "synonym": "k8s",
    }
    assert "containerized" in data["tags"][0]["description"] and len(data["tags"]) == 3
    assert client.get("/api/v1/tags?prefix=zzzzqq").get_json()["tags"] == []


@pytest.mark.parametrize(
    "query, field", [("", "prefix"), ("?prefix=py&limit=0", "limit"), ("?prefix=py&limit=51", "limit")]
)
def test_tag_search_refuses_bad_queries(client, query, field):
    response = client.get(f"/api/v1/tags{query}")
    assert response.status_code == 422 and field in response.get_json()["fields"]


def test_one_tag_says_how_it_would_be_stored(client):
    assert client.get("/api/v1/tags/Golang").get_json() | {"description": ""} == {
        "tag": "go",
        "count": 72868,  # the 2024 save's count
        "description": "",
        "synonym": "golang",
        "known": True,
    }
    fresh = client.get("/api/v1/tags/python-polars").get_json()
    assert fresh["known"] is False and fresh["count"] == 0 and fresh["tag"] == "python-polars"
    assert client.get("/api/v1/tags/c%23").get_json()["tag"] == "c#"
    assert client.get("/api/v1/tags/bad!tag").status_code == 422


def test_a_tag_the_catalogue_lacks_comes_with_what_it_may_have_meant(reviewer_both):
    client = reviewer_both
    for typed, meant in (("pyhton", "python"), ("javascrip", "javascript")):  # the catalogue's
        info = client.get(f"/api/v1/tags/{typed}").get_json()
        assert info["known"] is False and meant in info["did_you_mean"], (typed, info)
    assert "did_you_mean" not in client.get("/api/v1/tags/python").get_json()  # a known tag needs none
    assert client.get("/api/v1/tags/zqxwvkj").get_json()["did_you_mean"] == []  # nothing near
    # A tag reviewers added on this site counts too: the typo langch, after langchain was added.
    assert "langchain" not in client.get("/api/v1/tags/langch").get_json()["did_you_mean"]
    created = api_suggest(client, {"title": "retrieval chain with an llm", "models": ["baseline"]}).get_json()
    verdict = {"accepted": [], "rejected": [t["tag"] for t in created["answers"]["baseline"]["tags"]]}
    client.post(f"/api/v1/predictions/{created['id']}/feedback", json=verdict | {"added": ["langchain"]})
    assert "langchain" in client.get("/api/v1/tags/langch").get_json()["did_you_mean"]


def test_reviews_rename_synonyms_in_added_tags(reviewer_both):
    created = api_suggest(reviewer_both, {"title": "spring hashmap", "models": ["baseline"]}).get_json()
    suggested = [tag["tag"] for tag in created["answers"]["baseline"]["tags"]]
    body = {"accepted": suggested, "added": ["golang", "K8s", "python-polars", "go"]}
    review = reviewer_both.post(f"{created['url']}/feedback", json=body).get_json()["review"]
    assert review["added"] == ["go", "kubernetes", "python-polars"]

    response = ask(reviewer_both, "spring hashmap again", model="baseline")
    number = asked_id(response)
    form = {"csrf_token": csrf_token(reviewer_both, f"/history/{number}"), "added": "postgres nextjs"}
    form.update({f"verdict:{tag}": "accept" for tag in suggested})
    reviewer_both.post(f"/history/{number}/review", data=form)
    detail = reviewer_both.get(f"/api/v1/predictions/{number}").get_json()
    assert detail["review"]["added"] == ["postgresql", "next.js"]


def test_suggested_tags_carry_their_description(client_both):
    number = asked_id(ask(client_both, "django pip virtualenv", model="baseline"))
    page = client_both.get(f"/history/{number}").get_data(as_text=True)
    assert 'class="tag" title="' in page and "questions on Stack Overflow" in page
    assert 'data-tag-search="/api/v1/tags"' in page and 'role="listbox"' in page
