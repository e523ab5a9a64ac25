"""The questions under each tag (``question_tags``): what the history's tag filter reads.

A question is under a tag when a model suggested the tag for it or its review marked the tag
right (accepted or added), the same rule as before this table existed. Each row also holds,
as bits (``MODEL_BITS``), the models under which the tag-and-model filter keeps it: the model
answered the question, and its answer has the tag or the review kept it. So that filter is
one range of the table's primary key, tested row by row without reading any answer (0015).

Each write that changes a question's answers or review rewrites its rows here in the same
transaction, from the stored rows themselves (``refresh``), so the table cannot drift from
them; a new question's rows come from its answers in memory instead (``add_new``: the same
rule in Python, which tests/webapp/test_stats.py compares with ``ROWS``); ``rebuild`` recomputes it
all (the history bench's bulk fill, and ``flask --app webapp stats rebuild`` after rows were
written behind the site's back; migrations 0008 and 0015 have their own copies).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from webapp.core.database import AnySession
from webapp.core.tables import REJECTED, Question

CHUNK = 500
# A bit per model in question_tags.models. Stored: a model keeps its bit for good, and a new
# model takes the next free one (tests/webapp/test_stats.py checks every registered model has one).
MODEL_BITS = {"baseline": 1, "transformer": 2, "omikuji": 4, "lexical": 8, "memory": 16, "ensemble": 32}
_BIT = "CASE a.model " + " ".join(f"WHEN '{model}' THEN {bit}" for model, bit in MODEL_BITS.items()) + " ELSE 0 END"
# Every (tag, question) pair once, with its models' bits: a model's answer suggested the tag,
# or the review kept it (then every model that answered has its bit). The bits are distinct
# powers of two, so the sum of the distinct ones is their OR (SQLite has no bit_or).
# "{answers}" and "{reviews}" narrow it to some questions.
ROWS = (
    "SELECT tag, prediction_id, sum(DISTINCT bit) FROM ("
    f"SELECT s.tag, a.prediction_id, {_BIT} AS bit"
    " FROM suggested_tags s JOIN model_answers a ON a.id = s.answer_id{answers}"
    f" UNION ALL SELECT r.tag, r.prediction_id, {_BIT}"
    f" FROM reviewed_tags r JOIN model_answers a ON a.prediction_id = r.prediction_id WHERE r.verdict != '{REJECTED}'"
    "{reviews}"
    f" UNION ALL SELECT r.tag, r.prediction_id, 0 FROM reviewed_tags r WHERE r.verdict != '{REJECTED}'{{reviews}}"
    ") AS marks GROUP BY tag, prediction_id"
)
INSERT = "INSERT INTO question_tags (tag, prediction_id, models) "


def bit(model: str) -> int:
    """The model's bit in question_tags.models (0 for a model without one: it matches nothing)."""
    return MODEL_BITS.get(model, 0)


def refresh(session: AnySession, prediction_ids: Iterable[int]) -> None:
    """Rewrite these questions' rows from their answers and review (inside the write's transaction)."""
    ids = list(prediction_ids)
    for start in range(0, len(ids), CHUNK):
        chunk = {"ids": ids[start : start + CHUNK]}
        session.execute(
            text("DELETE FROM question_tags WHERE prediction_id IN :ids").bindparams(bindparam("ids", expanding=True)),
            chunk,
        )
        rows = ROWS.format(answers=" WHERE a.prediction_id IN :ids", reviews=" AND r.prediction_id IN :ids")
        session.execute(text(INSERT + rows).bindparams(bindparam("ids", expanding=True)), chunk)


def add_new(session: AnySession, questions: Iterable[Question]) -> None:
    """The rows of questions just flushed (none of them has any yet), from their answers and
    review in memory: the same rule as ``ROWS``, with no statement to read them back."""
    rows = []
    for question in questions:
        models: dict[str, int] = {}
        for answer in question.answers:
            for tag in answer.tag_names():
                models[tag] = models.get(tag, 0) | bit(answer.model)
        if question.reviewed_at is not None:  # else no review to load
            answered = sum({bit(answer.model) for answer in question.answers})
            for tag, verdict in question.verdicts().items():
                if verdict != REJECTED:
                    models[tag] = models.get(tag, 0) | answered
        rows += [{"tag": tag, "prediction_id": question.id, "models": models[tag]} for tag in sorted(models)]
    if rows:
        # Plain SQL: the ORM's bulk insert was several times slower, inside the write lock.
        session.execute(text(INSERT + "VALUES (:tag, :prediction_id, :models)"), rows)


def rebuild(connection: Connection) -> None:
    """Recompute the whole table from the stored rows (in the caller's transaction)."""
    if connection.dialect.name == "postgresql":
        # Writers wait until the new rows are committed, then rewrite their questions' own.
        connection.exec_driver_sql("LOCK TABLE question_tags IN EXCLUSIVE MODE")
    connection.exec_driver_sql("DELETE FROM question_tags")
    connection.exec_driver_sql(INSERT + ROWS.format(answers="", reviews=""))
