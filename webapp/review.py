"""Saving a reviewer's verdicts: which suggested tags are right, and which were missing."""

from __future__ import annotations

from .counters import lock_question, record_review
from .database import transaction
from .extensions import db
from .inputs import MAX_ADDED_TAGS, InputError
from .tables import ACCEPTED, ADDED, REJECTED, Prediction, ReviewedTag, utc_now


def save_review(prediction: Prediction, accepted: list[str], rejected: list[str] | None, added: list[str]) -> None:
    """Replace the question's review. ``rejected=None`` rejects every suggested tag not
    accepted; otherwise accepted and rejected together must cover every suggested tag.
    An added tag that a model did suggest counts as accepted."""
    suggested = prediction.suggested_tags()
    errors = {}
    for field, tags in (("accepted", accepted), ("rejected", rejected or [])):
        foreign = [tag for tag in tags if tag not in suggested]
        if foreign:
            errors[field] = f"{foreign[0]!r} was not suggested for this question; add it under 'added' instead."
    both = set(accepted) & set(rejected or [])
    if both:
        errors["rejected"] = f"{sorted(both)[0]!r} is both accepted and rejected."
    if rejected is not None and not errors:
        undecided = [tag for tag in suggested if tag not in accepted and tag not in rejected]
        if undecided:
            errors["rejected"] = f"Accept or reject every suggested tag; undecided: {', '.join(undecided)}."
    if len(added) > MAX_ADDED_TAGS:
        errors["added"] = f"Add at most {MAX_ADDED_TAGS} tags."
    if errors:
        raise InputError(errors)

    accepted_set = set(accepted) | {tag for tag in added if tag in suggested}
    verdicts = [(tag, ACCEPTED if tag in accepted_set else REJECTED) for tag in suggested]
    verdicts += [(tag, ADDED) for tag in added if tag not in suggested]
    with transaction() as session:
        lock_question(session, prediction)
        previous = prediction.verdicts() if prediction.reviewed_at is not None else None
        previous_at = prediction.reviewed_at
        prediction.review.clear()
        # Deletes before inserts: the (question, tag) pair is unique.
        db.session.flush()
        prediction.review.extend(
            ReviewedTag(tag=tag, verdict=verdict, position=position) for position, (tag, verdict) in enumerate(verdicts)
        )
        prediction.reviewed_at = utc_now()
        session.flush()
        record_review(session, prediction, previous, previous_at)
