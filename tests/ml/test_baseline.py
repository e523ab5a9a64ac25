import json

import numpy as np
import pytest

from ml.backends.baseline import TfidfBaseline, profile_for
from ml.data.split import label_matrix
from ml.errors import ArtifactError, ModelUnavailable
from ml.registry import load_predictor
from tests.helpers.support import make_questions


def fitted(solver="liblinear", **kwargs):
    rows = make_questions(300, seed=1)
    y, labels = label_matrix([tags for _, tags in rows])
    return TfidfBaseline(min_df=1, solver=solver, **kwargs).fit([t for t, _ in rows], y, labels)


@pytest.mark.parametrize("solver", ["liblinear", "sgd"])
def test_learns_the_tags_and_scores_are_probabilities(solver):
    model = fitted(solver)
    scores = model.predict_scores(["why does my django virtualenv fail", "slow postgres join on index"])
    assert scores.shape == (2, 5) and np.all((scores >= 0) & (scores <= 1))
    assert model.predict(["why does my django virtualenv fail"], top_k=1)[0][0][0] == "python"
    assert model.predict(["slow postgres join on index"], top_k=1)[0][0][0] == "sql"


def test_tag_like_tokens_are_features():
    model = fitted(char_ngrams=None)
    vocabulary = model.vectorizers_[0].vocabulary_
    assert {"asp.net-mvc", ".net", "node.js"} <= set(vocabulary)


def test_a_tag_without_positives_scores_near_zero():
    rows = make_questions(100)
    y, labels = label_matrix(
        [tags for _, tags in rows], labels=sorted({t for _, ts in rows for t in ts}) + ["never-used"]
    )
    model = TfidfBaseline(min_df=1, char_ngrams=None).fit([t for t, _ in rows], y, labels)
    assert model.predict_scores(["anything at all"])[0, -1] < 1e-4


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="does not match"):
        TfidfBaseline().fit(["a", "b"], np.zeros((3, 2)), ["x", "y"])


def test_profile_switches_to_the_large_data_settings():
    assert profile_for(40_000) == {"char_ngrams": (2, 5), "solver": "liblinear"}
    assert profile_for(1_000_000) == {"char_ngrams": None, "solver": "sgd"}


def test_follows_scikit_learn_estimator_conventions():
    from sklearn.base import clone

    model = TfidfBaseline(solver="adam", C=2.0)  # scikit-learn validates in fit, not in __init__
    assert model.get_params(deep=True)["C"] == 2.0 and model.set_params(C=3.0).C == 3.0
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(ValueError, match="solver"):
        model.fit(["a b", "c d"], [[1], [0]], ["x"])
    fitted_model = fitted()
    learned = [name for name in vars(fitted_model) if name not in fitted_model.get_params()]
    assert learned and all(name.endswith("_") or name == "metadata" for name in learned)
    assert fitted_model.weights_.dtype == np.float32


def test_artifact_round_trip_gives_identical_scores(tmp_path):
    model = fitted()
    model.thresholds = np.linspace(0.2, 0.6, 5)
    model.save(tmp_path / "baseline", {"thresholds": {"global": 0.3}})
    loaded = TfidfBaseline.load(tmp_path / "baseline")
    texts = ["npm promise callback", "maven spring hashmap"]
    np.testing.assert_allclose(loaded.predict_scores(texts), model.predict_scores(texts), rtol=1e-6)
    assert loaded.labels == model.labels and np.allclose(loaded.thresholds, model.thresholds)
    meta = json.loads((tmp_path / "baseline" / "metadata.json").read_text())
    assert meta["library_versions"]["scikit-learn"] and set(meta["files"]) == {"vectorizers.joblib", "weights.npz"}


def _saved(tmp_path):
    folder = tmp_path / "baseline"
    fitted(char_ngrams=None).save(folder, {})
    return folder


def test_corrupt_file_is_detected(tmp_path):
    folder = _saved(tmp_path)
    with open(folder / "weights.npz", "r+b") as handle:
        handle.seek(100)
        handle.write(b"garbage")
    with pytest.raises(ArtifactError, match="corrupt"):
        TfidfBaseline.load(folder)


def test_other_scikit_learn_version_is_refused(tmp_path):
    folder = _saved(tmp_path)
    meta = json.loads((folder / "metadata.json").read_text())
    meta["library_versions"]["scikit-learn"] = "0.24.2"
    (folder / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="built with scikit-learn 0.24.2.*python -m ml train"):
        TfidfBaseline.load(folder)


def test_unreadable_metadata_and_missing_model(tmp_path):
    folder = _saved(tmp_path)
    (folder / "metadata.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="corrupt"):
        TfidfBaseline.load(folder)
    with pytest.raises(ModelUnavailable, match="not trained yet"):
        load_predictor("baseline", tmp_path / "nowhere")
    with pytest.raises(ModelUnavailable):
        load_predictor("transformer", tmp_path / "nowhere")


def test_saving_over_an_existing_model_replaces_it_whole(tmp_path):
    folder = _saved(tmp_path)
    second = fitted(char_ngrams=None)
    second.thresholds = np.full(5, 0.42)
    second.save(folder, {})
    assert np.allclose(TfidfBaseline.load(folder).thresholds, 0.42)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline"]
