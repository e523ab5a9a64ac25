"""Why each stored tag was suggested: the models' reasons, computed again from the stored
question when a page or the API asks (they are not stored: a reason is cheap to recompute,
~1-3 ms a question, and stays readable after a model is retrained)."""

from __future__ import annotations

import logging

from ml.errors import ModelUnavailable
from ml.predictor import Reason
from ml.text import question_text

from .serving import ModelRegistry
from .tables import Prediction

log = logging.getLogger(__name__)

Reasons = dict[str, dict[str, list[Reason]]]  # model -> tag -> reasons, strongest first


def answer_reasons(registry: ModelRegistry, prediction: Prediction) -> Reasons:
    """Each answering model's reasons for its tags; a model that is gone or cannot say
    why gives none (the page still shows its tags)."""
    text = question_text(prediction.title, prediction.body)
    found: Reasons = {}
    for answer in prediction.answers:
        try:
            predictor = registry.get(answer.model)
            by_tag = predictor.reasons(text, answer.tag_names())
            # A reviewed question is in the memory too: it is never its own reason.
            found[answer.model] = {
                tag: kept
                for tag, reasons in by_tag.items()
                if (kept := [reason for reason in reasons if reason.get("question_id") != prediction.id])
            }
        except ModelUnavailable:
            continue
        except Exception:  # an explanation must never take the page down
            log.exception("the %s model failed to explain its tags", answer.model)
    return found
