"""The questions under each tag (``question_tags``): what the history's tag filter reads.

A question is under a tag when a model suggested the tag for it or its review marked the tag
right (accepted or added), the same rule as before this table existed. Each write that
changes a question's answers or review rewrites its rows here in the same transaction, from
the stored rows themselves (``refresh``), so the table cannot drift from them; a new
question's rows come from its answers in memory instead (``add_new``: the same rule in
Python, which tests/test_stats.py compares with ``PAIRS``); ``rebuild`` recomputes it
all (the history bench's bulk fill, and ``flask --app webapp stats rebuild`` after rows
were written behind the site's back; migration 0008 has its own copy).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from .counters import AnySession
from .tables import REJECTED, Prediction

CHUNK = 500
# Every (tag, question) pair, once; "{where}" narrows it to some questions.
PAIRS = (
    "SELECT s.tag, a.prediction_id FROM suggested_tags s JOIN model_answers a ON a.id = s.answer_id{answers}"
    f" UNION SELECT tag, prediction_id FROM reviewed_tags WHERE verdict != '{REJECTED}'{{reviews}}"
)


def refresh(session: AnySession, prediction_ids: Iterable[int]) -> None:
    """Rewrite these questions' rows from their answers and review (inside the write's transaction)."""
    ids = list(prediction_ids)
    for start in range(0, len(ids), CHUNK):
        chunk = {"ids": ids[start : start + CHUNK]}
        session.execute(
            text("DELETE FROM question_tags WHERE prediction_id IN :ids").bindparams(bindparam("ids", expanding=True)),
            chunk,
        )
        pairs = PAIRS.format(answers=" WHERE a.prediction_id IN :ids", reviews=" AND prediction_id IN :ids")
        session.execute(
            text(f"INSERT INTO question_tags (tag, prediction_id) {pairs}").bindparams(
                bindparam("ids", expanding=True)
            ),
            chunk,
        )


def add_new(session: AnySession, predictions: Iterable[Prediction]) -> None:
    """The rows of questions just flushed (none of them has any yet), from their answers and
    review in memory: the same rule as ``PAIRS``, with no statement to read them back."""
    rows = []
    for prediction in predictions:
        tags = {tag for answer in prediction.answers for tag in answer.tag_names()}
        if prediction.reviewed_at is not None:  # else no review to load
            tags |= {tag for tag, verdict in prediction.verdicts().items() if verdict != REJECTED}
        rows += [{"tag": tag, "prediction_id": prediction.id} for tag in sorted(tags)]
    if rows:
        # Plain SQL: the ORM's bulk insert took 0.4 ms a question, inside the write lock.
        session.execute(text("INSERT INTO question_tags (tag, prediction_id) VALUES (:tag, :prediction_id)"), rows)


def rebuild(connection: Connection) -> None:
    """Recompute the whole table from the stored rows (in the caller's transaction)."""
    if connection.dialect.name == "postgresql":
        # Writers wait until the new rows are committed, then rewrite their questions' own.
        connection.exec_driver_sql("LOCK TABLE question_tags IN EXCLUSIVE MODE")
    connection.exec_driver_sql("DELETE FROM question_tags")
    connection.exec_driver_sql(f"INSERT INTO question_tags (tag, prediction_id) {PAIRS.format(answers='', reviews='')}")
