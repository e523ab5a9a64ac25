"""tag models: question_tags says under which models the tag-and-model filter keeps each row

Revision ID: 0015_tag_models
Revises: 0014_lighter_answers
Created: 2026-11-29 16:00:00

The history's filter by a tag and a model checked each of the tag's questions for the
model's answer and its review (three EXISTS a row): at a million questions, PostgreSQL took
up to 285 ms to count a common tag's 10,000 matches. ``question_tags.models`` holds a bit per
model (webapp/history/tag_index.py's MODEL_BITS) under which the question is kept: the model answered
it, and its answer has the tag or the review kept it. The filter then reads one range of the
primary key. The table is recomputed from the answers and reviews, with its own copy of the
rule (as 0008), so later changes to the code do not change what this revision does.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_tag_models"
down_revision = "0014_lighter_answers"
branch_labels = None
depends_on = None

BITS = {"baseline": 1, "transformer": 2, "omikuji": 4, "lexical": 8, "memory": 16, "ensemble": 32}
BIT = "CASE a.model " + " ".join(f"WHEN '{model}' THEN {bit}" for model, bit in BITS.items()) + " ELSE 0 END"
ROWS = (
    "INSERT INTO question_tags (tag, prediction_id, models)"
    " SELECT tag, prediction_id, sum(DISTINCT bit) FROM ("
    f"SELECT s.tag, a.prediction_id, {BIT} AS bit FROM suggested_tags s JOIN model_answers a ON a.id = s.answer_id"
    f" UNION ALL SELECT r.tag, r.prediction_id, {BIT}"
    " FROM reviewed_tags r JOIN model_answers a ON a.prediction_id = r.prediction_id WHERE r.verdict != 'rejected'"
    " UNION ALL SELECT r.tag, r.prediction_id, 0 FROM reviewed_tags r WHERE r.verdict != 'rejected'"
    ") AS marks GROUP BY tag, prediction_id"
)


def upgrade() -> None:
    with op.batch_alter_table("question_tags") as batch:
        batch.add_column(sa.Column("models", sa.Integer(), server_default="0", nullable=False))
    op.execute("DELETE FROM question_tags")
    op.execute(ROWS)


def downgrade() -> None:
    with op.batch_alter_table("question_tags") as batch:
        batch.drop_column("models")
