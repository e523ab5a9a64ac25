"""The running totals behind /stats, kept in the same transaction as each write.

Reading /stats must not depend on how many questions are stored, so every figure it shows
is a total kept up to date as rows are written (``stats_counters``, a few dozen rows), plus
a latency histogram per model (``stats_latency``, buckets of three significant digits)
whose buckets give the percentiles. The writers (``suggest.suggest_and_store``, ``suggest.add_answer``,
``review.save_review``, ``review.delete_question``) call the ``record_*`` functions inside their
transaction (new questions are counted by ``count_new_questions`` before it, then ``apply``);
``rebuild`` recomputes everything from the rows with set-based SQL (``flask --app webapp
stats rebuild``; migration 0005 holds a frozen copy of the same SQL).

Counter names: ``questions``, ``reviewed``; per model ``model:<name>:reviewed|judged|
correct|missed``; per pair of models, first < second, ``pair:<first>:<second>:questions|
same_top|jaccard``. A model's answers are the sum of its latency histogram. Over time (the
charts): ``day:<YYYY-MM-DD>:questions`` by the day a question was asked and
``day:<YYYY-MM-DD>:reviewed`` by the day of its latest review; per model version and week
of the latest review (its Monday) ``week:<YYYY-MM-DD>:<model>:reviewed|judged|correct|
missed:<version>`` (the version last: it may hold colons). Per tag: ``tag:<tag>:suggested``
(answers that suggested it), ``tag:<tag>:rejected|added`` (latest reviews).

Concurrency: on PostgreSQL each upsert locks its rows until the commit, and every writer
changes counters last, in one fixed order (counters by name, then latency by model and
bucket), so two writers wait for each other but never deadlock. A review and a later model
answer on one question read each other's rows: each first locks the question's row
(``lock_question``), so the second sees what the first stored.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import combinations
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import Connection, bindparam, text, update
from sqlalchemy.dialects import postgresql, sqlite

from webapp.core.database import AnySession
from webapp.core.extensions import db
from webapp.core.tables import ACCEPTED, ADDED, REJECTED, ModelAnswer, Question, StatsCounter, StatsLatency
from webapp.history import tag_index

RIGHT = (ACCEPTED, ADDED)
CORRECTIONS = (REJECTED, ADDED)
# Latency buckets: three significant digits of the milliseconds. Below each limit, the
# bucket is 1000 * decade + floor(ms * factor) (or ms / divisor): only a multiplication or
# a division and a floor, which Python, SQLite and PostgreSQL round identically (IEEE
# doubles), so a bucket computed in SQL (rebuild, the percentile lookup) is the one Python
# computed when the answer was stored. Buckets increase with the latency.
DECADES: tuple[tuple[float, str, int], ...] = (
    (1.0, "*", 1000),
    (10.0, "*", 100),
    (100.0, "*", 10),
    (1000.0, "*", 1),
    (10_000.0, "/", 10),
    (100_000.0, "/", 100),
    (math.inf, "/", 1000),
)


def latency_bucket(ms: float) -> int:
    for decade, (limit, operator, factor) in enumerate(DECADES):
        if ms < limit:
            return decade * 1000 + math.floor(ms * factor if operator == "*" else ms / factor)
    raise ValueError(f"not a latency: {ms!r}")


def latency_bucket_sql(column: str, dialect: str) -> str:
    """``latency_bucket`` as a SQL expression on ``column``."""
    whole = "CAST({} AS INTEGER)" if dialect == "sqlite" else "CAST(floor({}) AS BIGINT)"  # SQLite truncates
    cases = []
    for decade, (limit, operator, factor) in enumerate(DECADES):
        value = f"{decade * 1000} + {whole.format(f'{column} {operator} {factor}')}"
        cases.append(f"ELSE {value}" if math.isinf(limit) else f"WHEN {column} < {limit!r} THEN {value}")
    return f"(CASE {' '.join(cases)} END)"


def bucket_floor(bucket: int) -> float:
    """The smallest latency in ``bucket``: its three significant digits."""
    decade = min(bucket // 1000, len(DECADES) - 1)
    number = bucket - decade * 1000
    _, operator, factor = DECADES[decade]
    return number / factor if operator == "*" else float(number * factor)


# -- what a write changes ---------------------------------------------------------------


class Tally:
    """The changes one transaction makes to the counters, applied at once by ``apply``."""

    def __init__(self) -> None:
        self.counters: defaultdict[str, float] = defaultdict(float)
        self.latency: Counter[tuple[str, int]] = Counter()

    def answer(self, answer: ModelAnswer, sign: int = 1) -> None:
        self.latency[(answer.model, latency_bucket(answer.latency_ms))] += sign
        for tag in answer.tag_names():
            self.counters[f"tag:{tag}:suggested"] += sign

    def question(self, question: Question, sign: int = 1) -> None:
        self.counters["questions"] += sign
        self.counters[f"day:{question.created_at.date().isoformat()}:questions"] += sign

    def reviewed(self, reviewed_at: datetime, verdicts: dict[str, str], sign: int = 1) -> None:
        """A question's latest review, counted (``sign`` 1) or taken back (-1)."""
        self.counters[f"day:{reviewed_at.date().isoformat()}:reviewed"] += sign
        for tag, verdict in verdicts.items():
            if verdict in CORRECTIONS:
                self.counters[f"tag:{tag}:{verdict}"] += sign

    def pair(self, one: ModelAnswer, other: ModelAnswer, sign: int = 1) -> None:
        first, second = sorted((one, other), key=lambda answer: answer.model)
        tags_first, tags_second = first.tag_names(), second.tag_names()
        prefix = f"pair:{first.model}:{second.model}"
        self.counters[f"{prefix}:questions"] += sign
        self.counters[f"{prefix}:same_top"] += sign * bool(
            tags_first and tags_second and tags_first[0] == tags_second[0]
        )
        self.counters[f"{prefix}:jaccard"] += sign * jaccard(tags_first, tags_second)

    def review(self, answer: ModelAnswer, verdicts: dict[str, str], reviewed_at: datetime, sign: int = 1) -> None:
        """Count (``sign`` 1) or take back (-1) one answer of a question reviewed at ``reviewed_at``."""
        suggested = set(answer.tag_names())
        right = {tag for tag, verdict in verdicts.items() if verdict in RIGHT}
        # A tag suggested after the review (another model run later) has no verdict yet:
        # it counts neither for nor against the model.
        judged = suggested & verdicts.keys()
        week = week_of(reviewed_at).isoformat()
        for what, value in (
            ("reviewed", 1),
            ("judged", len(judged)),
            ("correct", len(judged & right)),
            ("missed", len(right - suggested)),
        ):
            # The model's totals, and the same figure for its version in the review's week.
            self.counters[f"model:{answer.model}:{what}"] += sign * value
            self.counters[f"week:{week}:{answer.model}:{what}:{answer.model_version}"] += sign * value


def week_of(moment: datetime) -> date:
    """The Monday of the moment's week (weeks from Monday to Sunday, as in SQL below)."""
    day = moment.date()
    return day - timedelta(days=day.weekday())


def jaccard(one: Sequence[str], other: Sequence[str]) -> float:
    union = set(one) | set(other)
    return len(set(one) & set(other)) / len(union) if union else 1.0


def count_new_questions(questions: Iterable[Question]) -> Tally:
    """New questions with their answers (none reviewed yet), counted before they are written,
    so that the writer holds SQLite's one write lock no longer than its statements take."""
    tally = Tally()
    for question in questions:
        tally.question(question)
        if question.reviewed_at is not None:  # not made by the site, but counted right
            tally.counters["reviewed"] += 1
            tally.reviewed(question.reviewed_at, question.verdicts())
        for answer in question.answers:
            tally.answer(answer)
            if question.reviewed_at is not None:
                tally.review(answer, question.verdicts(), question.reviewed_at)
        for one, other in combinations(question.answers, 2):
            tally.pair(one, other)
    return tally


def record_new_answer(session: AnySession, question: Question, answer: ModelAnswer) -> None:
    """One more model's answer on a stored question (``question`` read under
    ``lock_question``, ``answer`` already among its answers)."""
    tally = Tally()
    tally.answer(answer)
    for other in question.answers:
        if other is not answer:
            tally.pair(answer, other)
    if question.reviewed_at is not None:
        tally.review(answer, question.verdicts(), question.reviewed_at)
    apply(session, tally)


def record_review(
    session: AnySession,
    question: Question,
    previous: dict[str, str] | None,
    previous_at: datetime | None = None,
) -> None:
    """A question's review replaced: ``previous`` is its verdicts before (None when it was
    not reviewed) and ``previous_at`` when they were saved; the question holds the new
    ones. The latest review counts alone."""
    assert question.reviewed_at is not None
    tally = Tally()
    if previous is None:
        tally.counters["reviewed"] += 1
    else:
        assert previous_at is not None, "a replaced review needs the time it was saved"
        tally.reviewed(previous_at, previous, sign=-1)
    verdicts = question.verdicts()
    tally.reviewed(question.reviewed_at, verdicts)
    for answer in question.answers:
        if previous is not None and previous_at is not None:
            tally.review(answer, previous, previous_at, sign=-1)
        tally.review(answer, verdicts, question.reviewed_at)
    apply(session, tally)


def record_deleted_question(session: AnySession, question: Question) -> None:
    """Take back everything a question counted (``question`` read under ``lock_question``),
    before its rows are deleted."""
    tally = Tally()
    tally.question(question, sign=-1)
    reviewed_at = question.reviewed_at
    if reviewed_at is not None:
        tally.counters["reviewed"] -= 1
        tally.reviewed(reviewed_at, question.verdicts(), sign=-1)
    for answer in question.answers:
        tally.answer(answer, sign=-1)
        if reviewed_at is not None:
            tally.review(answer, question.verdicts(), reviewed_at, sign=-1)
    for one, other in combinations(question.answers, 2):
        tally.pair(one, other, sign=-1)
    apply(session, tally)


def lock_question(session: AnySession, question: Question) -> None:
    """Inside a write transaction: wait for any other writer on this question, then read it
    again (its answers and review), so what is counted is what is stored. PostgreSQL
    locks the row; SQLite has one writer at a time, so a first write takes the lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.refresh(question, with_for_update=True)
        return
    lock = update(Question).where(Question.id == question.id).values(top_k=Question.top_k)
    session.execute(lock.execution_options(synchronize_session=False))
    session.refresh(question)


def apply(session: AnySession, tally: Tally) -> None:
    counters = sorted((name, value) for name, value in tally.counters.items() if value)
    latency = sorted((key, value) for key, value in tally.latency.items() if value)
    if counters:
        add_up(session, StatsCounter.__table__, [{"name": name, "value": value} for name, value in counters], "value")
    if latency:
        rows = [{"model": model, "bucket": bucket, "answers": value} for (model, bucket), value in latency]
        add_up(session, StatsLatency.__table__, rows, "answers")


def add_up(session: AnySession, table, rows: list[dict], column: str) -> None:
    """Insert the rows, or add their ``column`` to the rows already there, in the given order
    (which is the order PostgreSQL locks them in): one statement run for each row, compiled
    once per process (as one multi-row VALUES it was compiled anew for every write, a large
    part of the time a question held SQLite's write lock)."""
    session.execute(_upsert(session.get_bind().dialect.name, table, column), rows)


@lru_cache(maxsize=8)
def _upsert(dialect: str, table, column: str):
    insert: Any = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=[key.name for key in table.primary_key],
        set_={column: table.c[column] + statement.excluded[column]},
    )


# -- reading ------------------------------------------------------------------------------


def read_counters(session: AnySession) -> dict[str, float]:
    """Every counter but the per-tag ones (thousands: ``read_tag_counters`` picks the few shown)."""
    rows = session.execute(text("SELECT name, value FROM stats_counters WHERE substr(name, 1, 4) <> 'tag:'"))
    return {name: value for name, value in rows}


def read_tag_counters(
    session: AnySession, top: int, added: int, names_of: Callable[[str], Iterable[str]] | None = None
) -> dict[str, float]:
    """The counters of the ``top`` most suggested and the ``top`` most rejected tags (ties by
    name in code point order, as Python sorts), and of the ``added`` most added ones (more:
    the caller keeps those no model knows), each with all its counters. Each pick is one
    scan of the tag counters in the database; only the chosen tags come back, with those of
    every other name of theirs (``names_of``: the catalogue's, so that tsql counts with t-sql).
    With ``names_of`` twice as many are picked: the caller adds a tag's names together, so a
    tag split over two names, or two names of one tag among the best, still leave ``top``."""
    binary = ' COLLATE "C"' if session.get_bind().dialect.name == "postgresql" else ""
    chosen: set[str] = set()
    wider = 2 if names_of is not None else 1
    for kind, limit in (("suggested", top * wider), ("rejected", top * wider), ("added", added)):
        rows = session.execute(
            text(
                "SELECT name FROM stats_counters WHERE substr(name, 1, 4) = 'tag:'"
                f" AND name LIKE :pattern AND value > 0 ORDER BY value DESC, name{binary} LIMIT :limit"
            ),
            {"pattern": f"tag:%:{kind}", "limit": limit},
        )
        chosen.update(name.removeprefix("tag:").rpartition(":")[0] for (name,) in rows)
    if names_of is not None:
        chosen.update(other for tag in list(chosen) for other in names_of(tag))
    names = [f"tag:{tag}:{kind}" for tag in sorted(chosen) for kind in ("suggested", "rejected", "added")]
    found: dict[str, float] = {}
    for start in range(0, len(names), 500):  # bounded IN lists
        statement = text("SELECT name, value FROM stats_counters WHERE name IN :names").bindparams(
            bindparam("names", expanding=True)
        )
        found.update({name: value for name, value in session.execute(statement, {"names": names[start : start + 500]})})
    return found


def read_all_tag_counters(session: AnySession) -> dict[str, float]:
    """Every per-tag counter (the tests compare them with the rows; the page reads a few)."""
    rows = session.execute(text("SELECT name, value FROM stats_counters WHERE substr(name, 1, 4) = 'tag:'"))
    return {name: value for name, value in rows}


def read_histograms(session: AnySession) -> dict[str, list[tuple[int, int]]]:
    histograms: dict[str, list[tuple[int, int]]] = {}
    rows = session.execute(text("SELECT model, bucket, answers FROM stats_latency ORDER BY model, bucket"))
    for model, bucket, answers in rows:
        if answers:
            histograms.setdefault(model, []).append((bucket, answers))
    return histograms


def percentile(histogram: list[tuple[int, int]], q: int) -> float | None:
    """Nearest-rank percentile of a model's latencies, from its histogram: the latency of the
    bucket that holds that rank, to three significant digits (rounded down). No per-answer
    index is kept to read the exact value from: it cost every stored answer a write at a
    random place in a big b-tree (0014_lighter_answers)."""
    total = sum(answers for _, answers in histogram)
    if not total:
        return None
    rank = max(1, -(-total * q // 100))  # ceil without floats drifting
    below = 0
    for bucket, answers in histogram:
        below += answers
        if below >= rank:
            return bucket_floor(bucket)
    return bucket_floor(histogram[-1][0])


# -- rebuilding from the rows -------------------------------------------------------------


def rebuild(connection: Connection) -> None:
    """Recompute every counter from the stored rows (in the caller's transaction)."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        # Writers wait until the new totals are committed, then add their own on top.
        connection.execute(text("LOCK TABLE stats_counters, stats_latency IN EXCLUSIVE MODE"))
    connection.execute(text("DELETE FROM stats_counters"))
    connection.execute(text("DELETE FROM stats_latency"))
    for statement in rebuild_statements(dialect):
        connection.execute(text(statement))


def rebuild_statements(dialect: str) -> list[str]:
    """INSERT ... SELECT statements that fill the emptied counter tables from the rows.
    (Migration 0005 runs a frozen copy of these.)"""
    bucket = latency_bucket_sql("latency_ms", dialect)
    # Pairs are named in Python's order of the model names: byte order in SQL too.
    before = 'x.model COLLATE "C" < y.model COLLATE "C"' if dialect == "postgresql" else "x.model < y.model"
    return [
        "INSERT INTO stats_counters (name, value)"
        " SELECT 'questions', count(*) FROM predictions"
        " UNION ALL SELECT 'reviewed', count(*) FROM predictions WHERE reviewed_at IS NOT NULL",
        "INSERT INTO stats_latency (model, bucket, answers)"
        f" SELECT model, bucket, count(*) FROM (SELECT model, {bucket} AS bucket FROM model_answers) AS answers"
        " GROUP BY model, bucket",
        # Per answer of a reviewed question: its distinct tags that have a verdict (judged),
        # those that are right (correct), and the question's right tags (so missed = right - correct).
        per_answer_review({"model": "a.model"}, "'model:' || per_model.model || ':' || what.name"),
        # Per pair of answers to one question: the same first tag, and the Jaccard index of
        # their distinct tags (1 when both are empty).
        "WITH answer_sets AS (SELECT a.id, a.prediction_id, a.model,"
        "  (SELECT count(DISTINCT s.tag) FROM suggested_tags s WHERE s.answer_id = a.id) AS size,"
        "  (SELECT s.tag FROM suggested_tags s WHERE s.answer_id = a.id ORDER BY s.rank, s.id LIMIT 1) AS top"
        " FROM model_answers a"
        " WHERE EXISTS (SELECT 1 FROM model_answers b WHERE b.prediction_id = a.prediction_id AND b.id <> a.id))"
        " INSERT INTO stats_counters (name, value)"
        " SELECT 'pair:' || per_pair.first || ':' || per_pair.second || ':' || what.name,"
        "  CASE what.name WHEN 'questions' THEN per_pair.questions WHEN 'same_top' THEN per_pair.same_top"
        "   ELSE per_pair.jaccard END"
        " FROM (SELECT first, second, count(*) AS questions, sum(same_top) AS same_top,"
        "   sum(CASE WHEN first_size + second_size - shared = 0 THEN 1.0"
        "    ELSE CAST(shared AS DOUBLE PRECISION) / (first_size + second_size - shared) END) AS jaccard"
        "  FROM (SELECT x.model AS first, y.model AS second,"
        "    CASE WHEN x.top = y.top THEN 1 ELSE 0 END AS same_top, x.size AS first_size, y.size AS second_size,"
        "    coalesce(o.shared, 0) AS shared"
        "   FROM answer_sets x JOIN answer_sets y ON y.prediction_id = x.prediction_id AND " + before + ""
        "   LEFT JOIN (SELECT sx.answer_id AS first_id, sy.answer_id AS second_id, count(DISTINCT sx.tag) AS shared"
        "    FROM model_answers x JOIN model_answers y ON y.prediction_id = x.prediction_id AND " + before + ""
        "    JOIN suggested_tags sx ON sx.answer_id = x.id"
        "    JOIN suggested_tags sy ON sy.answer_id = y.id AND sy.tag = sx.tag"
        "    GROUP BY sx.answer_id, sy.answer_id) AS o ON o.first_id = x.id AND o.second_id = y.id"
        "  ) AS pairs GROUP BY first, second) AS per_pair"
        " CROSS JOIN (SELECT 'questions' AS name UNION ALL SELECT 'same_top' UNION ALL SELECT 'jaccard') AS what",
        *over_time_statements(dialect),
    ]


def day_sql(column: str, dialect: str) -> str:
    """The column's day as text, YYYY-MM-DD."""
    return f"date({column})" if dialect == "sqlite" else f"to_char({column}, 'YYYY-MM-DD')"


def week_sql(column: str, dialect: str) -> str:
    """The Monday of the column's week as text (``week_of``)."""
    if dialect == "sqlite":
        return f"date({column}, 'weekday 0', '-6 days')"  # the next Sunday (or that day), less six days
    return f"to_char(date_trunc('week', {column}), 'YYYY-MM-DD')"


def over_time_statements(dialect: str) -> list[str]:
    """The counters behind the charts (migration 0010 runs a frozen copy of these)."""
    reviewed_day, asked_day = day_sql("reviewed_at", dialect), day_sql("created_at", dialect)
    week = week_sql("p.reviewed_at", dialect)
    return [
        "INSERT INTO stats_counters (name, value)"
        f" SELECT 'day:' || day || ':' || 'questions', count(*) FROM (SELECT {asked_day} AS day FROM predictions) AS d"
        " GROUP BY day"
        f" UNION ALL SELECT 'day:' || day || ':' || 'reviewed', count(*) FROM (SELECT {reviewed_day} AS day"
        "  FROM predictions WHERE reviewed_at IS NOT NULL) AS d GROUP BY day",
        "INSERT INTO stats_counters (name, value)"
        " SELECT 'tag:' || tag || ':' || 'suggested', count(*) FROM suggested_tags GROUP BY tag"
        " UNION ALL SELECT 'tag:' || r.tag || ':' || r.verdict, count(*) FROM reviewed_tags r"
        "  JOIN predictions p ON p.id = r.prediction_id AND p.reviewed_at IS NOT NULL"
        f"  WHERE r.verdict IN {CORRECTIONS!r} GROUP BY r.tag, r.verdict",
        per_answer_review(
            {"model": "a.model", "model_version": "a.model_version", "week": week},
            "'week:' || per_model.week || ':' || per_model.model || ':' || what.name || ':' || per_model.model_version",
        ),
    ]


def per_answer_review(keys: dict[str, str], name: str) -> str:
    """Per group of answers of reviewed questions: how many (reviewed), their distinct tags
    that have a verdict (judged), those that are right (correct), and the question's right
    tags they missed; one counter each, named by ``name`` (over ``per_model`` and ``what``).
    ``keys``: the group's columns, each name with its expression."""
    right = "('accepted', 'added')"
    columns = ", ".join(f"{expression} AS {key}" for key, expression in keys.items())
    group = ", ".join(keys.values())
    return (
        "INSERT INTO stats_counters (name, value)"
        f" SELECT {name},"
        "  CASE what.name WHEN 'reviewed' THEN per_model.reviewed WHEN 'judged' THEN per_model.judged"
        "   WHEN 'correct' THEN per_model.correct ELSE per_model.missed END"
        f" FROM (SELECT {columns}, count(*) AS reviewed, coalesce(sum(j.judged), 0) AS judged,"
        "   coalesce(sum(j.correct), 0) AS correct,"
        "   coalesce(sum(r.right_tags), 0) - coalesce(sum(j.correct), 0) AS missed"
        "  FROM model_answers a JOIN predictions p ON p.id = a.prediction_id AND p.reviewed_at IS NOT NULL"
        "  LEFT JOIN (SELECT answer_id, count(*) AS judged,"
        f"    sum(CASE WHEN verdict IN {right} THEN 1 ELSE 0 END) AS correct"
        "   FROM (SELECT DISTINCT s.answer_id, s.tag, r.verdict FROM reviewed_tags r"
        "    JOIN model_answers a ON a.prediction_id = r.prediction_id"
        "    JOIN suggested_tags s ON s.answer_id = a.id AND s.tag = r.tag) AS verdicts"
        "   GROUP BY answer_id) AS j ON j.answer_id = a.id"
        "  LEFT JOIN (SELECT prediction_id, count(*) AS right_tags FROM reviewed_tags"
        f"   WHERE verdict IN {right} GROUP BY prediction_id) AS r ON r.prediction_id = a.prediction_id"
        f"  GROUP BY {group}) AS per_model"
        " CROSS JOIN (SELECT 'reviewed' AS name UNION ALL SELECT 'judged' UNION ALL SELECT 'correct'"
        "  UNION ALL SELECT 'missed') AS what"
    )


def snapshot(connection: Connection) -> tuple[dict[str, float], dict[tuple[str, int], int]]:
    """Every counter and every latency bucket, as stored."""
    counters = {name: value for name, value in connection.execute(text("SELECT name, value FROM stats_counters"))}
    latency = {
        (model, bucket): answers
        for model, bucket, answers in connection.execute(text("SELECT model, bucket, answers FROM stats_latency"))
    }
    return counters, latency


def differences(
    stored: tuple[dict[str, float], dict[tuple[str, int], int]],
    rebuilt: tuple[dict[str, float], dict[tuple[str, int], int]],
) -> list[str]:
    """What differs between two snapshots, a line each (sums of fractions may differ in
    their last digits, being added in another order: that is no difference)."""
    lines = []
    pairs: list[tuple[str, dict[Any, float], dict[Any, float]]] = [
        ("counter", stored[0], rebuilt[0]),
        ("latency bucket", dict(stored[1]), dict(rebuilt[1])),
    ]
    for kind, one, other in pairs:
        for key in sorted(set(one) | set(other), key=str):
            left, right = one.get(key, 0), other.get(key, 0)
            if not math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-9):
                lines.append(f"{kind} {key}: stored {left}, rows say {right}")
    return lines


stats_cli = AppGroup("stats", help="The running totals behind /stats.")


@stats_cli.command("rebuild")
def rebuild_command() -> None:
    """Recompute every /stats total (and the tag filter's question_tags) from the stored rows."""
    with db.engine.begin() as connection:
        rebuild(connection)
        tag_index.rebuild(connection)
        counters, latency = snapshot(connection)
    click.echo(f"rebuilt {len(counters)} counters and {len(latency)} latency buckets")


@stats_cli.command("check")
def check_command() -> None:
    """Compare the stored totals with the rows (changes nothing); exit status 1 when they differ."""
    with db.engine.connect() as connection, connection.begin() as transaction:
        stored = snapshot(connection)
        rebuild(connection)
        rebuilt = snapshot(connection)
        transaction.rollback()
    lines = differences(stored, rebuilt)
    for line in lines:
        click.echo(line)
    if lines:
        raise SystemExit(1)
    click.echo(f"the totals match the rows ({len(stored[0])} counters, {len(stored[1])} latency buckets)")
