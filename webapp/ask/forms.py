"""The ask form. Its checks are the API's (``inputs``), so a value the API refuses the form
refuses with the same words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, TextAreaField
from wtforms.validators import ValidationError

from ml.predictor import DEFAULT_TOP_K
from ml.registry import kinds
from webapp.core.inputs import BOTH, InputError, Limits, clean_body, clean_threshold, clean_title, clean_top_k


def model_choices(default: str = BOTH) -> list[tuple[str, str]]:
    """One of the models or every model side by side, read from the registry on each request:
    the site's default first, side by side last."""
    side_by_side = "Both, side by side" if len(kinds()) == 2 else "All, side by side"
    models = sorted(kinds(), key=lambda kind: kind.name != default)  # stable: the rest keep their order
    return [(kind.name, kind.label) for kind in models] + [(BOTH, side_by_side)]


class AskForm(FlaskForm):
    title = StringField("Title")
    body = TextAreaField("Body")
    model = RadioField("Model", default=BOTH)
    # Text, parsed by the same checks as the API's numbers; empty means the default.
    top_k = StringField("Tags at most", default=str(DEFAULT_TOP_K))
    threshold = StringField("Score cut-off")

    def __init__(self, *args: Any, **kwargs: Any):
        from webapp.ask.serving import default_model

        default = default_model()
        kwargs.setdefault("model", default)
        super().__init__(*args, **kwargs)
        self.model.choices = model_choices(default)

    @property
    def top_k_value(self) -> int:
        return _parsed(self.top_k.data, int, clean_top_k, DEFAULT_TOP_K)

    @property
    def threshold_value(self) -> float | None:
        return _parsed(self.threshold.data, float, clean_threshold, None)

    def validate_title(self, field):
        field.data = _checked(lambda value: clean_title(value, Limits.from_app()), field.data)

    def validate_body(self, field):
        field.data = _checked(lambda value: clean_body(value, Limits.from_app()), field.data)

    def validate_top_k(self, field):
        _checked(lambda _: self.top_k_value, field.data)

    def validate_threshold(self, field):
        _checked(lambda _: self.threshold_value, field.data)


def _parsed(text: str | None, parse: Callable[[str], Any], check: Callable[[Any], Any], empty: Any) -> Any:
    text = (text or "").strip()
    if not text:
        return empty
    try:
        value = parse(text)
    except ValueError:
        value = text  # the check words the refusal
    return check(value)


def _checked(check: Callable[[Any], Any], value: Any) -> Any:
    try:
        return check(value)
    except InputError as error:
        raise ValidationError(next(iter(error.fields.values()))) from None
