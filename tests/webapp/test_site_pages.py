"""The HTML pages: asking, the result toggle, history, review, export, stats, models."""

import csv
import io
import json
import re

import pytest

from ml.cli import main as ml_main
from ml.data.readers import read_questions
from tests.helpers.support import FakeTransformer, ask, asked_id, count_rows, csrf_token, make_app
from webapp.core.tables import ModelAnswer, Question, ReviewedTag, SuggestedTag


def review(client, prediction_id, verdicts, added=""):
    data = {"csrf_token": csrf_token(client, f"/history/{prediction_id}"), "added": added}
    data.update({f"verdict:{tag}": verdict for tag, verdict in verdicts.items()})
    return client.post(f"/history/{prediction_id}/review", data=data)


def panel(page, model):
    match = re.search(rf'<section class="card panel[^"]*" data-model="{model}".*?</section>', page, re.S)
    assert match, f"no {model} panel"
    return match.group(0)


def suggested(page, model):
    return re.findall(r'<span class="tag"[^>]*>([^<]+)</span>\s*<span class="bar"', panel(page, model))


def answered_by(page, model):
    """The model's tags; none when it was not asked (the page has no card for it)."""
    return suggested(page, model) if f'data-model="{model}"' in page else []


# -- the ask page ---------------------------------------------------------------------


def test_ask_page_has_the_form_with_sane_defaults(client):
    page = client.get("/").get_data(as_text=True)
    assert 'name="title"' in page and 'name="body"' in page and 'name="csrf_token"' in page
    assert re.search(r'value="both"\s+checked', page)
    assert re.search(r'name="top_k"[^>]*value="5"', page) or re.search(r'value="5"[^>]*name="top_k"', page)
    assert 'placeholder="tuned"' in page
    # The transformer has no artifact: the page says so and its lone choice is disabled.
    assert "Transformer: not available." in page
    assert re.search(r'value="transformer"\s+disabled', page)
    assert "Nothing asked yet" in page


def test_the_ask_form_offers_the_default_model_first_named_by_what_it_does(trained_models, tmp_path):
    app = make_app(trained_models / "models", tmp_path / "db.sqlite3", DEFAULT_MODEL="baseline")
    page = app.test_client().get("/").get_data(as_text=True)
    values = re.findall(r'<input type="radio" name="model" value="([^"]+)"', page)
    assert values[0] == "baseline" and values[-1] == "both"  # the default first, all side by side last
    assert re.search(r'value="baseline"\s+checked', page)
    segments = re.findall(r'<label class="segment[^"]*">(.*?)</label>', page, re.S)
    assert "the 100 most used tags, fast" in segments[0]  # what it does for a person
    assert "names in the question" in next(segment for segment in segments if 'value="lexical"' in segment)


def test_asking_stores_the_question_and_shows_scored_tags(client, app):
    response = ask(client, "Why does my django view ignore pip packages?", body="<p>I use <code>virtualenv</code></p>")
    prediction_id = asked_id(response)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Why does my django view ignore pip packages?" in page
    assert suggested(page, "baseline")[0] == "python"
    assert re.search(r'class="bar-fill" style="width: \d+\.\d%"', page)
    assert re.search(r'class="latency"[^>]*>\d+\.\d ms<', page)
    assert "Saved to the history" in page
    # Asked for both, the transformer is missing: the line under the answers says so.
    others = re.search(r'<p class="other-models">.*?</p>', page, re.S).group(0)
    assert "Not available:" in others and "Transformer" in others
    with app.app_context():
        from webapp.core.extensions import db

        prediction = db.session.get(Question, prediction_id)
        assert prediction.source == "web" and prediction.top_k == 5 and prediction.threshold is None
        assert [answer.model for answer in prediction.answers] == ["baseline"]
        assert prediction.answers[0].model_version.startswith("baseline-")
        assert prediction.answers[0].latency_ms > 0


def test_both_models_side_by_side_with_a_toggle(client_both, app_both):
    response = ask(client_both, "spring hashmap in java with a join query")
    page = client_both.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-view="both"' in page
    for view in ("baseline", "transformer", "both"):
        assert f'class="toggle-button" data-view="{view}"' in page
    assert "java" in suggested(page, "baseline")
    assert suggested(page, "transformer")[:2] == ["java", "sql"]
    assert "transformer-fake-1" in page
    # Agreement counts models per tag: "5 of 6 said docker" is not "agree on 0 of 5 tags".
    agreement = re.search(r'<p class="agreement">(.*?)</p>', page, re.S).group(1)
    assert "<strong>java</strong> (2 of 2)" in agreement and "agree on" not in agreement
    assert count_rows(app_both, ModelAnswer) == 2


def test_choosing_one_model_runs_only_that_model(client_both, app_both):
    response = ask(client_both, "npm promise callback in javascript", model="transformer")
    assert "view=transformer" in response.headers["Location"]
    page = client_both.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-view="transformer"' in page
    assert suggested(page, "transformer")[0] == "javascript"
    assert "Ask Baseline too" in page and 'data-model="baseline"' not in page
    assert count_rows(app_both, ModelAnswer) == 1


def test_a_question_opens_on_the_models_that_answered_and_offers_the_others_in_one_line(client_both):
    response = ask(client_both, "npm promise callback in javascript", model="transformer")
    page = client_both.get(response.headers["Location"].replace("view=transformer", "")).get_data(as_text=True)
    assert re.findall(r'<section class="card panel[^"]*" data-model="(\w+)"', page) == ["transformer"]
    assert "was not asked" not in page and 'data-view="transformer"' in page
    others = re.search(r'<p class="other-models">.*?</p>', page, re.S)
    assert others, "no line offering the other models"
    assert "Ask Baseline too" in others.group(0)  # one compact line, a button per model
    for name in ("lexical", "omikuji", "memory", "ensemble"):  # no artifact here: named once, not a card each
        assert name not in re.findall(r'data-model="(\w+)"', page)


def test_the_other_model_can_be_asked_later(client_both, app_both):
    prediction_id = asked_id(ask(client_both, "linq query in c# wpf", model="baseline"))
    token = csrf_token(client_both, f"/history/{prediction_id}")
    response = client_both.post(f"/history/{prediction_id}/run/transformer", data={"csrf_token": token})
    assert response.status_code == 303
    page = client_both.get(response.headers["Location"]).get_data(as_text=True)
    assert suggested(page, "transformer")[0] == "c#"
    # Asking again changes nothing.
    client_both.post(f"/history/{prediction_id}/run/transformer", data={"csrf_token": token})
    assert count_rows(app_both, ModelAnswer) == 2
    assert client_both.post(f"/history/{prediction_id}/run/gpt", data={"csrf_token": token}).status_code == 404


def test_asking_an_unavailable_model_later_is_a_503(client):
    prediction_id = asked_id(ask(client, "pandas dataframe in python", model="baseline"))
    token = csrf_token(client, f"/history/{prediction_id}")
    response = client.post(f"/history/{prediction_id}/run/transformer", data={"csrf_token": token})
    assert response.status_code == 503 and "not available" in response.get_data(as_text=True)


def test_top_k_and_threshold_are_applied(client_both, app_both):
    page = client_both.get(
        ask(client_both, "django spring npm linq join", top_k="2", threshold="0").headers["Location"]
    ).get_data(as_text=True)
    assert len(suggested(page, "baseline")) == 2 and len(suggested(page, "transformer")) == 2
    assert "cut-off 0.00" in page and "up to 2 tags" in page
    page = client_both.get(
        ask(client_both, "django question", threshold="0.99", model="transformer").headers["Location"]
    ).get_data(as_text=True)
    assert suggested(page, "transformer") == ["python"]  # nothing passes 0.99: the best tag alone
    page = client_both.get(
        ask(client_both, "django spring npm linq join", top_k="", model="transformer").headers["Location"]
    ).get_data(as_text=True)
    assert "up to 5 tags" in page  # left empty, the default applies


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"title": ""}, "Enter a title: this one is empty."),
        ({"title": "   \t "}, "contains only whitespace"),
        ({"title": "ab"}, "at least 3 characters"),
        ({"title": "x" * 301}, "at most 300 characters (this one has 301)"),
        ({"body": "y" * 50_001}, "at most 50,000 characters"),
        ({"body": "PK\x03\x04\x00\x00binary"}, "binary data"),
        ({"title": "caf\ufffd au lait"}, "not valid UTF-8"),
        ({"top_k": "0"}, "between 1 and 20"),
        ({"top_k": "21"}, "between 1 and 20"),
        ({"top_k": "five"}, "whole number of tags"),
        ({"threshold": "1.5"}, "between 0 and 1"),
        ({"threshold": "nan"}, "between 0 and 1"),
        ({"model": "gpt"}, "Not a valid choice"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_is_stored(client, app, fields, message):
    data = {"title": "python django question", "body": "", "model": "baseline", "top_k": "5", "threshold": ""}
    data.update(fields)
    response = ask(client, **data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and 'class="field-error"' in page
    assert count_rows(app, Question) == 0


def test_wrongly_encoded_form_bytes_are_refused(client, app):
    token = csrf_token(client)
    body = b"csrf_token=" + token.encode() + b"&title=caf%E9+python+django&top_k=5&model=baseline"
    response = client.post("/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 422
    assert "form&#39;s title is not valid UTF-8 text" in response.get_data(as_text=True)
    assert count_rows(app, Question) == 0


def test_a_form_with_errors_keeps_what_was_typed(client):
    page = ask(client, "ab", body="my <b>body</b> & code", top_k="7").get_data(as_text=True)
    assert "my &lt;b&gt;body&lt;/b&gt; &amp; code" in page
    assert re.search(r'name="top_k"[^>]*value="7"', page) or re.search(r'value="7"[^>]*name="top_k"', page)


def test_form_errors_are_announced_and_the_first_invalid_field_has_the_focus(client):
    """Without JavaScript: the summary is an alert linking to each field, the invalid
    fields say so and point at their message, and the first of them is autofocus."""
    page = ask(client, "python django question", top_k="0", threshold="2").get_data(as_text=True)
    summary = re.search(r'<div class="error-summary"[^>]*role="alert".*?</div>', page, re.S)
    assert summary and "There are 2 problems" in summary.group(0)
    assert summary.group(0).index('href="#top_k"') < summary.group(0).index('href="#threshold"')
    fields = {
        name: re.search(rf"<input[^>]*id=\"{name}\"[^>]*>", page).group(0) for name in ("title", "top_k", "threshold")
    }
    for name in ("top_k", "threshold"):
        assert 'aria-invalid="true"' in fields[name] and f'aria-describedby="{name}-error"' in fields[name]
        assert f'id="{name}-error"' in page
    assert "autofocus" in fields["top_k"] and "autofocus" not in fields["threshold"]
    assert "autofocus" not in fields["title"] and "aria-invalid" not in fields["title"]
    page = ask(client, "ab").get_data(as_text=True)
    title = re.search(r'<input[^>]*id="title"[^>]*>', page).group(0)
    assert "autofocus" in title and 'aria-invalid="true"' in title and "There is a problem" in page
    assert 'class="error-summary"' not in client.get("/").get_data(as_text=True)


def test_asking_only_an_unavailable_model_is_a_503_that_stores_nothing(client, app):
    response = ask(client, "spring hashmap in java", model="transformer")
    assert response.status_code == 503
    assert "No answer this time." in response.get_data(as_text=True)
    assert count_rows(app, Question) == 0


def test_without_any_model_the_ask_page_says_how_to_train_one(tmp_path, new_database):
    client = make_app(tmp_path / "none", new_database()).test_client()
    page = client.get("/").get_data(as_text=True)
    assert "No model is available yet." in page and "python -m ml train --model baseline" in page
    assert ask(client, "python django question").status_code == 503


def test_a_model_failing_mid_request_stores_nothing(trained_models, tmp_path, new_database):
    app = make_app(trained_models / "models", new_database(), transformer=FakeTransformer(fail=True))
    client = app.test_client()
    response = ask(client, "python django question")  # the baseline succeeds first, then the transformer fails
    assert response.status_code == 500
    assert "The transformer model failed on this question. Nothing was saved" in response.get_data(as_text=True)
    for table in (Question, ModelAnswer, SuggestedTag):
        assert count_rows(app, table) == 0
    assert asked_id(ask(client, "python django question", model="baseline")) == 1


def test_html_in_user_input_is_escaped_everywhere(reviewer):
    title = '<script>alert("t")</script> python django'
    body = "<img src=x onerror=alert(1)> <b>bold</b>"
    prediction_id = asked_id(ask(reviewer, title, body=body))
    review(reviewer, prediction_id, {"python": "accept"}, added="sql")
    for url in (f"/history/{prediction_id}", "/history/", "/", "/history/?q=script"):
        page = reviewer.get(url).get_data(as_text=True)
        assert "<script>alert" not in page and "<img src=x" not in page, url
        assert "&lt;script&gt;alert(" in page, url
    assert "&lt;img src=x onerror=alert(1)&gt;" in reviewer.get(f"/history/{prediction_id}").get_data(as_text=True)


# -- history --------------------------------------------------------------------------


def test_empty_history_tells_the_user_what_to_do(client):
    page = client.get("/history/").get_data(as_text=True)
    assert "No questions yet" in page and "Ask your first question" in page


def test_history_is_paginated_newest_first(trained_models, tmp_path, new_database):
    app = make_app(trained_models / "models", new_database(), PAGE_SIZE=3)
    client = app.test_client()
    for number in range(7):
        client.post("/api/v1/suggest", json={"title": f"question {number} about python django"})
    first = client.get("/history/").get_data(as_text=True)
    titles = re.findall(r'class="entry-title"[^>]*><bdi>([^<]+)<', first)
    assert titles == [
        "question 6 about python django",
        "question 5 about python django",
        "question 4 about python django",
    ]
    assert "Page 1 of 3" in first and "7 questions" in first
    last = client.get("/history/?page=3").get_data(as_text=True)
    assert re.findall(r'class="entry-title"[^>]*><bdi>([^<]+)<', last) == ["question 0 about python django"]
    past = client.get("/history/?page=9").get_data(as_text=True)
    assert "This page is past the end" in past
    assert "Page 1 of 3" in client.get("/history/?page=abc").get_data(as_text=True)


def test_history_filters_by_model_tag_text_and_review(reviewer_both):
    only_baseline = asked_id(ask(reviewer_both, "pip virtualenv python django", model="baseline"))
    both = asked_id(ask(reviewer_both, "spring maven java hashmap"))
    only_transformer = asked_id(ask(reviewer_both, "linq 100% done_ok in c#", model="transformer"))
    review(reviewer_both, both, {tag: "accept" for tag in ("java", "sql")} | {"javascript": "reject"}, added="maven")

    def ids(query):
        page = reviewer_both.get("/history/" + query).get_data(as_text=True)
        return [int(number) for number in re.findall(r"<span>#(\d+)</span>", page)]

    assert ids("") == [only_transformer, both, only_baseline]
    assert ids("?model=baseline") == [both, only_baseline]
    assert ids("?model=transformer") == [only_transformer, both]
    # A model's questions come from its answers in id order: with the other filters and cursors.
    assert ids("?model=baseline&reviewed=no") == [only_baseline]
    assert ids("?model=transformer&reviewed=yes") == [both]
    assert ids(f"?model=baseline&before={both}") == [only_baseline]
    assert ids(f"?model=transformer&after={only_baseline}") == [only_transformer, both]
    assert ids("?model=baseline&q=maven") == [both]
    assert "2 questions" in reviewer_both.get("/history/?model=baseline").get_data(as_text=True)
    assert ids("?tag=java") == [both]
    assert ids("?tag=maven") == [both]  # a tag the reviewer added
    assert ids("?tag=python&model=transformer") == []
    assert ids("?q=VIRTUALENV") == [only_baseline]
    assert ids("?q=100%25") == [only_transformer]  # words: % is a separator, not a wildcard
    assert ids("?q=done_ok") == [only_transformer]  # the words "done" and "ok"
    assert ids("?q=one") == []  # the start of a word, not any part of one ("done" does not match)
    assert ids("?reviewed=yes") == [both]
    assert ids("?reviewed=no") == [only_transformer, only_baseline]
    page = reviewer_both.get("/history/?tag=nothing-like-this").get_data(as_text=True)
    assert "No question matches these filters" in page and "Clear the filters" in page
    # A synonym finds what its tag finds, as a review renames it (golang -> go, js -> javascript).
    feedback = {"accepted": ["python"], "added": ["golang"]}  # the rest rejected; stored as go
    assert reviewer_both.post(f"/api/v1/predictions/{only_baseline}/feedback", json=feedback).status_code == 200
    assert ids("?tag=golang") == ids("?tag=go") == [only_baseline]
    api = reviewer_both.get("/api/v1/predictions?tag=golang").get_json()["items"]
    assert [item["id"] for item in api] == [only_baseline]


def test_the_tag_filter_follows_later_answers_re_reviews_and_other_filters(reviewer_both):
    java = asked_id(ask(reviewer_both, "spring maven java hashmap", model="baseline"))
    python = asked_id(ask(reviewer_both, "pip virtualenv python django", model="baseline"))

    def ids(query):
        page = reviewer_both.get("/history/" + query).get_data(as_text=True)
        return [int(number) for number in re.findall(r"<span>#(\d+)</span>", page)]

    java_tags = suggested(reviewer_both.get(f"/history/{java}").get_data(as_text=True), "baseline")
    review(reviewer_both, java, {tag: "reject" for tag in java_tags}, added="made-up-tag")
    assert ids("?tag=made-up-tag") == [java]  # added by the reviewer
    assert ids(f"?tag={java_tags[0]}") == [java]  # rejected, but a model suggested it
    review(reviewer_both, java, {tag: "accept" for tag in java_tags})
    assert ids("?tag=made-up-tag") == []  # the re-review dropped it

    reviewer_both.post(f"/history/{python}/run/transformer", data={"csrf_token": csrf_token(reviewer_both)})
    transformer_tags = suggested(reviewer_both.get(f"/history/{python}").get_data(as_text=True), "transformer")
    only_transformer = [tag for tag in transformer_tags if tag not in java_tags]
    assert only_transformer and ids(f"?tag={only_transformer[0]}") == [python]
    assert ids(f"?tag={only_transformer[0]}&model=transformer") == [python]
    assert ids(f"?tag={only_transformer[0]}&reviewed=yes") == []
    assert ids(f"?tag={java_tags[0]}&reviewed=yes&q=hashmap") == [java]
    assert ids(f"?tag={only_transformer[0]}&q=hashmap") == []


def test_a_tag_with_a_model_keeps_what_that_model_suggested_or_the_review_kept(reviewer_both):
    """Every tag with each model, on both databases, against the rule worked out from the
    stored answers and reviews: the model answered, and either its answer has the tag or the
    review kept it (accepted or added); a rejected suggestion of the model still counts."""
    python = asked_id(ask(reviewer_both, "pip virtualenv python django", model="baseline"))
    java = asked_id(ask(reviewer_both, "spring maven java hashmap"))
    linq = asked_id(ask(reviewer_both, "linq lambda in c# asp.net", model="transformer"))
    regex = asked_id(ask(reviewer_both, "python regex to match a string"))
    java_tags = suggested(reviewer_both.get(f"/history/{java}").get_data(as_text=True), "baseline")
    verdicts = {java_tags[0]: "reject"} | {tag: "accept" for tag in java_tags[1:]}
    assert review(reviewer_both, java, verdicts, added="maven").status_code == 303
    for question, added in ((python, "pip"), (linq, "python")):  # every suggestion rejected, one tag added
        page = reviewer_both.get(f"/history/{question}").get_data(as_text=True)
        rejected = {tag: "reject" for model in ("baseline", "transformer") for tag in answered_by(page, model)}
        assert review(reviewer_both, question, rejected, added=added).status_code == 303

    items = reviewer_both.get("/api/v1/predictions?per_page=100").get_json()["items"]
    assert sorted(item["id"] for item in items) == sorted([python, java, linq, regex])
    every_tag = {tag["tag"] for item in items for answer in item["answers"].values() for tag in answer["tags"]}
    every_tag |= {tag for item in items if item["review"] for tag in item["review"]["tags"]}
    checked = 0
    for model in ("baseline", "transformer"):
        for tag in sorted(every_tag):
            expected = []
            for item in items:  # newest first, as the history
                answer = item["answers"].get(model)
                kept = item["review"]["tags"] if item["review"] else []
                if answer and (tag in [found["tag"] for found in answer["tags"]] or tag in kept):
                    expected.append(item["id"])
            listing = reviewer_both.get("/api/v1/predictions", query_string={"tag": tag, "model": model}).get_json()
            assert [item["id"] for item in listing["items"]] == expected, (tag, model)
            assert listing["total"] == len(expected)
            checked += bool(expected)
    assert checked >= 10
    # The cases the rule spells out, by name.
    api = "/api/v1/predictions?per_page=100"
    assert java in ids_of(reviewer_both.get(f"{api}&tag={java_tags[0]}&model=baseline"))  # suggested, rejected
    assert java in ids_of(reviewer_both.get(f"{api}&tag=maven&model=baseline"))  # added in the review
    assert python not in ids_of(reviewer_both.get(f"{api}&tag=pip&model=transformer"))  # no transformer answer
    assert linq in ids_of(reviewer_both.get(f"{api}&tag=python&model=transformer"))  # added to its only answer


def ids_of(response) -> list[int]:
    return [item["id"] for item in response.get_json()["items"]]


def test_history_shows_which_entries_are_reviewed(reviewer):
    first = asked_id(ask(reviewer, "django python pip"))
    asked_id(ask(reviewer, "java spring maven"))
    review(reviewer, first, {"python": "accept"})
    page = reviewer.get("/history/").get_data(as_text=True)
    entries = re.findall(r'<li class="card entry">(.*?)</li>', page, re.S)
    assert 'badge-ok">reviewed' in entries[1] and "not reviewed" in entries[0]


# -- review ---------------------------------------------------------------------------


def test_review_accepts_rejects_and_adds_tags(reviewer_both, app_both):
    prediction_id = asked_id(ask(reviewer_both, "spring hashmap with a join"))
    page = reviewer_both.get(f"/history/{prediction_id}").get_data(as_text=True)
    tags = re.findall(r'name="verdict:([^"]+)" value="accept"', page)
    assert "java" in tags and "sql" in tags
    verdicts = {tag: "accept" if tag == "java" else "reject" for tag in tags}
    response = review(reviewer_both, prediction_id, verdicts, added="Hibernate, jpa java")
    assert response.status_code == 303
    page = reviewer_both.get(response.headers["Location"]).get_data(as_text=True)
    assert "Review saved" in page and 'badge-ok">reviewed' in page
    right = re.search(r'<p class="right-tags">(.*?)</p>', page, re.S).group(1)
    assert re.findall(r'class="tag"[^>]*>([^<]+)<', right) == ["java", "hibernate", "jpa"]
    assert re.search(r'name="verdict:sql" value="reject" checked', page)
    assert 'value="hibernate jpa"' in page
    api = reviewer_both.get(f"/api/v1/predictions/{prediction_id}").get_json()["review"]
    assert api["accepted"] == ["java"] and api["added"] == ["hibernate", "jpa"] and "sql" in api["rejected"]

    # A second review replaces the first.
    assert review(reviewer_both, prediction_id, {tag: "accept" for tag in tags}).status_code == 303
    api = reviewer_both.get(f"/api/v1/predictions/{prediction_id}").get_json()["review"]
    assert api["added"] == [] and api["rejected"] == [] and sorted(api["accepted"]) == sorted(tags)
    assert count_rows(app_both, ReviewedTag) == len(tags)


def test_review_needs_a_verdict_for_every_tag_and_valid_added_tags(reviewer_both, app_both):
    prediction_id = asked_id(ask(reviewer_both, "spring hashmap with a join"))
    response = review(reviewer_both, prediction_id, {"java": "accept"})
    assert response.status_code == 422
    assert "Accept or reject every suggested tag; undecided:" in response.get_data(as_text=True)
    tags = re.findall(
        r'name="verdict:([^"]+)" value="accept"', reviewer_both.get(f"/history/{prediction_id}").get_data(as_text=True)
    )
    response = review(reviewer_both, prediction_id, {tag: "accept" for tag in tags}, added="good-tag <bad>")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "is not a valid tag" in page and "&lt;bad&gt;" in page and "<bad>" not in page
    assert re.search(r'name="verdict:java" value="accept" checked', page)  # choices kept
    added = re.search(r'<input[^>]*id="added"[^>]*>', page).group(0)  # the field is marked, the alert named
    assert 'aria-invalid="true"' in added and 'aria-describedby="review-errors ' in added
    assert re.search(r'id="review-errors" role="alert" tabindex="-1"', page)
    assert count_rows(app_both, ReviewedTag) == 0
    assert reviewer_both.post(f"/history/{prediction_id}/review", data={"verdict:java": "accept"}).status_code == 400
    assert reviewer_both.post("/history/999/review", data={"csrf_token": csrf_token(reviewer_both)}).status_code == 404


def test_a_tag_marked_wrong_and_also_added_is_refused_saying_so(reviewer_both, app_both):
    prediction_id = asked_id(ask(reviewer_both, "spring hashmap with a join", model="baseline"))
    page = reviewer_both.get(f"/history/{prediction_id}").get_data(as_text=True)
    tags = re.findall(r'name="verdict:([^"]+)" value="accept"', page)
    verdicts = {tags[0]: "reject"} | {tag: "accept" for tag in tags[1:]}
    response = review(reviewer_both, prediction_id, verdicts, added=f"hibernate {tags[0]}")
    assert response.status_code == 422
    assert f"{tags[0]} is marked wrong and also added: choose one." in response.get_data(as_text=True)
    api = reviewer_both.post(
        f"/api/v1/predictions/{prediction_id}/feedback",
        json={"accepted": tags[1:], "rejected": [tags[0]], "added": [tags[0]]},
    )
    assert api.status_code == 422 and "marked wrong and also added" in api.get_data(as_text=True)
    assert count_rows(app_both, ReviewedTag) == 0


# -- export ---------------------------------------------------------------------------


def test_export_is_readable_by_python_m_ml(reviewer, tmp_path, trained_models):
    titles = {
        "pip virtualenv in python": ({"python": "accept"}, "pandas"),
        'spring maven java, "quoted"\nand a new line': ({"java": "accept"}, ""),
        "linq wpf c# thing": ({}, "c#"),  # every other suggestion rejected, the right tag added
    }
    for title, (accepted, added) in titles.items():
        prediction_id = asked_id(
            ask(reviewer, title, body='body with <p>html</p>, commas and "quotes"', model="baseline")
        )
        page = reviewer.get(f"/history/{prediction_id}").get_data(as_text=True)
        tags = re.findall(r'name="verdict:([^"]+)" value="accept"', page)
        # An added tag that was suggested is marked right: marked wrong, it would contradict.
        verdicts = {tag: "accept" if tag in added.split() else accepted.get(tag, "reject") for tag in tags}
        assert review(reviewer, prediction_id, verdicts, added=added).status_code == 303
    asked_id(ask(reviewer, "unreviewed sql join question", model="baseline"))
    nothing_right = asked_id(ask(reviewer, "reviewed with nothing right", model="baseline"))
    tags = re.findall(
        r'name="verdict:([^"]+)" value="accept"', reviewer.get(f"/history/{nothing_right}").get_data(as_text=True)
    )
    review(reviewer, nothing_right, {tag: "reject" for tag in tags})

    assert "Export 3 reviewed questions:" in reviewer.get("/history/").get_data(as_text=True)
    csv_response = reviewer.get("/history/export.csv")
    assert csv_response.status_code == 200 and csv_response.mimetype == "text/csv"
    assert "attachment" in csv_response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(csv_response.get_data(as_text=True))))
    assert [row["tags"] for row in rows] == ["python pandas", "java", "c#"]
    jsonl = reviewer.get("/history/export.jsonl").get_data(as_text=True)
    records = [json.loads(line) for line in jsonl.splitlines()]
    assert [record["tags"] for record in records] == [["python", "pandas"], ["java"], ["c#"]]

    (tmp_path / "export.csv").write_bytes(csv_response.data)
    (tmp_path / "export.jsonl").write_text(jsonl, encoding="utf-8")
    for name in ("export.csv", "export.jsonl"):
        questions = list(read_questions(tmp_path / name))
        assert [question.tags for question in questions] == [("python", "pandas"), ("java",), ("c#",)]
        assert questions[1].title == 'spring maven java, "quoted" and a new line'
    status = ml_main(
        [
            "--quiet",
            "eval",
            "--model",
            "baseline",
            "--models-dir",
            str(trained_models / "models"),
            "--input",
            str(tmp_path / "export.jsonl"),
            "--metrics-file",
            str(tmp_path / "metrics.json"),
        ]
    )
    assert status == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n_samples"] == 3


def test_empty_export_has_only_the_header(reviewer):
    assert reviewer.get("/history/export.csv").get_data(as_text=True).strip() == "id,title,body,tags"
    assert reviewer.get("/history/export.jsonl").get_data(as_text=True) == ""


# -- stats and models -----------------------------------------------------------------


def test_stats_empty_state(client):
    page = client.get("/stats").get_data(as_text=True)
    assert "No questions yet" in page and "Ask a question" in page


def test_stats_count_agreement_and_precision(reviewer_both):
    # The fake transformer says java+sql for the first, python+sql for the second.
    first = asked_id(ask(reviewer_both, "spring hashmap arraylist jvm"))
    second = asked_id(ask(reviewer_both, "django pip virtualenv pandas dataframe"))
    asked_id(ask(reviewer_both, "maven java", model="baseline"))
    for prediction_id, right in ((first, {"java"}), (second, {"python"})):
        data = reviewer_both.get(f"/api/v1/predictions/{prediction_id}").get_json()
        tags = {tag["tag"] for answer in data["answers"].values() for tag in answer["tags"]}
        review(reviewer_both, prediction_id, {tag: "accept" if tag in right else "reject" for tag in tags})
    data = [reviewer_both.get(f"/api/v1/predictions/{i}").get_json() for i in (first, second)]
    transformer_tags = sum(len(item["answers"]["transformer"]["tags"]) for item in data)
    baseline_tags = sum(len(item["answers"]["baseline"]["tags"]) for item in data)
    baseline_right = sum(item["answers"]["baseline"]["tags"][0]["tag"] in ("java", "python") for item in data)

    page = reviewer_both.get("/stats").get_data(as_text=True)
    assert re.search(r'id="stat-questions">3<', page) and re.search(r'id="stat-reviewed">2<', page)
    transformer_row = re.search(r'<tr id="stat-transformer"[^>]*>(.*?)</tr>', page, re.S).group(1)
    assert (
        f"{100 * 2 / transformer_tags:.1f}%" in transformer_row
        and f"2 of {transformer_tags} tags, 2 questions" in transformer_row
    )
    baseline_row = re.search(r'<tr id="stat-baseline"[^>]*>(.*?)</tr>', page, re.S).group(1)
    assert f"{baseline_right} of {baseline_tags} tags" in baseline_row
    assert '"Answers">3</td>' in baseline_row and '"Answers">2</td>' in transformer_row  # answers per model
    # Agreement reads at a glance: a grid of models, one cell per pair, not a sentence each.
    grid = re.search(r'<table[^>]*id="agreement-grid".*?</table>', page, re.S).group(0)
    assert re.findall(r'<th scope="col"[^>]*>([^<]+)</th>', grid)[0] == "Transformer"  # each pair once
    assert re.findall(r'<th scope="row"[^>]*>([^<]+)</th>', grid)[0] == "Baseline"
    cell = re.search(r'<td id="agreement-baseline-transformer"[^>]*>(.*?)</td>', grid, re.S).group(1)
    assert "same best tag" in cell and "2 questions" in cell and "%" in cell


def test_models_page_shows_labels_metrics_and_unavailability(client, app_both):
    page = client.get("/models").get_data(as_text=True)
    assert "TF-IDF" in page and "baseline-" in page and "micro-F1" in page
    tags = client.get("/models/baseline/tags").get_data(as_text=True)
    for tag in ("c#", "java", "javascript", "python", "sql"):
        assert f'<span class="tag">{tag}</span>' in tags
    assert "not available" in page and "holds no artifact" in page
    page = app_both.test_client().get("/models").get_data(as_text=True)
    assert "transformer-fake-1" in page and "0.9123" in page and "0.8765" in page
    assert "2026-01-02 03:04 UTC" in page


def test_models_are_described_in_plain_words_before_the_jargon(client, app):
    ask(client, "python django question", model="baseline")
    page = client.get("/models").get_data(as_text=True)
    card = re.search(r'<section class="card model-card" id="model-baseline".*?</section>', page, re.S).group(0)
    words = re.search(r'<div class="plain-words".*?</div>', card, re.S).group(0)
    assert "It knows 5 tags." in words and "counting only the 5 tags it knows, its first tag was right 100%" in words
    assert "(its one answer)" in words and "micro" not in words.lower()
    assert "most accurate" not in card  # its figures count only its own tags: no fair comparison
    assert card.index("plain-words") < card.index('<details class="technical">') < card.index("micro-F1")
    assert "Training data" in card and "tiny.csv" in card


def test_every_models_headline_comes_from_the_same_held_out_questions():
    """The baseline's figures on its own 100-tag test stood above the ensemble's figures on
    every real tag; its score on the open test questions is the one compared."""
    from types import SimpleNamespace

    from webapp.ask.model_pages import best_at, measured

    def model(metrics):
        return SimpleNamespace(labels=["python"] * 3, metadata={"metrics": metrics})

    every_tag = {"all": {"n_samples": 4593, "precision_at_1": 0.61, "micro_precision": 0.5, "micro_recall": 0.3}}
    own = {"n_samples": 5049, "precision_at_1": 0.83, "micro_precision": 0.8, "micro_recall": 0.6, "micro_f1": 0.7}
    baseline = measured(model({"test": own, "open_test": every_tag | {"gold_in_vocabulary": 0.4}}), (None, 0))
    assert (baseline.first_right, baseline.questions, baseline.every_tag) == (0.61, 4593, True)
    assert baseline.in_vocabulary == 0.4
    ensemble = measured(
        model({"test": {"all": every_tag["all"] | {"precision_at_1": 0.77, "micro_f1": 0.53}}}), (None, 0)
    )
    baseline.f1 = 0.45
    assert best_at({"baseline": baseline, "ensemble": ensemble})["ensemble"] == ["most accurate"]
    alone = measured(model({"test": own}), (None, 0))  # no open score: its own, said to be its own
    assert (alone.first_right, alone.every_tag) == (0.83, False)


def tag_cells(page: str) -> list[str]:
    return re.findall(r'<th scope="row"><span class="tag">([^<]*)</span></th>', page)


def test_a_models_tags_can_be_searched_sorted_and_paged_without_javascript(client, monkeypatch):
    from webapp.ask import model_pages

    every = tag_cells(client.get("/models/baseline/tags").get_data(as_text=True))
    assert sorted(every) == ["c#", "java", "javascript", "python", "sql"]
    page = client.get("/models/baseline/tags?q=JAVA").get_data(as_text=True)
    assert tag_cells(page) == [tag for tag in every if "java" in tag] and "2 tags contain" in page
    assert tag_cells(client.get("/models/baseline/tags?sort=tag").get_data(as_text=True)) == sorted(every)
    assert tag_cells(client.get("/models/baseline/tags?sort=-tag").get_data(as_text=True)) == sorted(every)[::-1]
    by_f1 = client.get("/models/baseline/tags?sort=-f1").get_data(as_text=True)
    assert 'aria-sort="descending"' in by_f1 and "sort=f1" in by_f1  # the header links to the other direction
    monkeypatch.setattr(model_pages, "PAGE_SIZE", 2)
    pages = [
        tag_cells(client.get(f"/models/baseline/tags?sort=tag&page={n}").get_data(as_text=True)) for n in (1, 2, 3)
    ]
    assert sum(pages, []) == sorted(every) and [len(rows) for rows in pages] == [2, 2, 1]


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/models/gpt/tags", 404, "no model called"),
        ("/models/transformer/tags", 503, "holds no artifact"),
        ("/models/baseline/tags?sort=colour", 422, "Sort by one of"),
        ("/models/baseline/tags?page=0", 422, "whole number from 1"),
        ("/models/baseline/tags?page=x", 422, "whole number from 1"),
        ("/models/baseline/tags?page=9", 422, "page(s) of tags here"),
        ("/models/baseline/tags?q=" + "a" * 65, 422, "at most 64 characters"),
    ],
)
def test_bad_tag_table_requests_get_a_clear_4xx(client, url, status, message):
    response = client.get(url)
    assert response.status_code == status and message in response.get_data(as_text=True)


def test_the_tag_filter_finds_questions_stored_under_the_tags_older_names(reviewer_both):
    """Answers stored before a rename keep the name they were given (tsql, now t-sql): the
    filter finds them under either name, each question once, with a model and a cursor too."""
    from webapp.core.extensions import db

    app = reviewer_both.application
    older = asked_id(ask(reviewer_both, "spring maven java hashmap", model="baseline"))
    newer = asked_id(ask(reviewer_both, "pip virtualenv python django", model="baseline"))
    untouched = asked_id(ask(reviewer_both, "linq lambda in c# asp.net", model="baseline"))
    with app.app_context():  # as an older version of the site stored them
        for prediction_id, names in ((older, ["tsql"]), (newer, ["tsql", "t-sql"])):
            answer = db.session.get(Question, prediction_id).answers[0]
            answer.tags = [SuggestedTag(rank=rank, tag=name, score=0.9) for rank, name in enumerate(names)]
        db.session.commit()
    assert app.test_cli_runner().invoke(args=["stats", "rebuild"]).exit_code == 0

    def ids(query):
        page = reviewer_both.get("/history/" + query).get_data(as_text=True)
        return [int(number) for number in re.findall(r"<span>#(\d+)</span>", page)]

    for name in ("t-sql", "tsql", "transact-sql", "TSQL"):
        assert ids(f"?tag={name}") == [newer, older], name
    assert ids("?tag=t-sql&model=baseline") == [newer, older]
    assert ids("?tag=t-sql&model=transformer") == []
    assert ids(f"?tag=tsql&before={newer}") == [older]
    assert ids(f"?tag=tsql&after={older}") == [newer]
    assert ids("?tag=tsql&q=hashmap") == [older]
    assert "2 questions" in reviewer_both.get("/history/?tag=tsql").get_data(as_text=True)
    listing = reviewer_both.get("/api/v1/predictions?tag=transact-sql&per_page=1").get_json()
    assert [item["id"] for item in listing["items"]] == [newer] and listing["total"] == 2
    assert untouched not in ids("?tag=tsql")
