"""/stats over time: counters per day, per model version and week, and per tag

Revision ID: 0010_stats_over_time
Revises: 0006_search
Created: 2026-11-29 03:10:00

The charts on /stats read running totals like the rest of the page (webapp/stats/counters.py):
questions asked and reviewed per day, each model version's review totals per week of the
review, and per tag how often it was suggested, rejected and added. A counter that names a
model version can be longer than the 100 characters the name had, so the name widens to
300 (SQLite copies the small table in batch mode; PostgreSQL widens in place). The new
counters are filled from the rows already stored with a frozen copy of
``counters.over_time_statements`` as of this revision (a migration must not change when the
app does). Downgrading deletes them and narrows the name again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_stats_over_time"
down_revision = "0009_batch_jobs"
branch_labels = None
depends_on = None

PREFIXES = ("day:", "week:", "tag:")


def _delete_over_time_counters() -> None:
    for prefix in PREFIXES:
        op.execute(
            sa.text("DELETE FROM stats_counters WHERE substr(name, 1, :length) = :prefix").bindparams(
                length=len(prefix), prefix=prefix
            )
        )


def upgrade() -> None:
    with op.batch_alter_table("stats_counters") as batch:
        batch.alter_column("name", existing_type=sa.String(100), type_=sa.String(300), existing_nullable=False)
    _delete_over_time_counters()  # none yet, unless a newer site wrote some before a downgrade
    for statement in over_time_statements(op.get_bind().dialect.name):
        op.execute(sa.text(statement))


def downgrade() -> None:
    _delete_over_time_counters()
    with op.batch_alter_table("stats_counters") as batch:
        batch.alter_column("name", existing_type=sa.String(300), type_=sa.String(100), existing_nullable=False)


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
        "  WHERE r.verdict IN ('rejected', 'added') GROUP BY r.tag, r.verdict",
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
