"""catalogue: tags, counts and synonyms imported from a newer Stack Exchange catalogue

Revision ID: 0018_catalogue
Revises: 0017_review_changes
Created: 2026-12-07 00:40:00

The bundled catalogue stops in 2021. ``flask --app webapp tagsmith catalogue import`` reads
a data dump's Tags.xml or a saved API /tags response and stores what it changes here, over
the bundled one; each import is a version every worker picks up without a restart.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_catalogue"
down_revision = "0017_review_changes"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "catalogue_imports",
        sa.Column("id", ID, nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("tags", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("renamed", sa.Integer(), nullable=False),
        sa.Column("synonyms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "catalogue_tags",
        sa.Column("name", sa.String(length=35), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("import_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["catalogue_imports.id"]),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "catalogue_synonyms",
        sa.Column("source", sa.String(length=35), nullable=False),
        sa.Column("target", sa.String(length=35), nullable=False),
        sa.Column("import_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["catalogue_imports.id"]),
        sa.PrimaryKeyConstraint("source"),
    )


def downgrade() -> None:
    op.drop_table("catalogue_synonyms")
    op.drop_table("catalogue_tags")
    op.drop_table("catalogue_imports")
