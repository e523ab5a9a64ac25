"""What the site stores: each submitted question, every model's answer, and its review."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import search
from .extensions import db

if TYPE_CHECKING:
    # mypy cannot take db.Model, an attribute set when ``db`` is made, as a base class
    # (python/mypy#8603). db.Model is a subclass Flask-SQLAlchemy builds from Base, with Base's
    # metadata and registry, so Base describes it; at run time the tables are db.Model's as before.
    from .extensions import Base as Model
else:
    Model = db.Model

ACCEPTED, REJECTED, ADDED = "accepted", "rejected", "added"

# Keys are 64-bit: BIGINT (with a bigint sequence) on PostgreSQL. SQLite keeps INTEGER, the
# only type that makes the key an alias of its 64-bit rowid (BIGINT PRIMARY KEY would not
# number rows by itself).
ID = BigInteger().with_variant(Integer(), "sqlite")


def utc_now() -> datetime:
    # Stored naive, always UTC: SQLite has no time zones and Postgres would convert.
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


class Prediction(Model):
    """One submitted question and the settings it was asked with."""

    __tablename__ = "predictions"
    # The reviewed questions in id order: the export reads them in chunks by id, and the
    # history's "reviewed" filter pages through them, without visiting the other 90%.
    __table_args__ = (
        Index(
            "ix_predictions_reviewed_id",
            "id",
            sqlite_where=text("reviewed_at IS NOT NULL"),
            postgresql_where=text("reviewed_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    source: Mapped[str] = mapped_column(String(8))  # "web" or "api"
    top_k: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[float | None] = mapped_column(Float)  # None: each model's tuned thresholds
    reviewed_at: Mapped[datetime | None] = mapped_column(index=True)

    answers: Mapped[list[ModelAnswer]] = relationship(
        back_populates="prediction", cascade="all, delete-orphan", order_by="ModelAnswer.model", lazy="selectin"
    )
    review: Mapped[list[ReviewedTag]] = relationship(
        cascade="all, delete-orphan", order_by="ReviewedTag.position", lazy="selectin"
    )

    def answer(self, model: str) -> ModelAnswer | None:
        return next((answer for answer in self.answers if answer.model == model), None)

    def suggested_tags(self) -> list[str]:
        """Every tag any model suggested, best score first: what the review decides on."""
        best: dict[str, float] = {}
        for answer in self.answers:
            for tag in answer.tags:
                best[tag.tag] = max(best.get(tag.tag, 0.0), tag.score)
        return sorted(best, key=lambda tag: (-best[tag], tag))

    def verdicts(self) -> dict[str, str]:
        return {item.tag: item.verdict for item in self.review}

    def right_tags(self) -> list[str]:
        """The review's answer: accepted suggestions, then the tags the reviewer added."""
        accepted = [item.tag for item in self.review if item.verdict == ACCEPTED]
        return accepted + [item.tag for item in self.review if item.verdict == ADDED]


# The full-text index (webapp/search.py) is made and dropped with the table.
search.install(Prediction.__table__)


class ModelAnswer(Model):
    """One model's tags for one question, with the model version and time it took."""

    __tablename__ = "model_answers"
    __table_args__ = (
        UniqueConstraint("prediction_id", "model"),
        # /stats reads each latency percentile from here: an exact value within a few rows.
        Index("ix_model_answers_model_latency", "model", "latency_ms"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    prediction_id: Mapped[int] = mapped_column(ID, ForeignKey("predictions.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(32), index=True)
    model_version: Mapped[str] = mapped_column(String(200))
    latency_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    prediction: Mapped[Prediction] = relationship(back_populates="answers")
    tags: Mapped[list[SuggestedTag]] = relationship(
        cascade="all, delete-orphan", order_by="SuggestedTag.rank", lazy="selectin"
    )

    def tag_names(self) -> list[str]:
        return [tag.tag for tag in self.tags]


class SuggestedTag(Model):
    __tablename__ = "suggested_tags"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    answer_id: Mapped[int] = mapped_column(ID, ForeignKey("model_answers.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    tag: Mapped[str] = mapped_column(String(64), index=True)
    score: Mapped[float] = mapped_column(Float)
    # False for the top-1 fallback when no tag reached its threshold: shown as a guess.
    # Answers stored before this column existed read as confident, as they were shown.
    confident: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class ReviewedTag(Model):
    """A reviewer's verdict on a suggested tag, or a tag the reviewer added."""

    __tablename__ = "reviewed_tags"
    __table_args__ = (UniqueConstraint("prediction_id", "tag"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    prediction_id: Mapped[int] = mapped_column(ID, ForeignKey("predictions.id", ondelete="CASCADE"), index=True)
    tag: Mapped[str] = mapped_column(String(64), index=True)
    verdict: Mapped[str] = mapped_column(String(8))
    position: Mapped[int] = mapped_column(Integer)


class Heartbeat(Model):
    """One row the readiness check rewrites: proof the database still accepts writes."""

    __tablename__ = "heartbeats"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=False)
    beat_at: Mapped[datetime] = mapped_column(DateTime)


class StatsCounter(Model):
    """One running total behind /stats (webapp/counters.py names them), changed in the same
    transaction as the rows it counts. Counts are whole numbers, exact in a double up to
    2**53; the Jaccard sums are fractions."""

    __tablename__ = "stats_counters"

    name: Mapped[str] = mapped_column(String(300), primary_key=True)  # a week counter names a model version
    value: Mapped[float] = mapped_column(Float)


class StatsLatency(Model):
    """How many of a model's answers took a latency in each bucket (three significant
    digits of milliseconds, see ``counters.latency_bucket``): which bucket holds a
    percentile, read exactly from model_answers within that bucket."""

    __tablename__ = "stats_latency"

    model: Mapped[str] = mapped_column(String(32), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    answers: Mapped[int] = mapped_column(BigInteger)
