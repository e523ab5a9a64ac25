"""Finding and loading the models the CLI and the website serve, by name."""

from __future__ import annotations

from pathlib import Path

from .artifacts import ArtifactError
from .predictor import Predictor
from .train import MODELS_DIR, display_path

MODEL_NAMES = ("baseline", "transformer")


class ModelUnavailable(ArtifactError):
    """The model has no artifact (yet): say so instead of failing later."""


def model_dir(name: str, models_dir: Path | str | None = None) -> Path:
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    return Path(models_dir or MODELS_DIR) / name


# What to tell a user whose model folder is empty: the baseline is quick to train, the
# transformer is a committed artifact that is rebuilt rather than trained on the spot.
MISSING = {
    "baseline": "The baseline model is not trained yet ({folder} is empty). Train it with: {rebuild}",
    "transformer": "The transformer model is not available ({folder} holds no artifact). Build it with: {rebuild}",
}


def load_predictor(name: str, models_dir: Path | str | None = None) -> Predictor:
    folder = model_dir(name, models_dir)
    if name == "baseline":
        from .baseline import REBUILD
        from .baseline import TfidfBaseline as model_class
    else:
        from .transformer import REBUILD
        from .transformer import OnnxTagger as model_class
    if not (folder / "metadata.json").is_file():
        raise ModelUnavailable(MISSING[name].format(folder=display_path(folder), rebuild=REBUILD))
    return model_class.load(folder)
