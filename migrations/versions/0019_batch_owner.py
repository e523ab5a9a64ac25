"""batch owner: a batch job belongs to whoever submitted it

Revision ID: 0019_batch_owner
Revises: 0018_catalogue
Created: 2026-12-07 01:00:00

Anyone could list every batch job, download any job's file and cancel another person's
job. Each job now has a key, of which this column keeps the SHA-256: the submitter's browser
keeps the key in its session, an API client is given it, and a reviewer owns their jobs by
``submitted_by`` too (``webapp/batch/access.py``). Jobs from before have no key and are shown
to reviewers only.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_batch_owner"
down_revision = "0018_catalogue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not in batch mode: SQLite would copy the table, and other tables' foreign keys point at it.
    op.add_column("batch_jobs", sa.Column("owner_key", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("batch_jobs", "owner_key")  # SQLite 3.35+ drops a column in place
