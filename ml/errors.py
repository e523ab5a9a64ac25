"""One family for every error tagsmith reports to a person rather than to a developer.

The CLI prints these as one ``error: ...`` line (exit status 2) and the website answers
with ``status``; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class TagsmithError(Exception):
    """Base of the family. ``status`` is the HTTP status the website answers with."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UsageError(TagsmithError):
    """Options or input that cannot work together (a gold file with no known tag, ...)."""

    status = 422


class DataError(TagsmithError):
    """A data set that cannot be used: unreadable, empty after selection, or changed since
    the model was trained on it."""

    status = 422


class TrainingBusy(TagsmithError):
    """Another training is writing to the same models folder: one at a time, or both would
    pick the same version name."""

    status = 409


class MissingDependency(TagsmithError):
    """An optional package (torch for training) is not installed."""

    status = 503


class ModelUnavailable(TagsmithError):
    """A model that cannot answer: no artifact yet, a broken one, or none of the models a
    request asked for. ``reasons`` maps each model's name to why, for people."""

    status = 503

    def __init__(self, message: str, reasons: dict[str, str] | None = None):
        super().__init__(message)
        self.reasons = dict(reasons or {})


class ArtifactError(ModelUnavailable):
    """A model folder that is missing, corrupt, or built for other library versions."""


class PredictionFailed(TagsmithError):
    """A model raised while predicting; nothing was stored."""

    status = 500

    def __init__(self, model: str):
        super().__init__(f"The {model} model failed on this question. Nothing was saved; please try again.")
        self.model = model
