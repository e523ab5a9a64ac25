"""Issue 11: hostile or broken input gets a clean 4xx (JSON under /api/, a page elsewhere),
never a 500, and leaves what is stored exactly as it was."""

import csv
import io
import json
import time

import pytest

from ml.registry import load_predictor
from tests.helpers.support import api_suggest, ask, count_rows, csrf_token, make_app, reviewer_client
from webapp import create_app
from webapp.core import config as settings
from webapp.core.guards import MAX_ROW_ID
from webapp.core.ratelimits import RepeatRefusals
from webapp.core.tables import BatchJob, ModelAnswer, Question, ReviewedTag

TABLES = (Question, ModelAnswer, ReviewedTag)


def rows(app) -> tuple[int, ...]:
    return tuple(count_rows(app, table) for table in TABLES)


@pytest.fixture
def site(app):
    """The site with one reviewed question in it, and the whole of it as the API shows it;
    the client is a reviewer's."""
    client = reviewer_client(app)
    # Exceptions become responses, as in production: a 500 must show up as one.
    app.config["PROPAGATE_EXCEPTIONS"] = False
    created = api_suggest(client, {"title": "How do I use pip in a virtualenv with django?"}).get_json()
    tags = [tag["tag"] for tag in created["answers"]["baseline"]["tags"]]
    reviewed = client.post(f"/api/v1/predictions/{created['id']}/feedback", json={"accepted": tags[:1]})
    assert reviewed.status_code == 200
    return client, app, reviewed.get_json()


def assert_untouched(client, app, existing, before):
    assert rows(app) == before
    assert client.get(existing["url"]).get_json() == existing


def assert_json_error(response, status, words):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    data = response.get_json()
    assert data["status"] == status and words in json.dumps(data), data
    # An RFC 9457 problem.
    assert response.mimetype == "application/problem+json" and data["type"] == "about:blank"
    assert data["title"] and data["detail"] and data["instance"].startswith("/")


def assert_error_page(response, status, words):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    page = response.get_data(as_text=True)
    assert response.mimetype == "text/html" and 'class="site-header"' in page
    assert words in page and "Traceback" not in page


@pytest.mark.parametrize("big", [2**31, 2**63, 10**30])
def test_ids_no_column_can_hold_are_404(site, big):
    """Past 2**31 an id is still a valid 64-bit key (missing here); from 2**63 on no key column
    can hold it, and the route itself refuses it before the database sees it."""
    client, app, existing = site
    before = rows(app)
    valid = big <= MAX_ROW_ID
    page_words = f"no question #{big}" if valid else "nothing at this address"
    api_words = f"no prediction {big}" if valid else "nothing at this address"
    assert_error_page(client.get(f"/history/{big}"), 404, page_words)
    assert_json_error(client.get(f"/api/v1/predictions/{big}"), 404, api_words)
    assert_json_error(client.post(f"/api/v1/predictions/{big}/feedback", json={"accepted": []}), 404, api_words)
    token = csrf_token(client, existing["page"])
    assert client.post(f"/history/{big}/review", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/history/{big}/run/baseline", data={"csrf_token": token}).status_code == 404
    assert_untouched(client, app, existing, before)


@pytest.mark.parametrize("page", ["100001", str(2**63 - 1), "9" * 40])
def test_huge_page_numbers_are_past_the_end_on_the_page_and_422_in_the_api(site, page):
    client, app, existing = site
    response = client.get(f"/history/?page={page}")  # as kindly as ?page=50 past the end
    assert response.status_code == 200 and "This page is past the end" in response.get_data(as_text=True)
    response = client.get(f"/api/v1/predictions?page={page}")
    assert_json_error(response, 422, "from 1 to 100,000")
    assert response.get_json()["fields"] == {"page": "page must be a whole number from 1 to 100,000."}
    assert client.get("/api/v1/predictions?page=100000").get_json()["items"] == []


def test_json_nested_100000_deep_is_400(site):
    client, app, existing = site
    before = rows(app)
    deep = '{"title": "django pip question", "models": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = client.post("/api/v1/suggest", data=deep, content_type="application/json")
    assert_json_error(response, 400, "nested too deeply")
    deep_object = '{"accepted": ' + '{"a": ' * 100_000 + "1" + "}" * 100_001
    response = client.post(f"{existing['url']}/feedback", data=deep_object, content_type="application/json")
    assert_json_error(response, 400, "nested too deeply")
    assert_untouched(client, app, existing, before)


def chunked(client, url, body: bytes, **kwargs):
    """A body sent with Transfer-Encoding: chunked, as gunicorn hands it over (no Content-Length,
    the stream terminated by the server). Each from its own address: a few 2 MB bodies from one
    client would spend its budget of question text (429) before the size cap is reached."""
    chunked.clients += 1
    return client.post(
        url,
        input_stream=io.BytesIO(body),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True, "REMOTE_ADDR": f"10.1.0.{chunked.clients}"},
        **kwargs,
    )


chunked.clients = 0


def test_a_chunked_upload_over_the_cap_is_413_and_stores_nothing(site):
    client, app, existing = site
    before = rows(app)
    cap = app.config["MAX_CONTENT_LENGTH"]
    # Valid JSON once cut at the cap: the old code stored its first 2 MiB and answered 201.
    body = json.dumps({"title": "django pip question", "body": "x" * (cap + 10_000)}).encode()
    cut = body[:cap].rsplit(b"x", 1)[0] + b'x"}'
    assert json.loads(cut)
    padded = cut + b" " * (cap + 1000 - len(cut))
    for payload in (body, padded):
        response = chunked(client, "/api/v1/suggest", payload, content_type="application/json")
        assert_json_error(response, 413, "larger than the 2.0 MB")
    form = b"title=django+pip+question&body=" + b"x" * cap
    assert_error_page(chunked(client, "/", form, content_type="application/x-www-form-urlencoded"), 413, "2.0 MB")
    assert_untouched(client, app, existing, before)
    # A chunked upload within the cap is read whole, as before.
    small = chunked(client, "/api/v1/suggest", b'{"title": "django pip question"}', content_type="application/json")
    assert small.status_code == 201 and rows(app)[0] == before[0] + 1


def test_a_chunked_batch_upload_over_its_cap_is_413_naming_the_batch_cap(trained_models, tmp_path):
    cap = 3 * 1024 * 1024  # above the site's 2 MB: a batch file has its own cap
    app, client = limited_site(trained_models, tmp_path, BATCH_MAX_BYTES=cap, TEXT_LIMIT="100000000 per minute")
    rows_before = count_rows(app, BatchJob)
    body = b"title\n" + b"django pip question number one\n" * (cap // 30 + 100)
    response = chunked(client, "/api/v1/batches", body, content_type="text/csv")
    assert_json_error(response, 413, "larger than the 3 MB a batch file can have")
    assert "2.0 MB" not in response.get_data(as_text=True)
    assert count_rows(app, BatchJob) == rows_before
    # Within the batch cap (and over the site's), a chunked file is read whole.
    within = b"title\n" + (b"django pip question " * 15 + b"\n") * 7300  # 2.1 MB in 7,300 questions
    assert chunked(client, "/api/v1/batches", within, content_type="text/csv").status_code == 202


def test_a_form_with_too_many_parts_is_413_saying_so(site):
    client, app, existing = site
    before = rows(app)
    token = csrf_token(client)
    fields = {"csrf_token": token, "title": "django pip question"}
    fields.update({f"field{n}": (io.BytesIO(b"x"), f"{n}.txt") for n in range(1001)})
    response = client.post("/", data=fields, content_type="multipart/form-data")
    assert_error_page(response, 413, "Too many form fields")
    assert "MB" not in response.get_data(as_text=True)
    response = client.post(
        "/api/v1/suggest", data={f"field{n}": "x" for n in range(1001)}, content_type="multipart/form-data"
    )
    assert_json_error(response, 413, "Too many form fields")
    assert_untouched(client, app, existing, before)


def limited_site(trained_models, tmp_path, **config):
    app = make_app(trained_models / "models", tmp_path / "limited.sqlite3", **config)
    return app, app.test_client()


def assert_retry_after(response):
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_writes_are_limited_per_client_with_a_clear_429(trained_models, tmp_path):
    app, _ = limited_site(trained_models, tmp_path, WRITE_LIMIT="3 per minute")
    client = reviewer_client(app)  # logging in is limited on its own (test_auth.py)
    first = api_suggest(client, {"title": "django pip question"}).get_json()
    assert client.post(f"{first['url']}/feedback", json={"accepted": []}).status_code == 200
    assert ask(client, "spring hashmap in java", model="baseline").status_code == 303
    before = rows(app)

    response = api_suggest(client, {"title": "one more django question"})
    assert_json_error(response, 429, "at most 3 questions, reviews and other changes per minute")
    assert "Try again in" in response.get_json()["error"]
    assert_retry_after(response)
    response = ask(client, "one more java question", model="baseline")
    assert_error_page(response, 429, "Too many requests")
    assert_retry_after(response)
    token = csrf_token(client, first["page"])
    response = client.post(f"{first['page']}/review", data={"csrf_token": token, "added": "python"})
    assert_error_page(response, 429, "at most 3 questions")
    assert_json_error(client.post(f"{first['url']}/feedback", json={"accepted": []}), 429, "Too many requests")
    assert rows(app) == before
    assert client.get(first["url"]).get_json()["review"]["added"] == []
    # Reading is not limited, and another client has its own allowance.
    assert client.get("/history/").status_code == 200 and client.get(first["url"]).status_code == 200
    other = api_suggest(client, {"title": "django pip question"}, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other.status_code == 201


def test_big_batches_spend_their_text_budget_long_before_single_questions(trained_models, tmp_path):
    app, client = limited_site(trained_models, tmp_path, TEXT_LIMIT="40000 per minute")
    heavy = {"environ_base": {"REMOTE_ADDR": "10.0.0.1"}}
    light = {"environ_base": {"REMOTE_ADDR": "10.0.0.2"}}
    batch = {"questions": [{"title": f"django pip question {n}", "body": "pip " * 300} for n in range(32)]}
    assert api_suggest(client, batch, **heavy).status_code == 201
    before = rows(app)
    response = api_suggest(client, batch, **heavy)
    assert_json_error(response, 429, "Too much question text from your address")
    assert "40,000 bytes of questions per minute" in response.get_json()["error"]
    assert_retry_after(response)
    assert rows(app) == before
    # Twenty ordinary questions from another client all go through.
    for n in range(20):
        assert api_suggest(client, {"title": f"django pip question {n}"}, **light).status_code == 201


def test_a_client_that_keeps_going_after_a_429_gets_its_next_refusals_late(trained_models, tmp_path):
    app, client = limited_site(trained_models, tmp_path, WRITE_LIMIT="1 per minute", REPEAT_REFUSAL_DELAY_MS=400)
    assert api_suggest(client, {"title": "django pip question"}).status_code == 201
    before = rows(app)
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        response = api_suggest(client, {"title": "one more django question"})
        timings.append(time.perf_counter() - started)
        assert_json_error(response, 429, "at most 1 questions, reviews and other changes per minute")
        assert_retry_after(response)
    # The first refusal comes at once; the one that ignored its Retry-After waited.
    assert timings[0] < 0.4 <= timings[1]
    started = time.perf_counter()
    other = api_suggest(client, {"title": "django pip question"}, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other.status_code == 201 and time.perf_counter() - started < 0.4
    assert rows(app) == (before[0] + 1, before[1] + 1, before[2])


class FakeTime:
    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []

    def sleep(self, seconds):
        self.slept.append(seconds)


def test_only_a_repeated_refusal_in_the_same_window_waits_and_never_past_its_end():
    clock = FakeTime()
    repeats = RepeatRefusals(1.0, clock=lambda: clock.now, sleep=clock.sleep)
    assert repeats.refused("10.0.0.1", 1060.0) == 0.0
    assert repeats.refused("10.0.0.2", 1060.0) == 0.0  # another client's first
    assert repeats.refused("10.0.0.1", 1060.0) == 1.0
    clock.now = 1059.75
    assert repeats.refused("10.0.0.1", 1060.0) == 0.25
    clock.now = 1061.0  # a new window: its first refusal is at once again
    assert repeats.refused("10.0.0.1", 1121.0) == 0.0
    assert clock.slept == [1.0, 0.25]
    assert RepeatRefusals(0.0, sleep=clock.sleep).refused("10.0.0.1", time.time() + 60) == 0.0


def test_waiting_refusals_are_capped_so_they_never_hold_every_thread():
    clock = FakeTime()
    inside: list[float] = []
    repeats = RepeatRefusals(
        1.0, slots=1, clock=lambda: clock.now, sleep=lambda s: inside.append(repeats.refused("b", 1060.0))
    )
    repeats.refused("a", 1060.0)
    repeats.refused("b", 1060.0)
    # While a's refusal waits in the only slot, b's repeated one is answered at once.
    assert repeats.refused("a", 1060.0) == 1.0 and inside == [0.0]
    assert repeats.refused("b", 1060.0) == 1.0  # the slot is free again


def test_the_record_of_refused_clients_stays_bounded():
    clock = FakeTime()
    repeats = RepeatRefusals(1.0, clock=lambda: clock.now, sleep=clock.sleep, capacity=3)
    repeats.refused("kept", 2000.0)
    for n in range(10):
        repeats.refused(f"gone {n}", 1001.0)
        clock.now += 2  # each window over before the next client comes
    assert len(repeats._refused_until) <= 3
    assert repeats.refused("kept", 2000.0) == 1.0  # still in its window: remembered


def test_limits_can_be_switched_off(trained_models, tmp_path):
    app, client = limited_site(trained_models, tmp_path, RATELIMIT_ENABLED=False, WRITE_LIMIT="1 per minute")
    for n in range(3):
        assert api_suggest(client, {"title": f"django pip question {n}"}).status_code == 201


def test_a_malformed_limit_fails_at_start_up_naming_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("TAGSMITH_WRITE_LIMIT", "lots")
    with pytest.raises(settings.ConfigError, match="TAGSMITH_WRITE_LIMIT"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite3'}", "SECRET_KEY": "x"})


def test_a_forged_host_gets_400_when_trusted_hosts_are_set(trained_models, tmp_path, monkeypatch):
    monkeypatch.setenv("TAGSMITH_TRUSTED_HOSTS", "tagsmith.example, localhost")
    app, client = limited_site(trained_models, tmp_path)
    assert app.config["TRUSTED_HOSTS"] == ["tagsmith.example", "localhost"]
    assert client.get("/", headers={"Host": "tagsmith.example"}).status_code == 200
    before = rows(app)
    response = client.get("/history", headers={"Host": "evil.example"})  # was a 308 to http://evil.example/
    assert response.status_code == 400 and "Location" not in response.headers
    assert "does not answer to that host" in response.get_data(as_text=True)
    assert "evil" not in response.get_data(as_text=True)
    response = api_suggest(client, {"title": "django pip question"}, headers={"Host": "evil.example"})
    assert_json_error(response, 400, "does not answer to that host")
    assert "evil" not in response.get_data(as_text=True)
    assert rows(app) == before


def test_by_default_the_site_answers_only_the_hosts_make_run_and_render_serve(trained_models, tmp_path, monkeypatch):
    app, client = limited_site(trained_models, tmp_path)  # make run: 127.0.0.1, as localhost too
    for host in ("localhost", "127.0.0.1:8000", "localhost:8000"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200, host
    response = client.get("/history", headers={"Host": "evil.example"})
    assert response.status_code == 400 and "Location" not in response.headers
    assert "TAGSMITH_TRUSTED_HOSTS" in response.get_data(as_text=True)  # the operator learns how to allow it

    monkeypatch.setenv("RENDER_EXTERNAL_HOSTNAME", "tagsmith.onrender.com")  # Render sets it for every service
    app, client = limited_site(trained_models, tmp_path)
    assert client.get("/", headers={"Host": "tagsmith.onrender.com"}).status_code == 200
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400

    monkeypatch.setenv("TAGSMITH_TRUSTED_HOSTS", "*")  # any host, explicitly
    app, client = limited_site(trained_models, tmp_path)
    assert app.config["TRUSTED_HOSTS"] is None
    assert client.get("/", headers={"Host": "tagsmith.example"}).status_code == 200


def test_https_behind_a_proxy_gets_secure_cookies_and_hsts(trained_models, tmp_path, monkeypatch):
    monkeypatch.setenv("TAGSMITH_PROXIES", "1")
    app, client = limited_site(trained_models, tmp_path, WRITE_LIMIT="1 per minute")
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    # Plain HTTP (make run on a laptop) keeps a cookie it can send back.
    plain = app.test_client().get("/")
    assert "Secure" not in plain.headers["Set-Cookie"] and "Strict-Transport-Security" not in plain.headers
    # The proxy's X-Forwarded-For names the client whose writes are counted.
    for address in ("203.0.113.1", "203.0.113.2"):
        assert api_suggest(client, {"title": "django pip"}, headers={"X-Forwarded-For": address}).status_code == 201
    assert api_suggest(client, {"title": "django pip"}, headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 429


def test_without_a_proxy_forwarded_headers_are_not_believed(trained_models, tmp_path):
    app, client = limited_site(trained_models, tmp_path, WRITE_LIMIT="1 per minute")
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in response.headers["Set-Cookie"] and "Strict-Transport-Security" not in response.headers
    assert api_suggest(client, {"title": "django pip"}, headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 201
    # A made-up X-Forwarded-For does not buy a new allowance.
    assert api_suggest(client, {"title": "django pip"}, headers={"X-Forwarded-For": "203.0.113.2"}).status_code == 429


def test_no_absolute_path_or_exception_class_reaches_a_visitor(trained_models, tmp_path):
    secret = "/srv/secret-place/models/transformer/model.onnx"

    def loader(name, models_dir, options=None):
        if name == "transformer":
            raise OSError(2, "No such file or directory", secret)
        return load_predictor(name, models_dir)

    app = make_app(trained_models / "models", tmp_path / "db.sqlite3", MODEL_LOADER=loader)
    client = app.test_client()
    models = {model["name"]: model for model in client.get("/api/v1/models").get_json()["models"]}
    assert "model.onnx" in models["transformer"]["message"]
    # Missing artifacts are named by the models folder, as the README calls it.
    assert "(models/omikuji holds no artifact)" in models["omikuji"]["message"]
    shown = [
        json.dumps(models),
        client.get("/").get_data(as_text=True),
        client.get("/models").get_data(as_text=True),
        api_suggest(client, {"title": "django pip", "models": ["transformer", "omikuji"]}).get_data(as_text=True),
        json.dumps(api_suggest(client, {"title": "django pip", "models": "both"}).get_json()["unavailable"]),
    ]
    for text in shown:
        assert "/srv/secret-place" not in text and str(trained_models) not in text and str(tmp_path) not in text
        assert "OSError" not in text and "Traceback" not in text


def test_healthz_names_no_exception_class(client, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def broken(*args, **kwargs):
        raise OperationalError("UPDATE heartbeats", {}, Exception("unable to open /var/lib/tagsmith/site.sqlite3"))

    monkeypatch.setattr("webapp.api.routes.check_writable", broken)
    response = client.get("/healthz")
    assert response.status_code == 503 and response.get_json()["database"] == "error"
    assert "OperationalError" not in response.get_data(as_text=True) and "/var/lib" not in response.get_data(
        as_text=True
    )


FORMULAS = ['=HYPERLINK("http://evil.example")', "+1 django pip", "-2 django pip", "@SUM(1) django pip"]


def test_exports_have_one_charset_and_no_spreadsheet_formulas(site):
    client, app, existing = site
    for title in FORMULAS:
        created = api_suggest(client, {"title": title, "body": "\t=cmd|' /C calc'!A0"}).get_json()
        tags = [tag["tag"] for tag in created["answers"]["baseline"]["tags"]]
        client.post(f"{created['url']}/feedback", json={"accepted": tags[:1]})
    before = rows(app)
    response = client.get("/history/export.csv")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    lines = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [line["title"] for line in lines] == [existing["title"], *("'" + title for title in FORMULAS)]
    assert {line["body"] for line in lines[1:]} == {"'\t=cmd|' /C calc'!A0"}
    response = client.get("/history/export.jsonl")
    assert response.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"
    records = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [record["title"] for record in records] == [existing["title"], *FORMULAS]  # JSONL keeps the text
    assert_untouched(client, app, existing, before)


INVISIBLE_TITLES = ["\u200b\u200b\u200b\u200b", "\u200c \u200d \u2060", "\ufeff\u200b\ufeff", "\u2060\u3164\u200b"]


@pytest.mark.parametrize("title", INVISIBLE_TITLES)
def test_titles_made_of_invisible_characters_are_refused_like_empty_ones(site, title):
    client, app, existing = site
    before = rows(app)
    response = api_suggest(client, {"title": title})
    assert_json_error(response, 422, "only invisible characters")
    response = api_suggest(client, {"questions": [{"title": "django pip question"}, {"title": title}]})
    assert response.status_code == 422 and "invisible" in response.get_json()["fields"]["questions[1].title"]
    response = ask(client, title, model="baseline")
    assert response.status_code == 422 and "only invisible characters" in response.get_data(as_text=True)
    # Two letters padded with zero-width spaces are still too short.
    response = api_suggest(client, {"title": "ab\u200b\u200b\u200b"})
    assert "at least 3 characters (this one has 2)" in response.get_json()["fields"]["title"]
    assert_untouched(client, app, existing, before)


def test_bidi_overrides_in_shown_text_cannot_reorder_the_page(site):
    client, app, existing = site
    title = "django pip \u202eexe.txt\u2066 question"
    body = "pip \u202dinstall\u2067 django"
    created = api_suggest(client, {"title": title, "body": body}).get_json()
    assert created["title"] == title and created["body"] == body  # stored as typed
    for url in (created["page"], "/history/", "/"):
        page = client.get(url).get_data(as_text=True)
        assert page.count(title) >= 1
        assert page.count(title) == page.count(f"<bdi>{title}</bdi>"), url
    page = client.get(created["page"]).get_data(as_text=True)
    assert f"<pre><bdi>{body}</bdi></pre>" in page
    head = page.split("</title>")[0]
    assert "<title>django pip exe.txt question · tagsmith" in head and "\u202e" not in head
