"""Why each stored tag was suggested: the models' reasons, computed again from the stored
question when a page or the API asks (they are not stored: a reason is cheap to recompute,
and stays readable after a model is retrained)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from ml.errors import ModelUnavailable
from ml.predictor import Reason
from ml.text import question_text
from webapp.ask.serving import ServedModels
from webapp.core.catalogue import site_catalogue
from webapp.core.tables import Question

log = logging.getLogger(__name__)

Reasons = dict[str, dict[str, list[Reason]]]  # model -> tag -> reasons, strongest first
# What a person is shown for a tag: a few pieces of evidence they would accept, in this order
# of kind (a name found in the question, reviewers' verdicts, a reviewed question like it,
# words the model weighed, one similar training question); a kind's own order is kept.
MAX_REASONS = 3
KIND_ORDER = ("phrase", "replaced", "reviewed", "words", "similar")
MAX_OF_KIND = {"words": 2, "similar": 1}


def strongest(reasons: list[Reason]) -> list[Reason]:
    """The reasons worth reading: stop-words and one-letter words dropped (``even though``
    explains nothing), at most ``MAX_REASONS``, the most convincing kinds first."""
    kept: list[Reason] = []
    for kind in KIND_ORDER:
        of_kind = [reason for reason in reasons if reason.get("kind") == kind]
        if kind == "words":
            of_kind = [reason for reason in of_kind if _meaningful(str(reason.get("text", "")))]
        kept += of_kind[: MAX_OF_KIND.get(kind, MAX_REASONS)]
    return kept[:MAX_REASONS]


def _meaningful(text: str) -> bool:
    words = text.split()
    return any(len(word) > 1 and word.lower() not in ENGLISH_STOP_WORDS for word in words)


def answer_reasons(registry: ServedModels, question: Question) -> Reasons:
    """Each answering model's reasons for its tags; a model that is gone or cannot say
    why gives none (the page still shows its tags)."""
    text = question_text(question.title, question.body)
    found: Reasons = {}
    for answer in question.answers:
        try:
            predictor = registry.get(answer.model)
            by_tag = _under_shown_names(predictor.reasons, text, answer.tag_names())
            # A reviewed question is in the memory too: it is never its own reason.
            found[answer.model] = {
                tag: kept
                for tag, reasons in by_tag.items()
                if (kept := strongest([reason for reason in reasons if reason.get("question_id") != question.id]))
            }
        except ModelUnavailable:
            continue
        except Exception:  # an explanation must never take the page down
            log.exception("the %s model failed to explain its tags", answer.model)
    return found


def _under_shown_names(explain: Callable[[str, list[str]], dict[str, list[Reason]]], text: str, shown: list[str]):
    """The model's reasons for the tags as shown, asked for under every name of each: a model
    that learned ``osx`` has reasons for ``osx``, which the site shows as ``macos``."""
    catalogue = site_catalogue()
    names = {tag: catalogue.names_of(tag) for tag in shown}
    by_name = explain(text, list(dict.fromkeys(name for tag in shown for name in names[tag])))
    found: dict[str, list[Reason]] = {}
    for tag in shown:
        merged: list[Reason] = []
        for name in names[tag]:  # the ensemble's members may explain one tag under two names
            merged += [reason for reason in by_name.get(name, []) if reason not in merged]
        if merged:
            found[tag] = merged
    return found
