"""running totals behind /stats, filled from the rows already stored

Revision ID: 0005_stats
Revises: 0004_heartbeats
Created: 2026-11-25 00:00:00

/stats read every question into Python; it now reads totals kept as rows are written
(webapp/stats/counters.py). This makes the two tables, the (model, latency_ms) index the exact
percentiles are read from, and fills the totals from the existing rows with set-based SQL,
so an upgraded site shows the same figures as before. The SQL is a frozen copy of
``counters.rebuild_statements`` as of this revision (a migration must not change when the
app does); ``flask --app webapp stats rebuild`` runs the app's own.
"""

import math

import sqlalchemy as sa
from alembic import op

revision = "0005_stats"
down_revision = "0004_heartbeats"
branch_labels = None
depends_on = None

DECADES: tuple[tuple[float, str, int], ...] = (
    (1.0, "*", 1000),
    (10.0, "*", 100),
    (100.0, "*", 10),
    (1000.0, "*", 1),
    (10_000.0, "/", 10),
    (100_000.0, "/", 100),
    (math.inf, "/", 1000),
)


def latency_bucket_sql(column: str, dialect: str) -> str:
    """webapp.stats.counters.latency_bucket as of this revision, as a SQL expression on ``column``."""
    whole = "CAST({} AS INTEGER)" if dialect == "sqlite" else "CAST(floor({}) AS BIGINT)"  # SQLite truncates
    cases = []
    for decade, (limit, operator, factor) in enumerate(DECADES):
        value = f"{decade * 1000} + {whole.format(f'{column} {operator} {factor}')}"
        cases.append(f"ELSE {value}" if math.isinf(limit) else f"WHEN {column} < {limit!r} THEN {value}")
    return f"(CASE {' '.join(cases)} END)"


def rebuild_statements(dialect: str) -> list[str]:
    bucket = latency_bucket_sql("latency_ms", dialect)
    # Pairs are named in Python's order of the model names: byte order in SQL too.
    before = 'x.model COLLATE "C" < y.model COLLATE "C"' if dialect == "postgresql" else "x.model < y.model"
    right = "('accepted', 'added')"
    return [
        "INSERT INTO stats_counters (name, value)"
        " SELECT 'questions', count(*) FROM predictions"
        " UNION ALL SELECT 'reviewed', count(*) FROM predictions WHERE reviewed_at IS NOT NULL",
        "INSERT INTO stats_latency (model, bucket, answers)"
        f" SELECT model, bucket, count(*) FROM (SELECT model, {bucket} AS bucket FROM model_answers) AS answers"
        " GROUP BY model, bucket",
        # Per answer of a reviewed question: its distinct tags that have a verdict (judged),
        # those that are right (correct), and the question's right tags (so missed = right - correct).
        "INSERT INTO stats_counters (name, value)"
        " SELECT 'model:' || per_model.model || ':' || what.name,"
        "  CASE what.name WHEN 'reviewed' THEN per_model.reviewed WHEN 'judged' THEN per_model.judged"
        "   WHEN 'correct' THEN per_model.correct ELSE per_model.missed END"
        " FROM (SELECT a.model, count(*) AS reviewed, coalesce(sum(j.judged), 0) AS judged,"
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
        "  GROUP BY a.model) AS per_model"
        " CROSS JOIN (SELECT 'reviewed' AS name UNION ALL SELECT 'judged' UNION ALL SELECT 'correct'"
        "  UNION ALL SELECT 'missed') AS what",
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
    ]


def upgrade() -> None:
    op.create_table(
        "stats_counters",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "stats_latency",
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("bucket", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("answers", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("model", "bucket"),
    )
    with op.batch_alter_table("model_answers", schema=None) as batch_op:
        batch_op.create_index("ix_model_answers_model_latency", ["model", "latency_ms"], unique=False)
    dialect = op.get_bind().dialect.name
    for statement in rebuild_statements(dialect):
        op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table("model_answers", schema=None) as batch_op:
        batch_op.drop_index("ix_model_answers_model_latency")
    op.drop_table("stats_latency")
    op.drop_table("stats_counters")
