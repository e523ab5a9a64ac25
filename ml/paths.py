"""Where the project keeps its data and models. Serving and training both read these, so
they live apart from the training code."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = PROJECT_ROOT / "data" / "so_titles_100tags.csv"
MODELS_DIR = PROJECT_ROOT / "models"
SPLITS_DIR = PROJECT_ROOT / "data" / "splits"


def display_path(path: Path | str) -> str:
    """Paths inside the project are recorded relative to it, so metadata reads the same on every clone."""
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def project_path(recorded: str) -> Path:
    """The inverse of ``display_path``: a recorded relative path is relative to the project."""
    path = Path(recorded)
    return path if path.is_absolute() else PROJECT_ROOT / path
