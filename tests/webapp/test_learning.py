"""Live learning on the site: a saved review teaches the memory and the ensemble at once, in
the worker that saved it and, by catching up through the database, in every other worker;
each suggestion it causes names the reviewed questions behind it."""

import json
import re

import numpy as np
import pytest
from sqlalchemy import event

from ml.data.sources import Source, load_corpus
from ml.predictor import TrainOptions
from ml.registry import get_kind
from tests.helpers.support import csrf_token, make_app, make_questions, reviewer_client
from webapp.core.extensions import db

REVIEWED = ["zorblet widget tree rebuild", "zorblet widget tree rebuild is slow", "zorblet widget tree rebuild crash"]
SIMILAR = "zorblet widget tree rebuild twice"


@pytest.fixture(scope="module")
def learning_models(tmp_path_factory):
    """A tiny memory and lexical matcher, and an ensemble of the two, trained like the real ones."""
    folder = tmp_path_factory.mktemp("learning")
    data = folder / "open.jsonl"
    records = [{"title": title, "tags": tags} for title, tags in make_questions(500, seed=5)]
    data.write_text("".join(json.dumps(record) + "\n" for record in records))
    corpus = load_corpus((Source("open", str(data), "jsonl", "all", "hash"),), splits_dir=None)
    models = folder / "models"
    for name, params in (("memory", {}), ("lexical", {}), ("ensemble", {"members": "lexical,memory"})):
        options = TrainOptions(output=models / name, command=f"train {name}", params=params)
        get_kind(name).predictor_class().train(corpus, options)
    return models


def suggested(client, title: str) -> dict:
    response = client.post("/api/v1/suggest?explain=1", json={"title": title, "models": ["ensemble", "memory"]})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def tags(created: dict, model: str) -> list[str]:
    return [item["tag"] for item in created["answers"][model]["tags"]]


def review_through_the_api(client, title: str) -> int:
    created = suggested(client, title)
    response = client.post(
        f"/api/v1/predictions/{created['id']}/feedback", json={"accepted": [], "added": ["zorblet", "python"]}
    )
    assert response.status_code == 200, response.get_json()
    return created["id"]


def test_a_new_tag_from_reviews_is_suggested_at_once_here_and_after_catching_up_in_another_worker(
    learning_models, new_database
):
    database = new_database()
    first = reviewer_client(make_app(learning_models, database))  # a reviewer: logged in, with a token
    second = make_app(learning_models, database).test_client()  # another worker: its own memory
    before = suggested(second, SIMILAR)
    assert "zorblet" not in tags(before, "ensemble") + tags(before, "memory")

    reviewed = [review_through_the_api(first, title) for title in REVIEWED]
    for client in (first, second):  # the second worker learns it from the database
        created = suggested(client, SIMILAR)
        for model in ("memory", "ensemble"):
            assert "zorblet" in tags(created, model), (model, created["answers"][model])
            reasons = created["answers"][model]["reasons"]["zorblet"]
            assert {reason["question_id"] for reason in reasons} <= set(reviewed) and reasons
            assert all(reason["kind"] == "reviewed" and reason["title"] in REVIEWED for reason in reasons)
        page = client.get(f"/history/{created['id']}").get_data(as_text=True)
        linked = {int(found) for found in re.findall(r'href="/history/(\d+)"[^>]*>#\d+</a>', page)}
        assert linked and linked <= set(reviewed)
        assert "because of" in page


def test_a_review_saved_through_the_form_counts_and_replaces_the_earlier_one(learning_models, new_database):
    database = new_database()
    first = reviewer_client(make_app(learning_models, database))  # a reviewer: logged in, with a token
    ids = [review_through_the_api(first, title) for title in REVIEWED]
    second = make_app(learning_models, database).test_client()  # a worker started later replays them
    assert "zorblet" in tags(suggested(second, SIMILAR), "ensemble")
    # Reviewers change their minds on the page: zorblet was wrong after all, on every question.
    for question in ids:
        detail = first.get(f"/history/{question}").get_data(as_text=True)
        verdicts = {  # python, when suggested, is right: marked wrong and added, it would be refused
            f"verdict:{tag}": "accept" if tag == "python" else "reject"
            for tag in re.findall(r'name="verdict:([^"]+)"', detail)
        }
        form = {"csrf_token": csrf_token(first, f"/history/{question}"), "added": "python", **verdicts}
        response = first.post(f"/history/{question}/review", data=form)
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
    for client in (first, second):
        assert "zorblet" not in tags(suggested(client, SIMILAR), "memory")


def test_the_ensemble_grows_with_its_memory_and_passes_a_tag_only_the_memory_knows(learning_models):
    from ml.predictor import ServingOptions
    from ml.registry import load_predictor

    ensemble = load_predictor("ensemble", learning_models, ServingOptions(scope="one"))
    other = load_predictor("ensemble", learning_models, ServingOptions(scope="two"))
    memory = ensemble.members["memory"]
    assert other.members["memory"] is not memory  # each site learns only its own reviews
    assert other.members["lexical"] is ensemble.members["lexical"]  # read-only members are shared
    labels = list(ensemble.labels)
    for ref, title in enumerate(REVIEWED, 1):
        memory.add(title, ["zorblet"], ref=ref)
    best = ensemble.suggest([SIMILAR], top_k=3)[0]
    assert best[0].tag == "zorblet" and best[0].confident
    assert ensemble.labels[: len(labels)] == labels and ensemble.labels[-1] == "zorblet"  # columns only append
    # No other member knows zorblet: the combiner never met such a tag, the floor lets it through.
    tags, features = ensemble.candidates([SIMILAR])
    row = tags[0].index("zorblet")
    owner = np.zeros(len(features), dtype=np.int64)
    assert ensemble.floors(features, owner)[row] >= ensemble.thresholds[0]
    reasons = ensemble.reasons(SIMILAR, ["zorblet"])["zorblet"]
    assert {reason["question_id"] for reason in reasons} <= {1, 2, 3} and reasons[0]["kind"] == "reviewed"
    assert "zorblet" not in [s.tag for s in other.suggest([SIMILAR], top_k=3)[0]]


def test_a_known_tag_reviewers_keep_adding_gets_the_memorys_score_as_its_floor(learning_models):
    """The ensemble tells its memory how often it missed each tag on validation (saved with
    it); a tag the models knew how to find but that reviewers now keep adding is lifted
    to the memory's rescaled vote, as a tag no other member knows would be."""
    from ml.backends.memory.index import MIN_SHOWN
    from ml.predictor import ServingOptions
    from ml.registry import load_predictor

    ensemble = load_predictor("ensemble", learning_models, ServingOptions(scope="missed"))
    memory = ensemble.members["memory"]
    assert set(ensemble.validation_recall_) <= set(ensemble.labels) and memory.expected_miss["python"] < 0.3

    def python_floor() -> float:
        tags, features = ensemble.candidates([SIMILAR])
        owner = np.zeros(len(features), dtype=np.int64)
        return float(ensemble.floors(features, owner, tags[0])[tags[0].index("python")])

    for ref in range(1, MIN_SHOWN + 1):  # the reviewer saw neither tag and added both
        memory.add(f"{REVIEWED[ref % 3]} {ref}", ["zorblet", "python"], ref=ref, shown=["sql"])
        assert (python_floor() > 0) == (ref == MIN_SHOWN), ref
    assert memory.missed("python") == 1.0
    ensemble.replacements = False  # learning from verdicts off: no floor for a known tag
    assert python_floor() == 0


def test_a_tag_reviewers_keep_replacing_is_replaced_in_the_ensemble_through_the_site(learning_models, new_database):
    """Reviewers reject a tag the ensemble suggests and add another, question after question
    (a library renamed): from the MIN_SHOWN-th review on, the ensemble suggests the other one
    wherever it would have suggested the rejected one, even on a question unlike the reviewed
    ones, in this worker and in another that catches up through the database."""
    from ml.backends.memory.index import MIN_SHOWN

    database = new_database()
    first_app = make_app(learning_models, database)
    first, other = reviewer_client(first_app), reviewer_client(first_app, "grace")  # two reviewers agree
    second = make_app(learning_models, database).test_client()
    unlike = "best way to virtualenv pip"
    before = tags(suggested(second, unlike), "ensemble")
    assert "python" in before and "blorptastic" not in before
    for k in range(MIN_SHOWN):
        replace_python(first if k % 2 else other, f"django zq{k}x w{k}v")
    for client in (first, second):
        created = suggested(client, unlike)
        after = tags(created, "ensemble")
        assert "blorptastic" in after and "python" not in after, after
        because = [r for r in created["answers"]["ensemble"]["reasons"]["blorptastic"] if r["kind"] == "replaced"]
        assert because == [{"kind": "replaced", "text": "python", "weight": 1.0, "model": "memory"}]
        page = client.get(f"/history/{created['id']}").get_data(as_text=True)
        assert re.search(r"in place of <q><bdi>python</bdi></q> \(100% of reviews\)", page)


def replace_python(client, title: str) -> None:
    created = suggested(client, title)
    shown = set(tags(created, "ensemble")) | set(tags(created, "memory"))
    assert "python" in shown, shown
    right = {"blorptastic"} & shown  # suggested once learned: then accepted, never rejected and added
    verdict = {"accepted": sorted(right), "rejected": sorted(shown - right), "added": ["blorptastic"]}
    response = client.post(f"/api/v1/predictions/{created['id']}/feedback", json=verdict)
    assert response.status_code == 200, response.get_json()


def test_one_reviewer_alone_cannot_replace_a_tag_everywhere(learning_models, new_database):
    """The replacement reaches questions unlike the reviewed ones, so it needs two reviewers:
    one who rejects a tag again and again only changes the questions like theirs."""
    from ml.backends.memory.index import MIN_SHOWN

    database = new_database()
    mallory = reviewer_client(make_app(learning_models, database), "mallory")
    for k in range(MIN_SHOWN + 2):
        replace_python(mallory, f"django zq{k}x w{k}v")
    after = tags(suggested(mallory, "best way to virtualenv pip"), "ensemble")
    assert "python" in after and "blorptastic" not in after, after


def test_a_deleted_question_is_forgotten_by_every_worker_and_a_worker_started_later_never_learns_it(
    learning_models, new_database
):
    database = new_database()
    first = reviewer_client(make_app(learning_models, database))
    second = make_app(learning_models, database).test_client()  # another worker: its own memory
    reviewed = [review_through_the_api(first, title) for title in REVIEWED]
    assert "zorblet" in tags(suggested(second, SIMILAR), "memory")
    for question in reviewed:
        assert first.delete(f"/api/v1/predictions/{question}").status_code == 204
    for client in (first, second, make_app(learning_models, database).test_client()):
        created = suggested(client, SIMILAR)
        assert "zorblet" not in tags(created, "memory") + tags(created, "ensemble")
    # A new review after the deletions is learned as usual by the worker that saw them.
    review_through_the_api(first, REVIEWED[0])
    assert "zorblet" in tags(suggested(second, SIMILAR), "memory")


def test_a_worker_polls_the_reviews_only_after_a_review_or_a_deletion_changed_them(learning_models, new_database):
    database = new_database()
    first = reviewer_client(make_app(learning_models, database))
    second_app = make_app(learning_models, database)
    second = second_app.test_client()
    polls = []

    def note_poll(conn, cursor, statement, parameters, context, executemany):
        if "forgotten_questions" in statement or "predictions.reviewed_at >=" in statement:
            polls.append(statement)

    with second_app.app_context():
        event.listen(db.engine, "before_cursor_execute", note_poll)
    suggested(second, "a first question loads the models")
    reviewed = review_through_the_api(first, REVIEWED[0])
    suggested(second, SIMILAR)
    assert polls, "a review saved by another worker is looked for"

    polls.clear()
    for _ in range(3):  # questions asked and stored, nothing reviewed: nothing to look for
        suggested(first, SIMILAR)
        suggested(second, SIMILAR)
    assert polls == []

    assert first.delete(f"/api/v1/predictions/{reviewed}").status_code == 204
    suggested(second, SIMILAR)
    assert polls, "a reviewed question deleted by another worker is looked for"
    polls.clear()
    review_through_the_api(first, REVIEWED[1])  # its question comes from this worker's suggestion
    polls.clear()
    created = suggested(second, SIMILAR)
    assert polls and "zorblet" in tags(created, "memory")


def test_a_tag_the_memory_suggests_from_training_questions_names_their_titles_on_the_page(
    learning_models, new_database
):
    client = make_app(learning_models, new_database()).test_client()
    created = suggested(client, "how to django virtualenv pip")
    similar = [r for r in created["answers"]["memory"]["reasons"].get("python", []) if r["kind"] == "similar"]
    assert similar and all(reason["title"] for reason in similar)
    page = client.get(f"/history/{created['id']}").get_data(as_text=True)
    shown = re.findall(r'reason-similar">like <q><bdi>([^<]*)</bdi></q>', page)
    assert shown and all(shown) and shown[0] in {reason["title"] for reason in similar}


def test_a_made_up_tag_reviewed_once_is_suggested_for_the_next_question_that_names_it_in_every_worker(
    learning_models, new_database
):
    database = new_database()
    first = reviewer_client(make_app(learning_models, database))
    second = make_app(learning_models, database).test_client()
    question = "Snakeoil-kit timeouts"  # no word of it in the reviewed question: only its name tells
    assert "snakeoil-kit" not in tags(suggested(second, question), "ensemble")
    created = suggested(first, "django pip virtualenv")
    response = first.post(
        f"/api/v1/predictions/{created['id']}/feedback", json={"accepted": [], "added": ["snakeoil-kit"]}
    )
    assert response.status_code == 200, response.get_json()
    for client in (first, second):  # the other worker catches up before it answers
        answer = suggested(client, question)
        assert tags(answer, "ensemble")[0] == "snakeoil-kit", answer["answers"]["ensemble"]
        spelled = suggested(client, "snakeoil kit retries")  # with a space: the same name
        assert "snakeoil-kit" in tags(spelled, "ensemble")


def test_the_typing_preview_catches_up_with_reviews_saved_by_another_worker(learning_models, new_database):
    database = new_database()
    first = reviewer_client(make_app(learning_models, database))
    second = make_app(learning_models, database).test_client()

    def preview(client) -> list[str]:
        response = client.post("/api/v1/suggest/preview", json={"title": SIMILAR, "model": "ensemble"})
        assert response.status_code == 200, response.get_json()
        return [item["tag"] for item in response.get_json()["tags"]]

    assert "zorblet" not in preview(second)
    for title in REVIEWED:
        review_through_the_api(first, title)
    assert "zorblet" in preview(second)  # as asking would: the preview reads the same reviews


def test_one_question_gets_the_same_tags_from_the_form_the_api_the_preview_a_batch_and_the_cli(
    learning_models, new_database
):
    import subprocess
    import sys

    from webapp.batch import jobs as batches

    title = "zorblet widget tree rebuild"
    # Past the code's character budget the code says django; read as prose it would count.
    code = "widget.rebuild()\n" * 40 + "import django\nimport pip\n"
    body = f"I rebuild the tree:\n\n```\n{code}```\n\nWhy is it slow with python?"
    app = make_app(learning_models, new_database())
    client = app.test_client()
    form = {"csrf_token": csrf_token(client), "title": title, "body": body.replace("\n", "\r\n"), "model": "ensemble"}
    created = client.post("/", data=form)  # a browser sends the textarea's lines with CRLF
    assert created.status_code == 303
    question = client.get(created.headers["Location"].replace("/history/", "/api/v1/predictions/")).get_json()
    by_form = [item["tag"] for item in question["answers"]["ensemble"]["tags"]]
    api = client.post("/api/v1/suggest", json={"title": title, "body": body, "models": ["ensemble"]}).get_json()
    preview = client.post("/api/v1/suggest/preview", json={"title": title, "body": body, "model": "ensemble"})
    line = json.dumps({"title": title, "body": body}) + "\n"
    job = client.post("/api/v1/batches?filename=q.jsonl", data=line, content_type="application/x-ndjson")
    with app.app_context():
        batches.run_pending()
    result = client.get(client.get(job.headers["Location"]).get_json()["results"]).get_data(as_text=True)
    argv = [sys.executable, "-m", "ml", "suggest", "--model", "ensemble", "--models-dir", str(learning_models)]
    cli = subprocess.run([*argv, "--input", "-", "--output", "-"], input=line, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    ways = {
        "api": tags(api, "ensemble"),
        "preview": [item["tag"] for item in preview.get_json()["tags"]],
        "batch": [item["tag"] for item in json.loads(result)["tags"]],
        "cli": [item["tag"] for item in json.loads(cli.stdout)["tags"]],
    }
    assert by_form and all(found == by_form for found in ways.values()), (by_form, ways)


def test_a_reviewers_lessons_are_taken_back_by_forget_or_deactivation_in_every_worker_and_after_a_restart(
    learning_models, new_database
):
    database = new_database()
    first_app = make_app(learning_models, database)
    mallory = reviewer_client(first_app, "mallory")
    ada = reviewer_client(first_app, "ada")
    second = make_app(learning_models, database).test_client()  # another worker, running
    taught = [review_through_the_api(mallory, title) for title in REVIEWED]
    assert "zorblet" in tags(suggested(second, SIMILAR), "memory")

    lessons = first_app.test_cli_runner().invoke(args=["tagsmith", "lessons", "--reviewer", "mallory"])
    assert lessons.exit_code == 0, lessons.output
    assert all(f"#{question}" in lessons.output for question in taught) and "zorblet" in lessons.output

    result = first_app.test_cli_runner().invoke(args=["tagsmith", "forget", "--reviewer", "mallory"])
    assert result.exit_code == 0, result.output
    assert "3 reviewed questions" in result.output
    for client in (mallory, second, make_app(learning_models, database).test_client()):  # live, and a restart
        created = suggested(client, SIMILAR)
        assert "zorblet" not in tags(created, "memory") + tags(created, "ensemble")
    # Their reviews are kept as they were: only the learning is taken back.
    assert mallory.get(f"/api/v1/predictions/{taught[0]}").get_json()["review"]["added"] == ["zorblet", "python"]
    # A lesson given after the forgetting counts; another reviewer's lessons never stopped.
    review_through_the_api(mallory, REVIEWED[0])
    assert "zorblet" in tags(suggested(second, SIMILAR), "memory")

    # Deactivating takes back every lesson of theirs, and a reviewer made active again gives them back.
    asked = suggested(ada, "blorp gizmo frobnicate")
    ada.post(f"/api/v1/predictions/{asked['id']}/feedback", json={"accepted": [], "added": ["gizmo-lib"]})
    runner = first_app.test_cli_runner()
    assert runner.invoke(args=["reviewer", "deactivate", "mallory"]).exit_code == 0
    assert "zorblet" not in tags(suggested(second, SIMILAR), "memory")
    assert "gizmo-lib" in tags(suggested(second, "blorp gizmo frobnicate twice"), "memory")  # ada's stays
    assert runner.invoke(args=["reviewer", "activate", "mallory"]).exit_code == 0
    assert "zorblet" in tags(suggested(second, SIMILAR), "memory")


def test_forget_names_a_reviewer_that_exists(learning_models, new_database):
    app = make_app(learning_models, new_database())
    result = app.test_cli_runner().invoke(args=["tagsmith", "forget", "--reviewer", "nobody"])
    assert result.exit_code != 0 and "no reviewer called 'nobody'" in result.output
