"""The model registry: a third model registered in one place shows up in the CLI, the site's
pages and forms, the API and the stats, with no other edit; serving loads no training code."""

import dataclasses
import json
import subprocess
import sys

import pytest
from markupsafe import escape

from ml import registry
from ml.cli import build_parser, main
from tests.helpers.support import ask, asked_id, make_app

STUB = registry.ModelKind(
    name="stub",
    label="Keyword stub",
    description="Finds each tag's give-away word; a stand-in for a third model kind.",
    predictor="tests.helpers.support:StubModel",
    rebuild="python -m ml train --model stub",
    colour="#0f766e",
)


@pytest.fixture
def stub_kind():
    registry.register(STUB)
    yield STUB
    registry.unregister(STUB.name)


@pytest.fixture
def models_with_stub(trained_models, tmp_path, stub_kind):
    """A models/ folder with the tiny baseline and a stub artifact, no transformer."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "baseline").symlink_to(trained_models / "models" / "baseline")
    (folder / "stub").mkdir()
    labels = ["c#", "java", "javascript", "python", "sql"]
    (folder / "stub" / "metadata.json").write_text(
        json.dumps({"model": "stub", "model_version": "stub-1", "labels": labels})
    )
    return folder


def test_the_registry_knows_the_two_shipped_kinds():
    assert registry.model_names()[:2] == ("baseline", "transformer")
    for kind in registry.kinds():
        assert kind.predictor_class().name == kind.name and kind.label and kind.description and kind.rebuild


def test_unknown_model_names_are_refused():
    with pytest.raises(registry.UsageError, match="unknown model 'gpt'"):
        registry.get_kind("gpt")


def test_a_registered_kind_appears_in_the_cli(stub_kind, models_with_stub, tiny_corpus, tmp_path, capsys):
    parser = build_parser()
    assert parser.parse_args(["train", "--model", "stub"]).model == "stub"
    assert parser.parse_args(["suggest", "--model", "stub", "--input", "a", "--output", "b"]).model == "stub"
    output = tmp_path / "trained-stub"
    argv = ["--quiet", "train", "--model", "stub", "--data", str(tiny_corpus), "--splits-dir", str(tmp_path)]
    assert main([*argv, "--output", str(output)]) == 0
    assert "saved" in capsys.readouterr().out and json.loads((output / "metrics.json").read_text())["n_samples"] > 0
    questions = tmp_path / "in.jsonl"
    questions.write_text(json.dumps({"title": "spring beans in java"}) + "\n")
    out = tmp_path / "out.jsonl"
    argv = ["suggest", "--model", "stub", "--models-dir", str(models_with_stub), "--input", str(questions)]
    assert main([*argv, "--output", str(out)]) == 0
    assert json.loads(out.read_text())["tags"][0]["tag"] == "java"


def test_a_registered_kind_appears_on_every_page_and_in_the_api(models_with_stub, tmp_path):
    client = make_app(models_with_stub, tmp_path / "site.sqlite3").test_client()
    ask_page = client.get("/").get_data(as_text=True)
    assert 'name="model" value="stub"' in ask_page and "Keyword stub" in ask_page and "All, side by side" in ask_page
    models_page = client.get("/models").get_data(as_text=True)
    assert 'id="model-stub"' in models_page and str(escape(STUB.description)) in models_page
    assert "#0f766e" in models_page

    prediction_id = asked_id(ask(client, "spring beans in java"))  # every model, side by side
    detail = client.get(f"/history/{prediction_id}").get_data(as_text=True)
    assert 'data-model="stub"' in detail and 'data-view="stub"' in detail and "stub-1" in detail
    assert prediction_id != asked_id(ask(client, "a join in sql", model="stub"))

    api = client.get(f"/api/v1/predictions/{prediction_id}").get_json()
    assert api["answers"]["stub"]["tags"][0]["tag"] == "java"
    stored = client.post("/api/v1/suggest", json={"title": "npm and node", "models": ["stub"]}).get_json()
    assert list(stored["answers"]) == ["stub"] and stored["answers"]["stub"]["tags"][0]["tag"] == "javascript"
    listed = {item["name"]: item for item in client.get("/api/v1/models").get_json()["models"]}
    assert listed["stub"]["available"] and listed["stub"]["label"] == "Keyword stub"
    assert client.get("/api/v1/predictions?model=stub").get_json()["total"] == 3
    assert client.get("/history/?model=stub").status_code == 200
    assert client.get("/healthz").get_json()["models"]["stub"] == "loaded"

    stats = client.get("/stats").get_data(as_text=True)
    assert 'id="stat-stub"' in stats and 'id="agreement-baseline-stub"' in stats
    assert 'id="agreement-transformer-stub"' in stats


def test_serving_imports_no_training_code(trained_models):
    script = f"""
import sys
from webapp import create_app
app = create_app({{"TESTING": True, "MODELS_DIR": {str(trained_models / "models")!r},
                  "SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"}})
response = app.test_client().post("/api/v1/suggest", json={{"title": "django pip question"}})
assert response.status_code == 201, response.get_data(as_text=True)
assert response.get_json()["answers"]["baseline"]["tags"]
training = ("ml.training.from_file", "ml.backends.transformer.finetune", "ml.data.readers", "ml.evaluate",
            "tqdm", "sklearn.metrics", "sklearn.linear_model", "torch")
print(sorted(name for name in training if name in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_an_unserved_kind_is_trained_from_the_command_line_but_not_offered_by_the_site(client):
    unserved = dataclasses.replace(STUB, name="unserved", label="Command-line stub", served=False)
    registry.register(unserved)
    try:
        assert "unserved" in registry.model_names(include_unserved=True)
        assert "unserved" not in registry.model_names()
        assert build_parser().parse_args(["train", "--model", "unserved"]).model == "unserved"
        for url in ("/", "/models", "/api/v1/models"):
            assert "Command-line stub" not in client.get(url).get_data(as_text=True)
    finally:
        registry.unregister("unserved")


def test_the_memory_is_served_now_that_the_site_feeds_it_reviews(client):
    assert "memory" in registry.model_names()
    assert "Reviewed questions" in client.get("/models").get_data(as_text=True)
