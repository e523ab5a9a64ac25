"""64-bit primary and foreign keys

Revision ID: 0003_bigint_keys
Revises: 0002_confident
Created: 2026-11-24 00:20:00

PostgreSQL: every id and the columns that point at one become BIGINT, and each id's sequence
becomes a bigint sequence (a SERIAL's sequence is an integer one and would stop at 2**31 - 1
even in a BIGINT column). SQLite: nothing to do; an INTEGER PRIMARY KEY is the row's 64-bit
rowid already, and BIGINT would lose that.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_bigint_keys"
down_revision = "0002_confident"
branch_labels = None
depends_on = None

KEYS = {
    "predictions": ["id"],
    "model_answers": ["id", "prediction_id"],
    "suggested_tags": ["id", "answer_id"],
    "reviewed_tags": ["id", "prediction_id"],
}


def _change(new: sa.types.TypeEngine, old: sa.types.TypeEngine, sequence_type: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        return
    for table, columns in KEYS.items():
        for column in columns:
            op.alter_column(table, column, type_=new, existing_type=old, existing_nullable=False)
        if bind.dialect.name == "postgresql":
            sequence = bind.execute(sa.text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table}).scalar()
            if sequence:
                op.execute(f"ALTER SEQUENCE {sequence} AS {sequence_type}")


def upgrade() -> None:
    _change(sa.BigInteger(), sa.Integer(), "bigint")


def downgrade() -> None:
    _change(sa.Integer(), sa.BigInteger(), "integer")
