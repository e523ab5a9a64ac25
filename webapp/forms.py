"""The ask form. Its checks are the API's (``inputs``), so a title the API refuses the form
refuses with the same words."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import FloatField, IntegerField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional, ValidationError

from ml.predictor import DEFAULT_TOP_K, MAX_TOP_K

from .inputs import BOTH, InputError, Limits, clean_body, clean_title

MODEL_LABELS = {BOTH: "Both, side by side", "baseline": "Baseline", "transformer": "Transformer"}


class AskForm(FlaskForm):
    title = StringField("Title")
    body = TextAreaField("Body")
    model = RadioField(
        "Model", choices=[SelectChoice(value, label) for value, label in MODEL_LABELS.items()], default=BOTH
    )
    top_k = IntegerField(
        "Tags at most",
        default=DEFAULT_TOP_K,
        # Left empty, the default applies (see ``top_k_or_default``).
        validators=[Optional(), NumberRange(1, MAX_TOP_K, message=f"Choose between 1 and {MAX_TOP_K} tags.")],
    )
    threshold = FloatField(
        "Score cut-off",
        validators=[
            Optional(),
            NumberRange(
                0.0, 1.0, message="The cut-off is a score from 0 to 1; leave it empty for the tuned thresholds."
            ),
        ],
    )

    @property
    def top_k_or_default(self) -> int:
        return DEFAULT_TOP_K if self.top_k.data is None else self.top_k.data

    def validate_title(self, field):
        field.data = _checked(clean_title, field.data)

    def validate_body(self, field):
        field.data = _checked(clean_body, field.data)

    def validate_threshold(self, field):
        if field.data is not None and field.data != field.data:  # NaN slips past NumberRange
            raise ValidationError("The cut-off is a score from 0 to 1; leave it empty for the tuned thresholds.")


def _checked(check, value):
    try:
        return check(value, Limits.from_app())
    except InputError as error:
        raise ValidationError(next(iter(error.fields.values()))) from None
