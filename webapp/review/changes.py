"""Telling every worker's learner that the reviews changed: one number per kind of change in
``review_changes`` (``tables.ReviewChanges``), which each worker reads before it predicts
(``webapp/review/learning.py``)."""

from __future__ import annotations

from webapp.core.tables import LESSONS_ROW, REVIEW_CHANGES_ROW, ReviewChanges
from webapp.stats.counters import add_up


def note_review_change(session) -> None:
    """Tell every worker's learner to poll the reviews again (``tables.ReviewChanges``). Last
    in its transaction: on PostgreSQL the row stays locked until the commit, so that changes
    are numbered in the order they commit."""
    add_up(session, ReviewChanges.__table__, [{"id": REVIEW_CHANGES_ROW, "version": 1}], "version")


def note_lessons_change(session) -> None:
    """Tell every worker that whose reviews count changed (``tables.LESSONS_ROW``)."""
    add_up(session, ReviewChanges.__table__, [{"id": LESSONS_ROW, "version": 1}], "version")
    note_review_change(session)
