"""The ask page's suggestions while typing, each tag's reasons, the example questions and
the review form's defaults and error marks (the browser half is in test_site_browser.py)."""

import re

import numpy as np
import pytest

from ml.registry import load_predictor
from tests.helpers.support import (
    TINY_TAGS,
    FakeTransformer,
    api_suggest,
    ask,
    asked_id,
    count_rows,
    csrf_token,
    make_app,
)
from webapp import create_app
from webapp.core import config as settings
from webapp.core.tables import Question

PREVIEW = "/api/v1/suggest/preview"


def test_previews_suggest_while_typing_and_store_nothing(client_both, app_both):
    partial = client_both.post(PREVIEW, json={"title": "dja"})  # shorter than a title may be
    assert partial.status_code == 200 and partial.get_json()["stored"] is False
    typed = client_both.post(PREVIEW, json={"title": "how to install django with pip", "top_k": 2}).get_json()
    assert typed["model"] == "baseline"  # one model per keystroke: the site's default, else the first that answers
    assert typed["tags"][0]["tag"] == "python" and typed["tags"][0]["confident"] and len(typed["tags"]) <= 2
    other = client_both.post(PREVIEW, json={"title": "a", "body": "uses spring", "model": "transformer"}).get_json()
    assert other["model"] == "transformer" and other["tags"][0] == {"tag": "java", "score": 0.9, "confident": True}
    assert client_both.post(PREVIEW, json={"title": "  ", "body": ""}).get_json()["tags"] == []
    assert count_rows(app_both, Question.__table__) == 0


def test_previews_refuse_bad_input_with_a_clear_422(client_both):
    cases = [
        ({"title": "x" * 301}, "title", "at most 300 characters"),
        ({"title": 5}, "title", "must be text"),
        ({"title": "django", "model": "nope"}, "models", "unknown model 'nope'"),
        ({"title": "django", "top_k": 0}, "top_k", "between 1 and 20"),
        ({"title": "django", "colour": "red"}, "colour", "unknown field"),
    ]
    for payload, field, message in cases:
        response = client_both.post(PREVIEW, json=payload)
        assert response.status_code == 422, payload
        assert message in response.get_json()["fields"][field]
    response = client_both.post(PREVIEW, data="title=django")
    assert response.status_code == 415


def test_previews_have_their_own_limit_and_spend_none_of_the_writes(trained_models, new_database):
    app = make_app(trained_models / "models", new_database(), WRITE_LIMIT="2 per minute", PREVIEW_LIMIT="5 per minute")
    client = app.test_client()
    for _ in range(5):
        assert client.post(PREVIEW, json={"title": "django pip"}).status_code == 200
    refused = client.post(PREVIEW, json={"title": "django pip"})
    assert refused.status_code == 429 and "at most 5 per minute" in refused.get_json()["error"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Five keystrokes spent nothing of the two writes a minute.
    assert api_suggest(client, {"title": "django pip question"}).status_code == 201
    assert api_suggest(client, {"title": "django pip question"}).status_code == 201


def test_the_linear_model_names_the_words_that_weighed_most(trained_models):
    baseline = load_predictor("baseline", trained_models / "models")
    reasons = baseline.reasons("error when using django with a join", ["python", "sql", "c#", "nonsense"])
    python_words = [reason["text"] for reason in reasons["python"]]
    assert "django" in python_words and "join" in [reason["text"] for reason in reasons["sql"]]
    assert all(reason["kind"] == "words" and reason["weight"] > 0 for reason in reasons["python"])
    weights = [reason["weight"] for reason in reasons["python"]]
    assert weights == sorted(weights, reverse=True) and len(weights) <= 3
    assert "nonsense" not in reasons


def test_the_api_returns_reasons_when_asked(client_both):
    plain = api_suggest(client_both, {"title": "error when using django with a join", "models": "both"})
    assert "reasons" not in plain.get_json()["answers"]["baseline"]
    explained = client_both.post(
        "/api/v1/suggest?explain=1", json={"title": "error when using django with a join", "models": "both"}
    ).get_json()
    baseline = explained["answers"]["baseline"]
    assert "django" in [reason["text"] for reason in baseline["reasons"]["python"]]
    assert explained["answers"]["transformer"]["reasons"] == {}  # a model that cannot say why says nothing
    again = client_both.get(f"{explained['url']}?explain=true").get_json()
    assert again["answers"]["baseline"]["reasons"] == baseline["reasons"]


def test_the_result_page_shows_reasons_and_keeps_ask_current(client_both):
    created = asked_id(ask(client_both, "error when using django with a join", model="baseline"))
    page = client_both.get(f"/history/{created}?asked=1").get_data(as_text=True)
    assert re.search(r'<a href="/" aria-current="page">Ask</a>', page)
    assert re.search(r'<p class="reasons">.*?words <q><bdi>django</bdi></q>', page, re.S)
    later = client_both.get(f"/history/{created}").get_data(as_text=True)
    assert re.search(r'<a href="/history/" aria-current="page">History</a>', later)


def test_examples_fill_the_form_without_asking(client_both, app_both):
    page = client_both.get("/").get_data(as_text=True)
    links = re.findall(r'<a class="example" href="([^"]+)"', page)
    assert len(links) >= 3
    filled = client_both.get(links[0].replace("&amp;", "&")).get_data(as_text=True)
    assert 'value="How do I merge two dictionaries in a single expression in Python?"' in filled
    assert "Try an example" not in filled  # the form is no longer empty
    assert count_rows(app_both, Question.__table__) == 0


def _verdict_rows(page: str) -> dict[str, str]:
    """tag -> the row's HTML."""
    rows = re.findall(r'(<li class="verdict-row.*?</li>)', page, re.S)
    return {re.search(r'class="tag"[^>]*>([^<]+)<', row).group(1): row for row in rows}


def test_every_tag_starts_undecided_and_undecided_rows_are_marked(reviewer_both):
    # The baseline knows java from hashmap and maven; the fake transformer, lacking its give-away
    # word, falls back to a guess (sql, below its threshold).
    created = asked_id(ask(reviewer_both, "hashmap in the jvm with maven", model="both"))
    page = reviewer_both.get(f"/history/{created}").get_data(as_text=True)
    rows = _verdict_rows(page)
    data = reviewer_both.get(f"/api/v1/predictions/{created}").get_json()
    confident = {tag["tag"] for answer in data["answers"].values() for tag in answer["tags"] if tag["confident"]}
    guesses = set(rows) - confident
    assert "java" in confident and "sql" in guesses
    for tag, row in rows.items():  # confident or a guess: the reviewer says, nothing is pre-filled
        assert "checked" not in row, tag

    token = csrf_token(reviewer_both, f"/history/{created}")
    form = {"csrf_token": token} | {f"verdict:{tag}": "accept" for tag in confident}
    failed = reviewer_both.post(f"/history/{created}/review", data=form)
    assert failed.status_code == 422
    marked = _verdict_rows(failed.get_data(as_text=True))
    for tag, row in marked.items():
        assert ("is-undecided" in row) == (tag in guesses), tag
        assert ('value="accept" checked' in row) == (tag in confident)  # what was chosen is kept
    assert data == reviewer_both.get(f"/api/v1/predictions/{created}").get_json()  # nothing stored

    form |= {f"verdict:{tag}": "reject" for tag in guesses} | {"added": "hibernate"}
    saved = reviewer_both.post(f"/history/{created}/review", data=form)
    assert saved.status_code == 303 and saved.headers["Location"].endswith("reviewed=1#review")
    page = reviewer_both.get(saved.headers["Location"]).get_data(as_text=True)
    review = page[page.index('id="review"') :]
    assert 'id="review-saved"' in review and "Review saved" in review  # beside the form, not at the top

    cards = reviewer_both.get("/history/").get_data(as_text=True)
    right = re.search(r'<p class="right-tags entry-right">(.*?)</p>', cards, re.S).group(1)
    for tag in confident | {"hibernate"}:
        assert f">{tag}</a>" in right
    for tag in guesses:
        assert f">{tag}</a>" not in right


def test_reviewed_questions_that_voted_are_linked(trained_models, tmp_path):
    from flask import render_template_string

    app = make_app(trained_models / "models", tmp_path / "site.sqlite3")
    reasons = [
        {"kind": "reviewed", "text": "a remembered question", "weight": 0.8, "question_id": 123, "title": "Why <b>?"},
        {"kind": "reviewed", "text": "seed", "weight": 0.5, "title": "a training question"},  # no page to link
        {"kind": "words", "text": "<script>", "weight": 1.5},
    ]
    with app.test_request_context():
        line = render_template_string('{% from "_macros.html" import reason_line %}{{ reason_line(r) }}', r=reasons)
    # The reviewed question's title shows beside its link, escaped.
    assert '<a href="/history/123">#123</a> <q><bdi>Why &lt;b&gt;?</bdi></q>' in line and "because of" in line
    assert "<q><bdi>a training question</bdi></q>" in line and "&lt;script&gt;" in line


def test_a_malformed_preview_limit_fails_at_start_up(monkeypatch, tmp_path):
    monkeypatch.setenv("TAGSMITH_PREVIEW_LIMIT", "as many as you like")
    with pytest.raises(settings.ConfigError, match="TAGSMITH_PREVIEW_LIMIT"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite3'}", "SECRET_KEY": "x"})


class OldNames(FakeTransformer):
    """A model that learned osx, which the catalogue now calls macos, and says why."""

    def __init__(self):
        super().__init__()
        self.labels = ["osx", *TINY_TAGS]
        self.thresholds = np.full(len(self.labels), 0.5)
        self.metadata = {**self.metadata, "labels": list(self.labels)}

    def predict_scores(self, texts):
        scores = np.full((len(texts), len(self.labels)), 0.05)
        scores[:, 0] = [0.9 if "homebrew" in text.lower() else 0.05 for text in texts]
        return scores

    def reasons(self, text, tags):
        # As an ensemble would: one member explains osx, another macos.
        known = {
            "osx": {"kind": "words", "text": "homebrew", "weight": 0.7},
            "macos": {"kind": "phrase", "text": "mac"},
        }
        return {tag: [known[tag]] for tag in tags if tag in known}


def test_a_tag_shown_under_its_new_name_keeps_the_models_reasons(trained_models, new_database):
    """The model says osx; the site shows macos, with the reasons the model gave for osx."""
    app = make_app(trained_models / "models", new_database(), transformer=OldNames())
    client = app.test_client()
    question = {"title": "homebrew install fails after an upgrade", "models": ["transformer"]}
    explained = client.post("/api/v1/suggest?explain=1", json=question).get_json()
    answer = explained["answers"]["transformer"]
    assert answer["tags"][0]["tag"] == "macos"
    assert answer["reasons"] == {
        "macos": [{"kind": "phrase", "text": "mac"}, {"kind": "words", "text": "homebrew", "weight": 0.7}]
    }
    page = client.get(explained["url"].replace("/api/v1/predictions/", "/history/")).get_data(as_text=True)
    assert re.search(r'<p class="reasons">.*?words <q><bdi>homebrew</bdi></q>', page, re.S)
