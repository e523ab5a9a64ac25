"""What the learning models learned from whom, and taking a reviewer's lessons back.

The memory learns from each reviewed question's review that counts (its newest); that review
names its reviewer. Forgetting a reviewer (``flask --app webapp tagsmith forget --reviewer
NAME``) or deactivating them keeps every review as it was and moves ``tables.LESSONS_ROW``:
each worker then teaches its models every review again, leaving out those whose reviewer's
lessons do not count (``lessons_count``), before its next suggestion; a worker
started later never learns them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

from sqlalchemy import and_, func, or_, select, update

from webapp.core.database import transaction
from webapp.core.extensions import db
from webapp.core.tables import ACCEPTED, ADDED, Question, Review, ReviewedTag, Reviewer
from webapp.review.changes import note_lessons_change


def lessons_count(review: Any) -> Any:
    """Whether what ``review`` (a review log entry, joined to its ``Reviewer``) teaches counts:
    it was made before reviewer accounts, or by an active reviewer after their lessons were
    last forgotten (``flask --app webapp tagsmith forget --reviewer NAME``)."""
    return or_(
        review.reviewer_id.is_(None),
        and_(
            Reviewer.active.is_(True),
            or_(Reviewer.forgotten_through.is_(None), review.id > Reviewer.forgotten_through),
        ),
    )


class Lesson(NamedTuple):
    question: int
    title: str
    tags: tuple[str, ...]  # the right tags it teaches: accepted and added
    counts: bool  # False: forgotten, or the reviewer is deactivated


def lessons(reviewer: Reviewer | None = None) -> dict[str | None, list[Lesson]]:
    """Each reviewer's name (None: reviews from before reviewer accounts) -> the reviewed
    questions whose review that counts is theirs, oldest first."""
    newest = select(func.max(Review.id)).group_by(Review.prediction_id)
    query = (
        select(Review.prediction_id, Question.title, Reviewer.name, lessons_count(Review).label("counts"))
        .join(Question, Question.id == Review.prediction_id)
        .outerjoin(Reviewer, Reviewer.id == Review.reviewer_id)
        .where(Review.id.in_(newest), Question.reviewed_at.is_not(None))
        .order_by(Question.reviewed_at, Question.id)
    )
    if reviewer is not None:
        query = query.where(Review.reviewer_id == reviewer.id)
    rows = db.session.execute(query).all()
    right: dict[int, list[str]] = {}
    tag_rows = db.session.execute(
        select(ReviewedTag.prediction_id, ReviewedTag.tag)
        .where(ReviewedTag.verdict.in_((ACCEPTED, ADDED)), ReviewedTag.prediction_id.in_([row[0] for row in rows]))
        .order_by(ReviewedTag.prediction_id, ReviewedTag.position)
    )
    for question, tag in tag_rows:
        right.setdefault(question, []).append(tag)
    found: dict[str | None, list[Lesson]] = {}
    for question, title, name, counts in rows:
        found.setdefault(name, []).append(Lesson(question, title, tuple(right.get(question, ())), bool(counts)))
    return found


def tag_counts(taught: list[Lesson]) -> Counter[str]:
    return Counter(tag for lesson in taught if lesson.counts for tag in lesson.tags)


def forget(reviewer: Reviewer) -> int:
    """Take back what ``reviewer`` taught so far, in every worker; their reviews stay and
    their later reviews teach as usual. Returns how many reviewed questions stop teaching."""
    taught = [lesson for lesson in lessons(reviewer).get(reviewer.name, []) if lesson.counts]
    with transaction() as session:
        newest = session.scalar(select(func.max(Review.id))) or 0
        session.execute(update(Reviewer).where(Reviewer.id == reviewer.id).values(forgotten_through=newest))
        note_lessons_change(session)
    return len(taught)


def set_active(reviewer: Reviewer, active: bool) -> None:
    """Deactivating a reviewer also takes their lessons back; making them active gives them back."""
    with transaction() as session:
        session.execute(update(Reviewer).where(Reviewer.id == reviewer.id).values(active=active))
        note_lessons_change(session)
