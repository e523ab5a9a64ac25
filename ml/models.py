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


def load_predictor(name: str, models_dir: Path | str | None = None) -> Predictor:
    folder = model_dir(name, models_dir)
    if name == "baseline":
        from .baseline import REBUILD, TfidfBaseline

        if not (folder / "metadata.json").is_file():
            raise ModelUnavailable(f"The baseline model is not trained yet ({display_path(folder)} is empty). Train it with: {REBUILD}")
        return TfidfBaseline.load(folder)
    from .transformer import REBUILD as TRANSFORMER_REBUILD, OnnxTagger

    if not (folder / "metadata.json").is_file():
        raise ModelUnavailable(f"The transformer model is not available ({display_path(folder)} holds no artifact). Build it with: {TRANSFORMER_REBUILD}")
    return OnnxTagger.load(folder)
