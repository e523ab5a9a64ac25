"""Batch files: upload through the site and the API, the background job, the results."""

import csv
import html
import io
import json
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from ml.errors import ArtifactError
from ml.registry import load_predictor
from tests.helpers.support import count_rows, csrf_token, make_app, make_questions
from webapp.ask.serving import EXTENSION_KEY
from webapp.batch import jobs as batches
from webapp.core.extensions import db
from webapp.core.tables import DONE, RUNNING, BatchItem, BatchJob, ModelAnswer, Question

QUESTIONS = [title for title, _ in make_questions(10, seed=3)]


def csv_file(titles=QUESTIONS, extra=True) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["title", "body", "note"] if extra else ["title"])
    for number, title in enumerate(titles):
        writer.writerow([title, f"body {number}", f"=note {number}"] if extra else [title])
    return ("\ufeff" + buffer.getvalue()).encode()  # a spreadsheet's BOM


def jsonl_file(titles=QUESTIONS) -> bytes:
    lines = [json.dumps({"title": title, "body": "", "id": f"q{number}"}) for number, title in enumerate(titles)]
    return ("\n".join(lines) + "\n").encode()


def upload_page(client, data: bytes, filename: str):
    token = csrf_token(client, "/batch/")
    return client.post(
        "/batch/", data={"csrf_token": token, "file": (io.BytesIO(data), filename)}, content_type="multipart/form-data"
    )


def run_all(app) -> int:
    with app.app_context():
        return batches.run_pending()


def stored_tags(app, job_id: int) -> list[tuple[str, list[str]]]:
    """(title, tags) of each question the job stored, in file order."""
    with app.app_context():
        items = db.session.execute(
            select(BatchItem.prediction_id).where(BatchItem.job_id == job_id).order_by(BatchItem.position)
        ).scalars()
        result = []
        for prediction_id in items:
            question = db.session.get(Question, prediction_id)
            assert question.source == "batch"
            answer = question.answer("baseline")
            result.append((question.title, answer.tag_names()))
        return result


def test_a_csv_uploaded_on_the_site_is_tagged_in_the_background_and_downloaded(app):
    client = app.test_client()
    response = upload_page(client, csv_file(), "questions.csv")
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    job_page = response.headers["Location"]
    page = client.get(job_page).get_data(as_text=True)
    assert "queued" in page and "0 of 10" in page and "Download" not in page
    assert client.get(job_page + "/results").status_code == 409  # not finished yet

    assert run_all(app) == 1
    page = client.get(job_page).get_data(as_text=True)
    assert "done" in page and "10 of 10" in page and "Download the CSV with tags" in page
    download = client.get(job_page + "/results")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert 'filename="questions-tagged.csv"' in download.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert rows[0] == ["title", "body", "note", "tags", "scores", "guess"]
    job_id = int(job_page.rstrip("/").rsplit("/", 1)[1])
    stored = stored_tags(app, job_id)
    assert [row[0] for row in rows[1:]] == QUESTIONS == [title for title, _ in stored]
    for number, (row, (_, tags)) in enumerate(zip(rows[1:], stored, strict=True)):
        assert row[2] == f"'=note {number}"  # a formula made inert
        assert row[3].split() == tags and tags
        assert len(row[4].split()) == len(tags)
    assert count_rows(app, Question) == 10
    assert "batch file" in client.get("/history/").get_data(as_text=True)
    assert f"#{job_id}" in client.get("/batch/").get_data(as_text=True)


def test_a_jsonl_posted_to_the_api_reports_progress_and_returns_the_tags(app):
    client = app.test_client()
    response = client.post(
        "/api/v1/batches?filename=mine.jsonl", data=jsonl_file(), content_type="application/x-ndjson"
    )
    assert response.status_code == 202, response.get_json()
    location, created = response.headers["Location"], response.get_json()
    assert created["status"] == "queued" and created["total"] == 10 and f"key={created['key']}" in location
    assert client.get(f"/api/v1/batches/{created['id']}/results?key={created['key']}").status_code == 409

    run_all(app)
    status = client.get(location).get_json()
    assert (status["status"], status["done"], status["total"], status["percent"]) == ("done", 10, 10, 100.0)
    results = client.get(status["results"])
    assert results.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in results.get_data(as_text=True).splitlines()]
    stored = stored_tags(app, status["id"])
    assert [line["id"] for line in lines] == [f"q{number}" for number in range(10)]  # other keys kept
    for line, (title, tags) in zip(lines, stored, strict=True):
        assert line["title"] == title
        assert [item["tag"] for item in line["tags"]] == tags
        assert all(0 <= item["score"] <= 1 for item in line["tags"])


def test_the_api_takes_a_multipart_file_larger_than_the_request_cap(app):
    """The 2 MiB cap holds for every other request; a batch file has its own."""
    client = app.test_client()
    titles = QUESTIONS * 6
    body = "word " * 9_000  # 45,000 characters: 60 rows are ~2.7 MB
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["title", "body"])
    for title in titles:
        writer.writerow([title, body])
    data = buffer.getvalue().encode()
    assert len(data) > app.config["MAX_CONTENT_LENGTH"]
    assert client.post("/api/v1/suggest", data=data, content_type="application/json").status_code == 413
    response = client.post(
        "/api/v1/batches",
        data={"file": (io.BytesIO(data), "big.csv")},
        content_type="multipart/form-data",
        environ_base={"REMOTE_ADDR": "192.0.2.7"},  # another client: the 413 spent the first one's text budget
    )
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["total"] == 60


BAD_FILES = [
    (b"PK\x03\x04 a spreadsheet", "questions.csv", 415, "binary file"),
    (b"title\nhello world\n", "questions.xlsx", 415, "neither"),
    (b"title\nbad \xff\xfe bytes here\n", "questions.csv", 422, "line 2 has bytes that are not UTF-8"),
    (b"name,body\nhello world,x\n", "questions.csv", 422, "no title column"),
    (b"title\nhello world\nab\n\n\x7fcontrol\n", "questions.csv", 422, "line 3: The title needs at least 3"),
    (b"title,body\nhello world,x,too many\n", "questions.csv", 422, "line 2: 3 cells"),
    (b"", "questions.csv", 422, "empty"),
    (b"title\n", "questions.csv", 422, "no questions"),
    (b'{"title": "hello world"}\n{"title": \n[1]\n', "questions.jsonl", 422, "line 2: not JSON"),
    (b'{"body": "no title"}\n', "questions.jsonl", 422, "line 1: Enter a title"),
    (b"title\n" + b"hello world\n" * 4, "questions.csv", 413, "at most 3 questions"),
    # A header of a million empty columns padded every row to its width (issue 23).
    (b"title" + b"," * 900_000 + b"\nhello world\n", "questions.csv", 422, "at most 100 columns"),
    (b'{"title": "hello world", "n": 1' + b"1" * 5000 + b"}\n", "questions.jsonl", 422, "line 1: not JSON"),
    (b'{"title": "hello world", "x": "\\ud800"}\n', "questions.jsonl", 422, "line 1: not valid Unicode"),
    (b'{"title": "hello world", "x": NaN}\n', "questions.jsonl", 422, "line 1: not JSON"),
    (b'{"title": "hello world", "\\udfff": 1}\n', "questions.jsonl", 422, "line 1: not valid Unicode"),
    (
        json.dumps({"title": "hello world", **{f"k{n}": 0 for n in range(101)}}).encode() + b"\n",
        "questions.jsonl",
        422,
        "line 1: 102 fields; an object can have at most 100 fields",
    ),
]


@pytest.mark.parametrize(("data", "filename", "status", "words"), BAD_FILES)
def test_a_bad_file_is_refused_with_the_reason_and_nothing_is_stored(
    trained_models, new_database, data, filename, status, words
):
    app = make_app(trained_models / "models", new_database(), BATCH_MAX_ROWS=3)
    client = app.test_client()
    page = upload_page(client, data, filename)
    assert page.status_code == status
    assert words in page.get_data(as_text=True).replace("&#39;", "'")
    api = client.post(
        "/api/v1/batches", data={"file": (io.BytesIO(data), filename)}, content_type="multipart/form-data"
    )
    assert api.status_code == status
    answer = api.get_json()
    assert words in answer["error"] + " ".join((answer.get("fields") or {}).values())
    for table in (BatchJob, BatchItem, Question):
        assert count_rows(app, table) == 0


def test_the_added_columns_never_clash_with_the_file_s_own():
    from webapp.batch.files import added_names

    assert added_names(["title"]) == ("tags", "scores", "guess")
    assert added_names(["title", "Tags"]) == ("tagsmith_tags", "tagsmith_scores", "tagsmith_guess")
    assert added_names({"title": 1, "guess": 1, "tagsmith_scores": 1}) == (
        "tagsmith_tagsmith_tags",
        "tagsmith_tagsmith_scores",
        "tagsmith_tagsmith_guess",
    )


def test_short_rows_are_stored_as_sent_and_padded_only_in_the_results(app):
    header = ",".join(["title", *[f"c{n}" for n in range(99)]])
    data = (header + "\n" + "".join(f"{title}\n" for title in QUESTIONS)).encode()
    client = app.test_client()
    response = client.post("/api/v1/batches", data=data, content_type="text/csv")
    assert response.status_code == 202, response.get_json()
    with app.app_context():
        stored = sum(len(original) for original in db.session.scalars(select(BatchItem.original)))
    assert stored < len(data)  # what is kept is bounded by what was sent
    run_all(app)
    results = client.get(client.get(response.headers["Location"]).get_json()["results"]).get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(results)))
    assert all(len(row) == 103 for row in rows) and rows[1][0] == QUESTIONS[0] and rows[1][-3]


def test_the_api_refuses_other_types_and_files_over_the_size_cap(trained_models, new_database):
    app = make_app(trained_models / "models", new_database(), BATCH_MAX_BYTES=1000)
    client = app.test_client()
    plain = client.post("/api/v1/batches", data=b"title\nhello world\n", content_type="text/plain")
    assert plain.status_code == 415 and "text/csv" in plain.get_json()["error"]
    no_file = client.post("/api/v1/batches", data={"other": "x"}, content_type="multipart/form-data")
    assert no_file.status_code == 422
    big = client.post("/api/v1/batches", data=b"title\n" + b"hello world\n" * 100, content_type="text/csv")
    assert big.status_code == 413 and "split it" in big.get_json()["error"]
    assert upload_page(client, b"title\n" + b"hello world\n" * 100, "big.csv").status_code == 413
    assert count_rows(app, BatchJob) == 0


KEYS: dict[int, str] = {}  # each job's key, as the API gave it to the client that sent it


def submit_api(app, titles=QUESTIONS) -> int:
    response = app.test_client().post("/api/v1/batches", data=csv_file(titles), content_type="text/csv")
    assert response.status_code == 202, response.get_json()
    KEYS[response.get_json()["id"]] = response.get_json()["key"]
    return response.get_json()["id"]


def owner(app, job_id: int):
    """A client that holds the job's key, as the client that submitted it does."""
    client = app.test_client()
    client.environ_base["HTTP_X_BATCH_KEY"] = KEYS[job_id]
    return client


def test_a_job_whose_worker_died_is_resumed_from_where_it_stopped(trained_models, new_database):
    app = make_app(trained_models / "models", new_database(), BATCH_CHUNK=4, BATCH_STALE_S=60)
    job_id = submit_api(app)
    with app.app_context():
        assert batches.claim("dead-worker") == job_id
        assert batches.run_chunk(job_id, "dead-worker")  # 4 tagged, then the worker "dies"
        assert batches.claim("other") is None  # its heartbeat is fresh: still held
        db.session.execute(
            update(BatchJob).values(heartbeat_at=batches.now() - timedelta(seconds=61)).where(BatchJob.id == job_id)
        )
        db.session.commit()
        assert batches.run_pending("restarted") == 1
        # The dead worker's claim is gone: it stores nothing more.
        assert not batches.run_chunk(job_id, "dead-worker")
        job = db.session.get(BatchJob, job_id)
        assert (job.status, job.done, job.total, job.claimed_by) == (DONE, 10, 10, "restarted")
    assert count_rows(app, Question) == 10
    assert [title for title, _ in stored_tags(app, job_id)] == QUESTIONS


def test_a_runner_whose_chunk_failed_with_the_database_resumes_its_job_at_once(trained_models, new_database):
    """After a database outage the runner thread is back in its loop with the job still
    claimed by it and a fresh heartbeat: it takes its own job up again, not 60 s later."""
    app = make_app(trained_models / "models", new_database(), BATCH_CHUNK=4, BATCH_STALE_S=60)
    job_id = submit_api(app)
    with app.app_context():
        assert batches.claim("runner-a") == job_id
        assert batches.run_chunk(job_id, "runner-a")  # 4 tagged; the next chunk failed: the database was down
        assert batches.claim("other") is None  # another runner still waits for the heartbeat to go stale
        assert batches.run_pending("runner-a") == 1  # the same runner, once the database answers
        job = db.session.get(BatchJob, job_id)
        assert (job.status, job.done, job.claimed_by) == (DONE, 10, "runner-a")
    assert [title for title, _ in stored_tags(app, job_id)] == QUESTIONS


def test_two_runner_threads_never_tag_the_same_job(trained_models, new_database):
    app = make_app(trained_models / "models", new_database(), BATCH_CHUNK=3, BATCH_YIELD_PERCENT=0)
    jobs = [submit_api(app, QUESTIONS[: 4 + n]) for n in range(4)]
    claims: list[tuple[str, int]] = []
    barrier = threading.Barrier(4)

    def racer(name: str) -> None:
        with app.app_context():
            barrier.wait()
            while (job_id := batches.claim(name)) is not None:
                claims.append((name, job_id))
                batches.run_job(job_id, name)

    threads = [threading.Thread(target=racer, args=(f"runner-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(job_id for _, job_id in claims) == jobs  # each job claimed exactly once
    with app.app_context():
        assert all(job.status == DONE for job in db.session.scalars(select(BatchJob)))
        assert db.session.scalar(select(BatchItem.id).where(BatchItem.prediction_id.is_(None))) is None
    assert count_rows(app, Question) == sum(4 + n for n in range(4)) == count_rows(app, BatchItem)
    assert count_rows(app, ModelAnswer) == count_rows(app, Question)  # one model per batch question


def test_the_background_runner_finishes_a_job_on_its_own(trained_models, new_database):
    app = make_app(trained_models / "models", new_database(), BATCH_CHUNK=4)
    runner = batches.Runner(app, 1)
    app.extensions[batches.EXTENSION_KEY] = runner
    runner.start()
    try:
        job_id = submit_api(app)
        for _ in range(200):
            with app.app_context():
                status = db.session.get(BatchJob, job_id).status
            if status == DONE:
                break
            threading.Event().wait(0.05)
        assert status == DONE
    finally:
        runner.stop()
    assert count_rows(app, Question) == 10


def test_a_cancelled_job_stops_and_its_file_comes_back_without_tags(app):
    job_id = submit_api(app)
    client = owner(app, job_id)
    page = client.get(f"/batch/{job_id}").get_data(as_text=True)
    token = csrf_token(client, f"/batch/{job_id}")
    assert "Cancel" in page
    assert client.post(f"/batch/{job_id}/cancel", data={"csrf_token": token}).status_code == 303
    assert run_all(app) == 0
    status = client.get(f"/api/v1/batches/{job_id}").get_json()
    assert (status["status"], status["done"]) == ("cancelled", 0)
    rows = list(csv.reader(io.StringIO(client.get(status["results"]).get_data(as_text=True))))
    assert len(rows) == 11 and all(row[3] == "" for row in rows[1:])
    assert count_rows(app, Question) == 0


def test_a_running_job_is_not_claimed_twice(app):
    job_id = submit_api(app)
    with app.app_context():
        assert batches.claim("one") == job_id
        assert batches.claim("two") is None
        assert db.session.get(BatchJob, job_id).status == RUNNING


def test_a_model_that_fails_fails_the_job_with_the_reason_and_stores_nothing(trained_models, new_database):
    from tests.helpers.support import FakeTransformer

    app = make_app(
        trained_models / "models", new_database(), transformer=FakeTransformer(fail=True), BATCH_MODEL="transformer"
    )
    job_id = submit_api(app)
    run_all(app)
    status = owner(app, job_id).get(f"/api/v1/batches/{job_id}").get_json()
    assert (status["status"], status["done"], status["model"]) == ("failed", 0, "transformer")
    assert "transformer model failed" in status["errors"]
    assert count_rows(app, Question) == 0
    page = owner(app, job_id).get(f"/batch/{job_id}").get_data(as_text=True)
    assert "transformer model failed" in page


def test_a_stopping_worker_hands_its_job_back_and_another_finishes_it(trained_models, new_database):
    app = make_app(trained_models / "models", new_database(), BATCH_CHUNK=2, BATCH_YIELD_PERCENT=100_000)
    runner = batches.Runner(app, 1)
    runner.start()
    job_id = submit_api(app)
    runner.wake()
    try:
        for _ in range(400):
            with app.app_context():
                done = db.session.get(BatchJob, job_id).done
            if done:
                break
            threading.Event().wait(0.05)
    finally:
        runner.stop()  # a long pause after the first chunk: stop must not wait for it
    assert not any(thread.is_alive() for thread in runner.threads)
    with app.app_context():
        job = db.session.get(BatchJob, job_id)
        assert (job.status, job.claimed_by, job.done) == ("queued", None, 2)
        app.config["BATCH_YIELD_PERCENT"] = 0  # the next worker does not pause
        assert batches.run_pending("next-worker") == 1
        assert db.session.get(BatchJob, job_id).done == 10
    assert count_rows(app, Question) == 10


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}],
)
def test_a_cross_site_write_is_refused_whatever_its_content_type(app, headers):
    # A multipart or text/plain POST needs no preflight: a page elsewhere could send it.
    client = app.test_client()
    upload = {"file": (io.BytesIO(csv_file()), "q.csv")}
    response = client.post("/api/v1/batches", data=upload, content_type="multipart/form-data", headers=headers)
    assert response.status_code == 403 and "other site" in response.get_json()["error"]
    plain = client.post("/api/v1/suggest", data='{"title": "hello world"}', content_type="text/plain", headers=headers)
    assert plain.status_code == 403
    assert count_rows(app, BatchJob) == 0 and count_rows(app, Question) == 0
    same = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}  # the site's own page
    upload = {"file": (io.BytesIO(csv_file()), "q.csv")}
    assert (
        client.post("/api/v1/batches", data=upload, content_type="multipart/form-data", headers=same).status_code == 202
    )


def test_a_file_name_with_control_characters_is_stored_without_them(app):
    client = app.test_client()
    response = client.post("/api/v1/batches?filename=my%00que%1Bst.csv", data=csv_file(), content_type="text/csv")
    assert response.status_code == 202, response.get_json()
    assert client.get(response.headers["Location"]).get_json()["filename"] == "myquest.csv"


def test_a_job_belongs_to_whoever_submitted_it(app):
    """Issue 23: anyone could list every job with its file name, download any job's file and
    cancel another person's job."""
    mine, theirs = app.test_client(), app.test_client()  # two browsers
    page = upload_page(mine, csv_file(), "private-queue.csv")
    assert page.status_code == 303
    job_id = int(page.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    assert "private-queue.csv" in mine.get("/batch/").get_data(as_text=True)
    assert mine.get(f"/api/v1/batches/{job_id}").status_code == 200  # the page's progress requests
    assert "private-queue.csv" not in theirs.get("/batch/").get_data(as_text=True)
    for path in (f"/batch/{job_id}", f"/batch/{job_id}/results", f"/api/v1/batches/{job_id}"):
        assert theirs.get(path).status_code == 404, path
    token = csrf_token(theirs, "/batch/")
    assert theirs.post(f"/batch/{job_id}/cancel", data={"csrf_token": token}).status_code == 404
    assert theirs.get("/api/v1/batches").get_json()["items"] == []
    assert mine.get(f"/api/v1/batches/{job_id}").get_json()["status"] == "queued"  # not cancelled

    api = app.test_client()
    created = api.post("/api/v1/batches?filename=q.csv", data=csv_file(), content_type="text/csv").get_json()
    other = created["id"]
    assert api.get(f"/api/v1/batches/{other}").status_code == 404  # no key, no job
    assert api.get(f"/api/v1/batches/{other}?key=wrong").status_code == 404
    assert api.get(f"/api/v1/batches/{other}?key={created['key']}").status_code == 200
    keyed = api.get(f"/api/v1/batches/{other}", headers={"X-Batch-Key": created["key"]})
    assert keyed.status_code == 200 and keyed.get_json()["url"].endswith(f"?key={created['key']}")
    assert [item["id"] for item in api.get(f"/api/v1/batches?key={created['key']}").get_json()["items"]] == [other]
    assert mine.get(f"/batch/{other}").status_code == 404


def test_a_reviewer_s_jobs_are_theirs_wherever_they_sign_in(trained_models, new_database):
    from tests.helpers.support import add_reviewer, api_token, log_in

    app = make_app(trained_models / "models", new_database())
    add_reviewer(app, "ada")
    add_reviewer(app, "bob")
    with_token = app.test_client()
    with_token.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_token(app, 'ada')}"
    created = with_token.post("/api/v1/batches", data=csv_file(), content_type="text/csv").get_json()
    assert [item["id"] for item in with_token.get("/api/v1/batches").get_json()["items"]] == [created["id"]]
    browser = app.test_client()
    log_in(browser, "ada")
    assert browser.get(f"/batch/{created['id']}").status_code == 200  # her job, no key needed
    stranger = app.test_client()
    log_in(stranger, "bob")
    assert stranger.get(f"/batch/{created['id']}").status_code == 404


def test_a_default_model_that_cannot_load_makes_the_site_unready_and_its_batch_jobs_wait(trained_models, tmp_path):
    """A worker whose default model's artifact is broken (here, until ``broken`` is cleared:
    the fix changes nothing the worker can see in the folder) answers 503 on readiness, queues
    batch files for that model and does not run them with another; it loads the model again
    on its own and then serves it and runs the jobs."""
    broken = {"baseline": True}

    def loader(name, models_dir, options=None):
        if name == "baseline" and broken["baseline"]:
            raise ArtifactError("weights.npz is corrupt (checksum mismatch)")
        # Another model the worker does serve: the baseline's artifact under a second name.
        return load_predictor("baseline" if name == "lexical" else name, models_dir)

    app = make_app(trained_models / "models", tmp_path / "db.sqlite3", MODEL_LOADER=loader, DEFAULT_MODEL="baseline")
    app.extensions[EXTENSION_KEY].retry_load_s = 0.0  # retry on every request, not every few seconds
    client = app.test_client()
    ready = client.get("/healthz/ready")
    assert ready.status_code == 503 and ready.get_json()["models"]["baseline"] == "unavailable", ready.get_json()
    response = client.post("/api/v1/batches", data=csv_file(), content_type="text/csv")
    assert response.status_code == 202, response.get_json()
    status = response.headers["Location"]
    assert client.get(status).get_json()["model"] == "baseline"
    run_all(app)  # the job waits for its model: not failed, not run with another
    waiting = client.get(status).get_json()
    assert waiting["status"] == "queued" and waiting["done"] == 0, waiting

    broken["baseline"] = False  # the files are good again
    assert client.get("/healthz/ready").status_code == 200
    assert run_all(app) == 1
    done = client.get(status).get_json()
    assert done["status"] == "done" and done["model"] == "baseline", done


def test_a_batch_page_links_to_that_batchs_questions_only(app):
    first, second = submit_api(app, QUESTIONS[:3]), submit_api(app, QUESTIONS[3:5])
    run_all(app)
    client = owner(app, first)
    page = client.get(f"/batch/{first}").get_data(as_text=True)
    link = re.search(r'href="([^"]*)">See the questions in the history<', page).group(1)
    assert link == f"/history/?batch={first}"
    history = client.get(link).get_data(as_text=True)
    titles = re.findall(r'class="entry-title"[^>]*><bdi>([^<]+)<', history)
    assert sorted(html.unescape(title) for title in titles) == sorted(QUESTIONS[:3])
    assert f"batch #{first}" in history  # the filter says what it shows
    # Another's batch is not found, as its page is not.
    assert owner(app, second).get(f"/history/?batch={first}").status_code == 404


def test_a_guess_is_marked_as_one_in_the_results_as_on_the_site(trained_models, new_database):
    """A question no tag is confident for gets the model's best guess, shown as a guess on the
    site; the results said nothing of it."""
    from tests.helpers.support import FakeTransformer

    app = make_app(trained_models / "models", new_database(), transformer=FakeTransformer(), BATCH_MODEL="transformer")
    titles = ["spring hashmap in java", "it does not work at all"]  # the second: nothing confident
    csv_job = submit_api(app, titles)
    response = app.test_client().post("/api/v1/batches", data=jsonl_file(titles), content_type="application/x-ndjson")
    jsonl_job = response.get_json()["id"]
    KEYS[jsonl_job] = response.get_json()["key"]
    run_all(app)
    with app.app_context():
        confident = [
            all(tag.confident for tag in db.session.get(Question, prediction_id).answer("transformer").tags)
            for prediction_id in db.session.scalars(
                select(BatchItem.prediction_id).where(BatchItem.job_id == csv_job).order_by(BatchItem.position)
            )
        ]
    assert confident == [True, False]
    rows = list(
        csv.reader(io.StringIO(owner(app, csv_job).get(f"/api/v1/batches/{csv_job}/results").get_data(as_text=True)))
    )
    assert rows[0][-3:] == ["tags", "scores", "guess"]
    assert [row[-1] for row in rows[1:]] == ["", "yes"]
    lines = owner(app, jsonl_job).get(f"/api/v1/batches/{jsonl_job}/results").get_data(as_text=True).splitlines()
    flags = [[tag["confident"] for tag in json.loads(line)["tags"]] for line in lines]
    assert flags[0] and all(flags[0]) and flags[1] == [False]
