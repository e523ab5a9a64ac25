"""Why a model suggested each tag, as far as it can say: the memory (and the ensemble through
it) names the reviewed questions that voted ("because of #123, #456") and the training
questions that did. Read from the models as they are now, when a question is shown."""

from __future__ import annotations

import logging

from ml.text import question_text

from .serving import models
from .tables import Prediction

log = logging.getLogger(__name__)

Reasons = dict[str, list[dict]]  # tag -> [{"kind", "question_id"?, "title", "weight"}, ...]


def answer_reasons(prediction: Prediction) -> dict[str, Reasons]:
    """Per model that explains itself, per suggested tag, its reasons (strongest first). A
    question never counts as its own reason (a reviewed question is in the memory too)."""
    text = question_text(prediction.title, prediction.body)
    found: dict[str, Reasons] = {}
    for answer in prediction.answers:
        predictor = models().state(answer.model).predictor if answer.tags else None
        explain = getattr(predictor, "reasons", None)
        if explain is None:
            continue
        try:
            by_tag = explain(text, answer.tag_names())
        except Exception:  # an explanation must never cost the page
            log.exception("the %s model could not explain its tags", answer.model)
            continue
        kept = {
            tag: [reason for reason in reasons if reason.get("question_id") != prediction.id]
            for tag, reasons in by_tag.items()
        }
        kept = {tag: reasons for tag, reasons in kept.items() if reasons}
        if kept:
            found[answer.model] = kept
    return found
