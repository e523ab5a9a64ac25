"""Batch jobs: an uploaded file's questions tagged in the background, in chunks, by a small
pool of runner threads in each worker process. No queue server: the job table is the queue.

A job is claimed with a conditional UPDATE (``WHERE status = 'queued'``, or a running job
whose heartbeat is stale), so two runners, in one process or in two, never hold the same
job; each chunk's questions are stored in the same transaction that advances the job's
progress, and only while the runner still holds the claim. A worker that dies mid-job
leaves the job "running" with an old heartbeat: after ``BATCH_STALE_S`` any runner takes it
over and goes on from the first untagged row, so nothing is lost and nothing tagged twice.

Between chunks a runner sleeps ``BATCH_YIELD_PERCENT`` of the time the chunk took, which
leaves the CPU to the ordinary requests of its worker (figures: docs/benchmarks.md, "Batch
files"). Each job runs one model (``BATCH_MODEL``, by default the site's default, the
ensemble): the fastest good answer for 10,000 questions; a stored question can be asked of
others later.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import and_, insert, or_, select, update

from ml.errors import ModelUnavailable, PredictionFailed
from ml.predictor import DEFAULT_TOP_K
from ml.registry import model_names
from webapp.api.serialize import timestamp
from webapp.ask.serving import models
from webapp.ask.suggest import run_models, store_questions
from webapp.batch.files import ParsedFile
from webapp.core.database import transaction
from webapp.core.errors import storage_unavailable
from webapp.core.extensions import db
from webapp.core.inputs import CONTROL_CHARACTERS as _CONTROL
from webapp.core.tables import CANCELLED, DONE, FAILED, QUEUED, RUNNING, BatchItem, BatchJob, ModelAnswer, SuggestedTag

log = logging.getLogger(__name__)
EXTENSION_KEY = "tagsmith.batch_runner"
SOURCE = "batch"
IDLE_POLL_S = 2.0
RESULT_CHUNK = 500

# name in app.config -> (environment variable, default)
SETTINGS = {
    "BATCH_MAX_BYTES": ("TAGSMITH_BATCH_MAX_BYTES", 20 * 1024 * 1024),
    "BATCH_MAX_ROWS": ("TAGSMITH_BATCH_MAX_ROWS", 10_000),
    "BATCH_THREADS": ("TAGSMITH_BATCH_THREADS", 1),  # runner threads per worker; 0: this worker runs none
    "BATCH_CHUNK": ("TAGSMITH_BATCH_CHUNK", 32),
    "BATCH_YIELD_PERCENT": ("TAGSMITH_BATCH_YIELD_PERCENT", 50),
    "BATCH_STALE_S": ("TAGSMITH_BATCH_STALE_S", 60),
}


def configure(app: Flask) -> None:
    """Defaults from the environment, below what ``create_app(config)`` was given."""
    for key, (variable, default) in SETTINGS.items():
        raw = os.environ.get(variable)
        value = int(raw) if raw else default
        app.config.setdefault(key, value)
    app.config.setdefault("BATCH_MODEL", os.environ.get("TAGSMITH_BATCH_MODEL") or app.config["DEFAULT_MODEL"])


def init_app(app: Flask) -> None:
    configure(app)
    threads = app.config["BATCH_THREADS"]
    if not threads or app.testing:
        return
    starting = threading.Lock()

    # Started by the first request, not here: an app made by a `flask` command or by
    # gunicorn's master (which migrates, then forks) serves no request and must run no job.
    @app.before_request
    def start_runner() -> None:
        if EXTENSION_KEY in app.extensions:
            return
        with starting:
            if EXTENSION_KEY not in app.extensions:
                runner = Runner(app, threads)
                runner.start()
                atexit.register(runner.stop)
                app.extensions[EXTENSION_KEY] = runner


class ModelNotReady(Exception):
    """A claimed job's model does not load in this worker; the job went back to the queue."""

    def __init__(self, model: str):
        super().__init__(f"the {model} model is not available in this worker")


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def batch_model() -> str:
    """The configured model when it has an artifact (a job queued for a model this worker
    cannot load waits for it: ``run_chunk``), else the first one that can answer."""
    configured = current_app.config["BATCH_MODEL"]
    registry = models()
    if configured in model_names() and registry.has_artifact(configured):
        return configured
    for name in model_names():
        if registry.state(name).available:
            return name
    raise ModelUnavailable("No model can answer right now, so the file was not queued. Please try again later.")


def submit(
    parsed: ParsedFile, filename: str, source: str, submitted_by: int | None = None, owner_key: str | None = None
) -> BatchJob:
    """Store the job and every row in one transaction, then wake this worker's runners."""
    job = BatchJob(
        status=QUEUED,
        format=parsed.format,
        filename=_CONTROL.sub("", filename)[:200] or "upload",
        header=json.dumps(parsed.header, ensure_ascii=False) if parsed.header is not None else None,
        models=batch_model(),
        top_k=DEFAULT_TOP_K,
        total=len(parsed.rows),
        done=0,
        source=source,
        submitted_by=submitted_by,
        owner_key=owner_key,
    )
    with transaction() as session:
        session.add(job)
        session.flush()
        rows = [
            {
                "job_id": job.id,
                "position": position,
                "line": row.line,
                "title": row.title,
                "body": row.body,
                "original": row.original,
            }
            for position, row in enumerate(parsed.rows)
        ]
        for start in range(0, len(rows), 1000):
            session.execute(insert(BatchItem), rows[start : start + 1000])
    runner = current_app.extensions.get(EXTENSION_KEY)
    if runner is not None:
        runner.wake()
    return job


def cancel(job: BatchJob) -> bool:
    """Stop a job that has not finished; the questions already tagged stay stored."""
    with transaction() as session:
        result = session.execute(
            update(BatchJob)
            .where(BatchJob.id == job.id, BatchJob.status.in_((QUEUED, RUNNING)))
            .values(status=CANCELLED, finished_at=now(), claimed_by=None)
        )
    db.session.refresh(job)
    return result.rowcount == 1  # type: ignore[attr-defined]


def _claimable(stale_before: datetime, runner_id: str):
    """Queued jobs; running ones whose runner stopped beating; and the runner's own running
    job, which it lost hold of when a chunk failed (the database was down): it resumes it at
    once instead of waiting for its own heartbeat to go stale."""
    return or_(
        BatchJob.status == QUEUED,
        and_(
            BatchJob.status == RUNNING,
            or_(
                BatchJob.heartbeat_at.is_(None),
                BatchJob.heartbeat_at < stale_before,
                BatchJob.claimed_by == runner_id,
            ),
        ),
    )


def claim(runner_id: str) -> int | None:
    """The id of the oldest job this runner now holds, or None. One UPDATE: its WHERE makes
    the claim exclusive on both databases, and on SQLite it writes from the start (a read
    first could not be turned into a write once another worker has committed). PostgreSQL
    skips the rows another runner is claiming meanwhile (SKIP LOCKED) instead of waiting."""
    stale_before = now() - timedelta(seconds=current_app.config["BATCH_STALE_S"])
    oldest = (
        select(BatchJob.id)
        .where(_claimable(stale_before, runner_id))
        .order_by(BatchJob.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    with transaction() as session:
        job_id = session.scalar(
            update(BatchJob)
            .where(BatchJob.id == oldest, _claimable(stale_before, runner_id))
            .values(status=RUNNING, claimed_by=runner_id, heartbeat_at=now())
            .returning(BatchJob.id)
        )
    if job_id is not None:
        log.info("runner %s claimed batch job %s", runner_id, job_id)
    return job_id


def run_chunk(job_id: int, runner_id: str) -> bool:
    """Tag and store the next chunk of the job; False once there is nothing more to do
    (done, or the claim was lost: cancelled, or taken over after a stale heartbeat)."""
    session = db.session
    job = session.execute(
        select(BatchJob.models, BatchJob.top_k).where(BatchJob.id == job_id, BatchJob.claimed_by == runner_id)
    ).one_or_none()
    items = session.execute(
        select(BatchItem.id, BatchItem.title, BatchItem.body)
        .where(BatchItem.job_id == job_id, BatchItem.prediction_id.is_(None))
        .order_by(BatchItem.position)
        .limit(current_app.config["BATCH_CHUNK"])
    ).all()
    session.rollback()  # ends the read: SQLite cannot turn an old read snapshot into a write
    if job is None:
        return False
    if not items:
        _finish(job_id, runner_id, DONE)
        return False
    questions = [(item.title, item.body) for item in items]
    try:
        runs, _ = run_models(models(), tuple(job.models.split(",")), questions, job.top_k, None)
    except ModelUnavailable:
        # Its model does not load in this worker: back to the queue for a worker where it
        # does, or for this one once it does (``ServedModels`` retries), never another model.
        release(job_id, runner_id)
        raise ModelNotReady(job.models) from None
    except PredictionFailed as error:
        _finish(job_id, runner_id, FAILED, error.message)
        return False
    with transaction() as session:
        held = session.execute(
            update(BatchJob)
            .where(BatchJob.id == job_id, BatchJob.status == RUNNING, BatchJob.claimed_by == runner_id)
            .values(done=BatchJob.done + len(items), heartbeat_at=now())
        )
        if held.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            return False
        predictions = store_questions(session, runs, questions, job.top_k, None, SOURCE)
        session.execute(
            update(BatchItem),
            [{"id": item.id, "prediction_id": question.id} for item, question in zip(items, predictions, strict=True)],
        )
    return True


def _finish(job_id: int, runner_id: str, status: str, message: str | None = None) -> None:
    with transaction() as session:
        session.execute(
            update(BatchJob)
            .where(BatchJob.id == job_id, BatchJob.status == RUNNING, BatchJob.claimed_by == runner_id)
            .values(status=status, errors=message, finished_at=now(), heartbeat_at=now())
        )


def release(job_id: int, runner_id: str) -> None:
    """Hand a job back to the queue (this worker is stopping): another runner resumes it."""
    with transaction() as session:
        session.execute(
            update(BatchJob)
            .where(BatchJob.id == job_id, BatchJob.status == RUNNING, BatchJob.claimed_by == runner_id)
            .values(status=QUEUED, claimed_by=None)
        )


def run_job(job_id: int, runner_id: str, stopping: threading.Event | None = None) -> None:
    """Chunk after chunk until the job is done or no longer ours, pausing between chunks.
    When ``stopping`` is set the job goes back to the queue after the current chunk."""
    share = current_app.config["BATCH_YIELD_PERCENT"] / 100
    stopping = stopping or threading.Event()
    while not stopping.is_set():
        started = time.perf_counter()
        if not run_chunk(job_id, runner_id):
            return
        db.session.remove()
        stopping.wait((time.perf_counter() - started) * share)
    release(job_id, runner_id)


def run_pending(runner_id: str | None = None) -> int:
    """Run every claimable job to its end in this thread; how many it ran (tests, CLI). A
    job whose model this worker cannot load is left queued, and the others after it too."""
    runner_id = runner_id or new_runner_id()
    count = 0
    while (job_id := claim(runner_id)) is not None:
        try:
            run_job(job_id, runner_id)
        except ModelNotReady:
            break
        count += 1
    return count


def new_runner_id() -> str:
    return f"{os.uname().nodename[:30]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class Runner:
    """``threads`` daemon threads, each claiming one job at a time from the job table."""

    def __init__(self, app: Flask, threads: int):
        self.app = app
        self.threads = [
            threading.Thread(target=self._loop, name=f"tagsmith-batch-{n}", daemon=True) for n in range(threads)
        ]
        self._wake = threading.Event()
        self._stopping = threading.Event()

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Let each thread finish its chunk and hand its job back to the queue."""
        self._stopping.set()
        self._wake.set()
        for thread in self.threads:
            if thread.is_alive():
                thread.join(timeout)

    def _loop(self) -> None:
        runner_id = new_runner_id()
        while not self._stopping.is_set():
            try:
                with self.app.app_context():
                    job_id = claim(runner_id)
                    if job_id is not None:
                        run_job(job_id, runner_id, self._stopping)
                        continue
            except ModelNotReady as waiting:
                log.warning("batch runner %s: job left queued: %s", runner_id, waiting)
            except Exception as error:  # the thread must outlive a database that is down for a while
                if storage_unavailable(error):
                    log.warning("batch runner %s: database unavailable: %s", runner_id, error)
                else:
                    log.exception("batch runner %s failed", runner_id)
            self._wake.wait(IDLE_POLL_S)
            self._wake.clear()


def progress(job: BatchJob) -> dict:
    return {
        "id": job.id,
        "status": job.status,
        "format": job.format,
        "filename": job.filename,
        "model": job.models,
        "total": job.total,
        "done": job.done,
        "percent": round(100 * job.done / job.total, 1) if job.total else 100.0,
        "errors": job.errors,
        "created_at": timestamp(job.created_at),
        "finished_at": timestamp(job.finished_at),
    }


def job_rows(job: BatchJob) -> Iterator[tuple[str, list[tuple[str, float, bool]]]]:
    """(row as uploaded, [(tag, score, confident), ...] best first) in file order, read in
    chunks by position."""
    model = job.model_names[0]
    position = -1
    while True:
        items = db.session.execute(
            select(BatchItem.position, BatchItem.original, BatchItem.prediction_id)
            .where(BatchItem.job_id == job.id, BatchItem.position > position)
            .order_by(BatchItem.position)
            .limit(RESULT_CHUNK)
        ).all()
        if not items:
            return
        tags = _tags_of([item.prediction_id for item in items if item.prediction_id is not None], model)
        for item in items:
            yield item.original, tags.get(item.prediction_id, [])
        position = items[-1].position


def _tags_of(prediction_ids: list[int], model: str) -> dict[int, list[tuple[str, float, bool]]]:
    tags: dict[int, list[tuple[str, float, bool]]] = {prediction_id: [] for prediction_id in prediction_ids}
    if not prediction_ids:
        return tags
    rows = db.session.execute(
        select(ModelAnswer.prediction_id, SuggestedTag.tag, SuggestedTag.score, SuggestedTag.confident)
        .join(SuggestedTag, SuggestedTag.answer_id == ModelAnswer.id)
        .where(ModelAnswer.prediction_id.in_(prediction_ids), ModelAnswer.model == model)
        .order_by(ModelAnswer.prediction_id, SuggestedTag.rank)
    )
    for prediction_id, tag, score, confident in rows:
        tags[prediction_id].append((tag, score, confident))
    return tags
