"""Retraining with the site's reviews: ``python -m ml train --with-reviews``, versioned
model folders switched atomically, workers that reload between requests, the ``flask
tagsmith`` commands, and /stats per model version. Every database test runs on both."""

import json
import shutil
from pathlib import Path

import pytest

from ml.artifacts import KEEP_VERSIONS, METADATA_FILE, VERSIONS_DIR, publish_version, save_artifact, versioned_saves
from ml.cli import main
from ml.registry import load_predictor
from tests.helpers.support import api_suggest, make_app, reviewer_client
from tests.ml import test_open_models
from tests.ml.test_open_models import open_questions
from webapp.ask.serving import EXTENSION_KEY
from webapp.stats.figures import compute
from webapp.stats.versions import by_version, from_totals

open_models = test_open_models.open_models  # the session's omikuji, lexical and ensemble on a tiny corpus

# A word the tiny corpus never uses: only reviewed questions can teach a model what it means.
NEW_WORD = "zorblax"


def baseline_options(tiny_corpus, splits) -> list[str]:
    return ["--data", str(tiny_corpus), "--splits-dir", str(splits), "--min-df", "1", "--char-ngrams", "2-4"]


def ask_and_review(
    client, title: str, added: list[str], accepted: tuple[str, ...] = (), model: str = "baseline"
) -> dict:
    asked = api_suggest(client, {"title": title, "models": [model]})
    assert asked.status_code == 201, asked.get_json()
    question = asked.get_json()
    review = client.post(
        f"/api/v1/predictions/{question['id']}/feedback", json={"accepted": list(accepted), "added": added}
    )
    assert review.status_code == 200, review.get_json()
    return question


@pytest.fixture
def site(trained_models, new_database, tmp_path):
    """The site on a models folder of its own (retraining writes into it), each back-end."""
    models = tmp_path / "models"
    shutil.copytree(trained_models / "models" / "baseline", models / "baseline")
    app = make_app(models, new_database())
    app.extensions[EXTENSION_KEY].reload_check_s = 0.0  # check on every request, not once a second
    return app


def test_a_retrained_version_is_served_by_the_next_request_and_stored_with_its_version(site, tiny_corpus, tmp_path):
    client = reviewer_client(site)
    before = ask_and_review(client, f"{NEW_WORD} frobnicator keeps crashing", added=["sql"])
    version_a = before["answers"]["baseline"]["model_version"]
    for n in range(15):
        ask_and_review(client, f"{NEW_WORD} widget number {n} is slow", added=["sql"])
    serving = site.extensions[EXTENSION_KEY]
    in_flight = serving.get("baseline")  # what a request still running holds

    result = site.test_cli_runner().invoke(
        args=["tagsmith", "retrain", "--model", "baseline", "--quiet", *baseline_options(tiny_corpus, tmp_path / "s")]
    )
    assert result.exit_code == 0, result.output

    folder = tmp_path / "models" / "baseline"
    assert folder.is_symlink() and folder.resolve().parent == tmp_path / "models" / VERSIONS_DIR / "baseline"
    metadata = json.loads((folder / METADATA_FILE).read_text())
    version_b = metadata["model_version"]
    assert version_b != version_a
    assert metadata["dataset"]["selection"]["reviews"]["added"] == 16
    assert "--with-reviews " in metadata["rebuild_command"]
    # The first version stays, for a rollback.
    assert any(path.name == version_a for path in (tmp_path / "models" / VERSIONS_DIR / "baseline").iterdir())

    after = api_suggest(client, {"title": f"{NEW_WORD} gadget", "models": ["baseline"]}).get_json()
    assert after["answers"]["baseline"]["model_version"] == version_b
    assert [tag["tag"] for tag in after["answers"]["baseline"]["tags"]][0] == "sql"
    stored = client.get(f"/api/v1/predictions/{before['id']}").get_json()
    assert stored["answers"]["baseline"]["model_version"] == version_a
    assert in_flight.version == version_a  # the old model object is untouched, not mutated


def test_a_half_written_or_broken_version_is_never_served(site, tmp_path):
    client = reviewer_client(site)
    version_a = api_suggest(client, {"title": "pandas dataframe", "models": ["baseline"]}).get_json()
    version_a = version_a["answers"]["baseline"]["model_version"]
    folder = tmp_path / "models" / "baseline"

    # A save still writing: its staging folder sits among the versions, unpublished.
    staging = tmp_path / "models" / VERSIONS_DIR / "baseline" / "baseline.tmpabc"
    staging.mkdir(parents=True)
    (staging / "weights.npz").write_bytes(b"half")
    # A version whose files do not match their checksums, published anyway.
    broken = tmp_path / "models" / VERSIONS_DIR / "baseline" / "broken"
    shutil.copytree(folder, broken)
    (broken / "weights.npz").write_bytes(b"not the weights")
    publish_version(folder, broken)
    assert folder.resolve() == broken

    answer = api_suggest(client, {"title": "pandas dataframe", "models": ["baseline"]})
    assert answer.status_code == 201
    assert answer.get_json()["answers"]["baseline"]["model_version"] == version_a


def test_old_flat_folders_still_load_and_become_the_first_version(trained_models, tmp_path):
    original = trained_models / "models" / "baseline"
    models = tmp_path / "models"
    shutil.copytree(original, models / "baseline")
    flat = load_predictor("baseline", models)
    metadata = json.loads((original / METADATA_FILE).read_text())
    writers = {name: lambda path, name=name: shutil.copy(original / name, path) for name in metadata["files"]}
    served = set()
    for _ in range(KEEP_VERSIONS + 2):
        with versioned_saves():
            save_artifact(models / "baseline", writers, dict(metadata))
        assert (models / "baseline").is_symlink()
        served.add(load_predictor("baseline", models).version)
    # The same data on the same day: still a new name for each version, for the stored answers.
    assert len(served | {flat.version}) == KEEP_VERSIONS + 3
    versions = sorted(path.name for path in (models / VERSIONS_DIR / "baseline").iterdir())
    assert len(versions) == KEEP_VERSIONS + 1  # the current one and KEEP_VERSIONS before it
    current = (models / "baseline").resolve()
    # A plain save into a versioned folder publishes a version too, never writes through the link.
    save_artifact(models / "baseline", writers, dict(metadata))
    assert (models / "baseline").resolve() != current and (current / METADATA_FILE).is_file()
    assert load_predictor("baseline", models).version.startswith(flat.version)


def test_memory_and_omikuji_learn_reviewed_questions_on_both_databases(trained_models, new_database, tmp_path):
    app = make_app(trained_models / "models", new_database())
    client = reviewer_client(app)
    for n in range(4):
        ask_and_review(client, f"{NEW_WORD} frobnicator number {n} crashes on start", added=[NEW_WORD])
    data = tmp_path / "open.jsonl"
    data.write_text("".join(json.dumps(record) + "\n" for record in open_questions(300)))
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    common = ["--data", str(data), "--splits-dir", str(tmp_path / "splits"), "--with-reviews", url]
    for name, extra in (("memory", []), ("omikuji", ["--omikuji-min-count", "2"])):
        output = tmp_path / "models" / name
        assert main(["--quiet", "train", "--model", name, "--output", str(output), *common, *extra]) == 0
        model = load_predictor(name, tmp_path / "models")
        parts = model.metadata["corpus"]["parts"]
        assert parts["reviews"] == {"train": 4, "validation": 0, "test": 0}
        assert output.is_symlink()
        best = model.predict([f"{NEW_WORD} frobnicator crashes"], top_k=1)[0]
        assert best[0][0] == NEW_WORD, (name, best)
    # The held-out split of a model trained with reviews is rebuilt from its recorded sources.
    assert (
        main(["--quiet", "eval", "--model", "omikuji", "--models-dir", str(tmp_path / "models"), "--split", "test"])
        == 0
    )


def test_retraining_a_member_rebuilds_the_ensemble_and_the_site_switches(open_models, new_database, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(open_models, models)
    app = make_app(models, new_database())
    app.extensions[EXTENSION_KEY].reload_check_s = 0.0
    client = reviewer_client(app)
    old = ask_and_review(client, f"{NEW_WORD} frobnicator crashes", added=[NEW_WORD], model="ensemble")
    for n in range(3):
        ask_and_review(client, f"{NEW_WORD} frobnicator number {n} crashes", added=[NEW_WORD], model="omikuji")
    options = ["--data", str(open_models.parent / "open.jsonl"), "--splits-dir", str(tmp_path / "s")]
    result = app.test_cli_runner().invoke(
        args=["tagsmith", "retrain", "--model", "omikuji", "--quiet", *options, "--omikuji-min-count", "2"]
    )
    assert result.exit_code == 0, result.output
    ensemble = json.loads((models / "ensemble" / METADATA_FILE).read_text())
    omikuji = json.loads((models / "omikuji" / METADATA_FILE).read_text())
    assert ensemble["member_versions"]["omikuji"] == omikuji["model_version"]
    assert ensemble["model_version"] != old["answers"]["ensemble"]["model_version"]
    after = api_suggest(client, {"title": f"{NEW_WORD} frobnicator is slow", "models": ["ensemble", "omikuji"]})
    answers = after.get_json()["answers"]
    assert answers["ensemble"]["model_version"] == ensemble["model_version"]
    assert answers["omikuji"]["tags"][0]["tag"] == NEW_WORD


def test_with_reviews_explains_a_bad_database(tmp_path, capsys, trained_models, tiny_corpus):
    argv = ["train", "--model", "baseline", "--output", str(tmp_path / "m"), "--quiet"]
    argv += ["--data", str(tiny_corpus), "--splits-dir", str(tmp_path / "s")]
    assert main([*argv, "--with-reviews", "not a url"]) == 2
    assert "database URL" in capsys.readouterr().err
    assert main([*argv, "--with-reviews", f"sqlite:///{tmp_path}/missing.sqlite3"]) == 2
    assert "cannot read the reviewed questions" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_with_reviews_refuses_a_database_without_reviews(app, tmp_path, capsys, tiny_corpus):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    argv = ["train", "--model", "baseline", "--output", str(tmp_path / "m"), "--with-reviews", url]
    assert main([*argv, "--data", str(tiny_corpus), "--splits-dir", str(tmp_path / "s")]) == 2
    assert "holds no reviewed question" in capsys.readouterr().err


def test_init_db_creates_an_empty_database_and_export_writes_the_reviews(trained_models, new_database, tmp_path):
    app = make_app(trained_models / "models", new_database(empty=True))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["tagsmith", "init-db"])
    assert result.exit_code == 0, result.output
    assert "is at revision" in result.output
    client = reviewer_client(app)
    ask_and_review(client, "pandas dataframe with pip", added=["python"])
    api_suggest(client, {"title": "not reviewed", "models": ["baseline"]})
    for kind in ("csv", "jsonl"):
        output = tmp_path / f"out.{kind}"
        result = runner.invoke(args=["tagsmith", "export", "--format", kind, "-o", str(output)])
        assert result.exit_code == 0, result.output
        assert "wrote 1 reviewed question to" in result.output
    assert json.loads((tmp_path / "out.jsonl").read_text())["tags"] == ["python"]
    assert (tmp_path / "out.csv").read_text().splitlines()[1].endswith(",pandas dataframe with pip,,python")
    result = runner.invoke(args=["tagsmith", "export", "--format", "xml", "-o", str(tmp_path / "x")])
    assert result.exit_code == 2 and "'xml' is not one of" in result.output


def test_stats_show_precision_and_recall_per_model_version(app):
    client = reviewer_client(app)
    first = ask_and_review(client, "pandas dataframe with pip", added=["python"])
    first_tags = [tag["tag"] for tag in first["answers"]["baseline"]["tags"]]
    question = api_suggest(client, {"title": "select join index", "models": ["baseline"]}).get_json()
    suggested = [tag["tag"] for tag in question["answers"]["baseline"]["tags"]]
    client.post(f"/api/v1/predictions/{question['id']}/feedback", json={"accepted": suggested[:1], "added": []})
    with app.app_context():
        rows = by_version("day")
        totals = compute().models["baseline"]  # the running totals, counted another way
        # What /stats shows: the same figures from the running totals, by week of review.
        shown = [(r.model, r.model_version, r.reviewed, r.judged, r.correct, r.missed) for r in from_totals(compute())]
        counted = [(r.model, r.model_version, r.reviewed, r.judged, r.correct, r.missed) for r in rows]
        assert shown == counted
    assert (totals.reviewed, totals.judged, totals.correct, totals.missed) == tuple(
        sum(getattr(row, field) for row in rows) for field in ("reviewed", "judged", "correct", "missed")
    )
    assert len(rows) == 1
    row = rows[0]
    assert (row.model, row.reviewed) == ("baseline", 2)
    assert row.model_version == question["answers"]["baseline"]["model_version"]
    # Added tags a model did suggest count as accepted; every other suggestion is rejected.
    found_python = "python" in first_tags
    assert (row.judged, row.correct) == (len(first_tags) + len(suggested), 1 + found_python)
    assert row.missed == (0 if found_python else 1)
    page = client.get("/stats").get_data(as_text=True)
    assert 'id="stats-versions"' in page and row.model_version in page
    listed = client.get("/stats/versions.json?period=week").get_json()
    assert listed["rows"][0]["reviewed"] == 2 and listed["rows"][0]["precision"] == row.precision
    assert client.get("/stats/versions.json?period=year").status_code == 400


def test_the_recorded_command_hides_the_database_password():
    from ml.cli import _recorded_argv

    argv = ["train", "--model", "omikuji", "--with-reviews", "postgresql://site:s3cret@db:5432/tagsmith"]
    recorded = _recorded_argv([*argv, "--with-reviews=postgres://site:s3cret@db/tagsmith"])
    assert not any("s3cret" in arg for arg in recorded)
    assert recorded[4] == "postgresql://site:***@db:5432/tagsmith"


def test_a_retrain_learns_nothing_from_a_forgotten_or_deactivated_reviewer(trained_models, new_database):
    from ml.data.reviews import reviewed_questions

    app = make_app(trained_models / "models", new_database())
    mallory, ada = reviewer_client(app, "mallory"), reviewer_client(app, "ada")
    for n in range(2):
        ask_and_review(mallory, f"{NEW_WORD} frobnicator number {n} crashes", added=[NEW_WORD])
    ask_and_review(ada, "flask route returns 404", added=["flask"])
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    runner = app.test_cli_runner()

    def titles() -> list[str]:
        return sorted(question.title for question in reviewed_questions(url))

    assert len(titles()) == 3
    assert runner.invoke(args=["tagsmith", "forget", "--reviewer", "mallory"]).exit_code == 0
    assert titles() == ["flask route returns 404"]
    ask_and_review(mallory, f"{NEW_WORD} frobnicator number 9 crashes", added=[NEW_WORD])  # after: it counts
    assert len(titles()) == 2
    assert runner.invoke(args=["reviewer", "deactivate", "mallory"]).exit_code == 0
    assert titles() == ["flask route returns 404"]


def test_a_second_retrain_of_the_same_models_folder_is_refused_at_once(site):
    from ml.artifacts import training_lock

    models = Path(site.config["MODELS_DIR"])
    with training_lock(models / "baseline"):  # a retrain already running
        before = sorted(path.name for path in models.rglob("*"))
        result = site.test_cli_runner().invoke(args=["tagsmith", "retrain", "--model", "baseline", "--quiet"])
    assert result.exit_code == 2, result.output
    assert "another training is writing to" in result.output and "Traceback" not in result.output
    assert sorted(path.name for path in models.rglob("*")) == before
