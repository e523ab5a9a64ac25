"""Saving a reviewer's verdicts (which suggested tags are right, which were missing) to the
append-only log, and deleting a question."""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select

from webapp.core.database import transaction
from webapp.core.extensions import db
from webapp.core.inputs import MAX_ADDED_TAGS, InputError
from webapp.core.tables import (
    ACCEPTED,
    ADDED,
    REJECTED,
    ForgottenQuestion,
    Question,
    Review,
    ReviewedTag,
    Reviewer,
    ReviewVerdict,
    utc_now,
)
from webapp.history import tag_index
from webapp.review.changes import note_review_change
from webapp.review.learning import forget_question, learn_review
from webapp.stats.counters import lock_question, record_deleted_question, record_review

# Earlier reviews a question's page and API answer show; the log keeps every one.
HISTORY_SHOWN = 20


def save_review(
    question: Question, reviewer: Reviewer, accepted: list[str], rejected: list[str] | None, added: list[str]
) -> Review:
    """Add ``reviewer``'s review of the question to the log; it becomes the one that counts.
    ``rejected=None`` rejects every suggested tag not accepted; otherwise accepted and
    rejected together must cover every suggested tag. An added tag that a model did
    suggest counts as accepted."""
    suggested = question.suggested_tags()
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
    elif contradicted := [tag for tag in added if tag in (rejected or [])]:
        # It used to be saved as right without a word.
        errors["added"] = f"{contradicted[0]} is marked wrong and also added: choose one."
    if errors:
        raise InputError(errors)

    accepted_set = set(accepted) | {tag for tag in added if tag in suggested}
    verdicts = [(tag, ACCEPTED if tag in accepted_set else REJECTED) for tag in suggested]
    verdicts += [(tag, ADDED) for tag in added if tag not in suggested]
    with transaction() as session:
        lock_question(session, question)
        # Read under the lock, from the database: the verdicts another reviewer committed a
        # moment ago, not the ones this request loaded before it waited.
        previous = None
        if question.reviewed_at is not None:
            stored = session.execute(
                select(ReviewedTag.tag, ReviewedTag.verdict).where(ReviewedTag.prediction_id == question.id)
            )
            previous = {tag: verdict for tag, verdict in stored}
        previous_at = question.reviewed_at  # lock_question read it again
        now = utc_now()
        review = Review(prediction_id=question.id, reviewer_id=reviewer.id, created_at=now)
        review.verdicts = [
            ReviewVerdict(tag=tag, verdict=verdict, position=position)
            for position, (tag, verdict) in enumerate(verdicts)
        ]
        session.add(review)
        # The current state follows the log's newest entry. Deleted by one statement, not
        # row by row from what this session loaded: those rows may be another reviewer's.
        session.execute(delete(ReviewedTag).where(ReviewedTag.prediction_id == question.id))
        if verdicts:
            rows = [
                {"prediction_id": question.id, "tag": tag, "verdict": verdict, "position": position}
                for position, (tag, verdict) in enumerate(verdicts)
            ]
            session.execute(insert(ReviewedTag), rows)
        question.reviewed_at = now
        session.flush()
        session.expire(question, ["review", "reviews"])
        record_review(session, question, previous, previous_at)
        tag_index.refresh(session, [question.id])
        note_review_change(session)
    learn_review(question.id)  # committed: the models that learn count it from now on
    return review


def delete_question(question: Question) -> None:
    """Delete a question with its answers and its whole review log; /stats forgets it."""
    question_id = question.id
    with transaction() as session:
        lock_question(session, question)
        record_deleted_question(session, question)
        if question.reviewed_at is not None:  # other workers learned it: they forget it too
            session.add(ForgottenQuestion(prediction_id=question_id))
            note_review_change(session)
        session.delete(question)
    forget_question(question_id)


def review_log(prediction_id: int, limit: int = HISTORY_SHOWN) -> list[Review]:
    """The question's newest ``limit`` reviews, newest first."""
    return list(
        db.session.scalars(
            select(Review).where(Review.prediction_id == prediction_id).order_by(Review.id.desc()).limit(limit)
        )
    )


def reviews_logged(prediction_id: int) -> int:
    """How many reviews the question has in all (its page says how many it does not show)."""
    return db.session.scalar(select(func.count()).select_from(Review).where(Review.prediction_id == prediction_id)) or 0


def latest_reviews(prediction_ids: list[int]) -> dict[int, Review]:
    """Each question's review that counts (its newest), for a page of questions at once."""
    if not prediction_ids:
        return {}
    newest = select(func.max(Review.id)).where(Review.prediction_id.in_(prediction_ids)).group_by(Review.prediction_id)
    return {review.prediction_id: review for review in db.session.scalars(select(Review).where(Review.id.in_(newest)))}
