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

from webapp.core.extensions import db
from webapp.history import search

if TYPE_CHECKING:
    # mypy cannot take db.Model, an attribute set when ``db`` is made, as a base class
    # (python/mypy#8603). db.Model is a subclass Flask-SQLAlchemy builds from Base, with Base's
    # metadata and registry, so Base describes it; at run time the tables are db.Model's as before.
    from webapp.core.extensions import Base as Model
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


class Question(Model):
    """One submitted question and the settings it was asked with."""

    __tablename__ = "predictions"
    # The reviewed questions in id order: the export reads them in chunks by id, and the
    # history's "reviewed" filter pages through them, without visiting the many never reviewed.
    __table_args__ = (
        Index(
            "ix_predictions_reviewed_id",
            "id",
            sqlite_where=text("reviewed_at IS NOT NULL"),
            postgresql_where=text("reviewed_at IS NOT NULL"),
        ),
        # Every id alone, in order: ``?page=N`` skips (N - 1) x 20 entries of this instead of
        # SQLite's table b-tree, whose leaves hold the titles and bodies (a deep page is many
        # times faster). On PostgreSQL it doubles the primary key's index, kept so that both
        # databases have one schema.
        Index("ix_predictions_id", "id"),
        # Reviewed questions by review time (live learning's catch-up): those never reviewed
        # stay out of it, one b-tree less written per question (0012_leaner_writes).
        Index(
            "ix_predictions_reviewed_at",
            "reviewed_at",
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
    reviewed_at: Mapped[datetime | None] = mapped_column()

    answers: Mapped[list[ModelAnswer]] = relationship(
        back_populates="question", cascade="all, delete-orphan", order_by="ModelAnswer.model", lazy="selectin"
    )
    # The current verdicts: a copy of the latest review in ``reviews`` (the log), which the
    # history's filters, the export and /stats read without looking through the log.
    review: Mapped[list[ReviewedTag]] = relationship(
        cascade="all, delete-orphan", order_by="ReviewedTag.position", lazy="selectin"
    )
    # Newest first; read only by the question's own page and API answer.
    reviews: Mapped[list[Review]] = relationship(
        cascade="all, delete-orphan", order_by="Review.id.desc()", lazy="select", passive_deletes=True
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


# The full-text index (webapp/history/search.py) is made and dropped with the table.
search.install(Question.__table__)


class ModelAnswer(Model):
    """One model's tags for one question, with the model version and time it took."""

    __tablename__ = "model_answers"
    __table_args__ = (
        # Also the index of the answers by question (and of the cascade from predictions): no
        # single-column index repeats it (0012_leaner_writes). None by latency: each answer
        # would write it at a random place (0014_lighter_answers).
        UniqueConstraint("prediction_id", "model"),
        # The history's model filter, newest first. A new answer goes at the end of its
        # model's range (ids grow), so each write touches a page a recent write touched.
        # Without it the filter checked each question for the model's answer, far too slow at a
        # million questions for a model that answered none (0016_answers_by_model).
        Index("ix_model_answers_model_question", "model", "prediction_id"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    prediction_id: Mapped[int] = mapped_column(ID, ForeignKey("predictions.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(32))
    model_version: Mapped[str] = mapped_column(String(200))
    latency_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    question: Mapped[Question] = relationship(back_populates="answers")
    tags: Mapped[list[SuggestedTag]] = relationship(
        cascade="all, delete-orphan", order_by="SuggestedTag.rank", lazy="selectin"
    )

    def tag_names(self) -> list[str]:
        return [tag.tag for tag in self.tags]


class SuggestedTag(Model):
    """A tag a model suggested. No index by tag (0014_lighter_answers): question_tags finds a
    tag's questions."""

    __tablename__ = "suggested_tags"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    answer_id: Mapped[int] = mapped_column(ID, ForeignKey("model_answers.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    tag: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    # False for the top-1 fallback when no tag reached its threshold: shown as a guess.
    # Answers stored before this column existed read as confident, as they were shown.
    confident: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class ReviewedTag(Model):
    """A reviewer's verdict on a suggested tag, or a tag the reviewer added."""

    __tablename__ = "reviewed_tags"
    __table_args__ = (
        UniqueConstraint("prediction_id", "tag"),
        # The questions with a right tag, in id order: the history's exportable count merges
        # it with the reviewed ids (far faster than as a hash join on PostgreSQL).
        Index(
            "ix_reviewed_tags_right",
            "prediction_id",
            sqlite_where=text("verdict != 'rejected'"),
            postgresql_where=text("verdict != 'rejected'"),
        ),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    prediction_id: Mapped[int] = mapped_column(ID, ForeignKey("predictions.id", ondelete="CASCADE"), index=True)
    tag: Mapped[str] = mapped_column(String(64), index=True)
    verdict: Mapped[str] = mapped_column(String(8))
    position: Mapped[int] = mapped_column(Integer)


class Reviewer(Model):
    """Someone allowed to review, export and delete (``flask reviewer create``). Never
    deleted, only deactivated, so every review keeps its author."""

    __tablename__ = "reviewers"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Part of every login cookie's id: logging out moves it, so a cookie copied before is void.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # The learning models learn nothing from this reviewer's reviews logged up to this review
    # log id (``flask --app webapp tagsmith forget --reviewer NAME``); the reviews stay. An id,
    # not a time: times are kept to the second.
    forgotten_through: Mapped[int | None] = mapped_column(BigInteger)

    # Flask-Login's user interface, written out: its UserMixin would call every reviewer active.
    @property
    def is_active(self) -> bool:
        return self.active

    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"


class ApiToken(Model):
    """A reviewer's token for the JSON API. Only its SHA-256 is stored: the token is 256
    random bits, so a fast hash is as safe as a slow one, and a lookup is one index probe."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(ID, ForeignKey("reviewers.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    reviewer: Mapped[Reviewer] = relationship(lazy="joined")


class Review(Model):
    """One saved review: the log is only appended to (the latest review of a question counts);
    its rows go only with their question."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    prediction_id: Mapped[int] = mapped_column(ID, ForeignKey("predictions.id", ondelete="CASCADE"), index=True)
    # None: saved before reviewer accounts existed (migration 0007 logged those reviews).
    reviewer_id: Mapped[int | None] = mapped_column(ID, ForeignKey("reviewers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)

    reviewer: Mapped[Reviewer | None] = relationship(lazy="joined")
    verdicts: Mapped[list[ReviewVerdict]] = relationship(
        cascade="all, delete-orphan", order_by="ReviewVerdict.position", lazy="selectin", passive_deletes=True
    )

    @property
    def reviewer_name(self) -> str | None:
        return self.reviewer.name if self.reviewer else None


class ReviewVerdict(Model):
    """One verdict of a logged review (the same shape as ``ReviewedTag``)."""

    __tablename__ = "review_verdicts"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    review_id: Mapped[int] = mapped_column(ID, ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    tag: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(8))
    position: Mapped[int] = mapped_column(Integer)


class QuestionTag(Model):
    """A tag a question is found under in the history's tag filter: one a model suggested for
    it or its review marked right (accepted or added). Derived from the answers and the
    review, written with them (``tag_index.add_new``, ``tag_index.refresh``); the filter reads
    a tag's questions, newest first, from the primary key, where joining a million answers'
    tags cost over half a second for a common tag. ``models``: a bit (``tag_index.MODEL_BITS``)
    for each model under which the tag-and-model filter keeps the question."""

    __tablename__ = "question_tags"

    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    prediction_id: Mapped[int] = mapped_column(
        ID, ForeignKey("predictions.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    models: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ForgottenQuestion(Model):
    """A reviewed question that was deleted: every worker that learned its review forgets it
    (``webapp/review/learning.py`` polls these as it polls reviews). No foreign key: the question is
    gone; SQLite may even give its id to a new question, whose later review is learned again."""

    __tablename__ = "forgotten_questions"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    prediction_id: Mapped[int] = mapped_column(ID)
    deleted_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now, index=True)


REVIEW_CHANGES_ROW = 1
# A second row moves when a reviewer's lessons stop or start counting (forgotten, deactivated,
# made active again): every worker then teaches its models every review again.
LESSONS_ROW = 2


class ReviewChanges(Model):
    """One row, one number: each saved review and each deletion of a reviewed question adds
    one to it in its own transaction. Every worker reads it before each suggestion and polls
    the reviews (``webapp/review/learning.py``) only when it moved: the poll's two queries cost
    a share of every suggestion, more as the history grows; this one row costs next to
    nothing. Absent until the first change."""

    __tablename__ = "review_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


class LoginAttempts(Model):
    """Login attempts per client address in its current window (``TAGSMITH_LOGIN_LIMIT``),
    counted here so the limit holds across workers without a shared cache."""

    __tablename__ = "login_attempts"

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    window_end: Mapped[datetime] = mapped_column(DateTime, index=True)


class Heartbeat(Model):
    """One row the readiness check rewrites: proof the database still accepts writes."""

    __tablename__ = "heartbeats"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=False)
    beat_at: Mapped[datetime] = mapped_column(DateTime)


class StatsCounter(Model):
    """One running total behind /stats (webapp/stats/counters.py names them), changed in the same
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


# Batch files (webapp/batch/jobs.py): a job, and each row of its file with the question it became.
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


class BatchJob(Model):
    """One uploaded file of questions, tagged in the background. ``claimed_by`` names the
    runner thread working on it and ``heartbeat_at`` when it last committed: a running job
    whose heartbeat is stale lost its worker and may be claimed again."""

    __tablename__ = "batch_jobs"
    __table_args__ = (Index("ix_batch_jobs_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    status: Mapped[str] = mapped_column(String(10), default=QUEUED)
    format: Mapped[str] = mapped_column(String(8))  # "csv" or "jsonl"
    filename: Mapped[str] = mapped_column(String(200))
    header: Mapped[str | None] = mapped_column(Text)  # a CSV's columns, as a JSON list
    models: Mapped[str] = mapped_column(String(200))  # comma-separated model names
    top_k: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[str | None] = mapped_column(Text)  # why the job failed
    source: Mapped[str] = mapped_column(String(8))  # "web" or "api": how it was uploaded
    submitted_by: Mapped[int | None] = mapped_column(ID)  # the reviewer who submitted it, if one did
    owner_key: Mapped[str | None] = mapped_column(String(64))  # sha256 of its key (webapp/batch/access.py)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    finished_at: Mapped[datetime | None] = mapped_column()

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(self.models.split(","))

    @property
    def finished(self) -> bool:
        return self.status in (DONE, FAILED, CANCELLED)


class BatchItem(Model):
    """One question of a batch file: its cleaned title and body, the row as uploaded (written
    back with the tags), and the stored question once tagged."""

    __tablename__ = "batch_items"
    __table_args__ = (UniqueConstraint("job_id", "position"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    job_id: Mapped[int] = mapped_column(ID, ForeignKey("batch_jobs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # 0, 1, ... in file order
    line: Mapped[int] = mapped_column(Integer)  # where the row starts in the file
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    original: Mapped[str] = mapped_column(Text)  # the row as uploaded, JSON
    prediction_id: Mapped[int | None] = mapped_column(ID, ForeignKey("predictions.id", ondelete="SET NULL"), index=True)


class CatalogueImport(Model):
    """One import of a newer tag catalogue (``flask --app webapp tagsmith catalogue import``):
    its id is the site catalogue's version, and what it changed is kept as its report."""

    __tablename__ = "catalogue_imports"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    imported_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    source: Mapped[str] = mapped_column(String(300))
    tags: Mapped[int] = mapped_column(Integer)
    added: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    renamed: Mapped[int] = mapped_column(Integer)
    synonyms: Mapped[int] = mapped_column(Integer)


class CatalogueTag(Model):
    """A tag as the newest import says: over the bundled catalogue's count, or new."""

    __tablename__ = "catalogue_tags"

    name: Mapped[str] = mapped_column(String(35), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    import_id: Mapped[int] = mapped_column(ForeignKey("catalogue_imports.id"))


class CatalogueSynonym(Model):
    """A synonym as the newest import says (``source`` renamed to ``target``); a tag that is no
    longer a synonym of anything is stored as its own target."""

    __tablename__ = "catalogue_synonyms"

    source: Mapped[str] = mapped_column(String(35), primary_key=True)
    target: Mapped[str] = mapped_column(String(35))
    import_id: Mapped[int] = mapped_column(ForeignKey("catalogue_imports.id"))
