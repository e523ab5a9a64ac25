"""Who may see a batch job: whoever submitted it, and nobody else.

A file of questions can be private (a company's support queue), so a job belongs to its
submitter. Each job gets a random key, of which only a hash is stored:

- a reviewer who submits it (logged in on the pages, or with a bearer token) owns it by
  account too, wherever they sign in later;
- a visitor's browser keeps the keys of the jobs it uploaded in the session cookie (the
  newest ``KEPT``), which the job's page and its progress requests carry;
- an API client is given the key once, in the 202 answer and in the links it returns
  (``?key=``); it sends it back as ``?key=`` or the ``X-Batch-Key`` header, and may share a
  link to let someone else follow the job.

A job someone does not own is answered like a job that does not exist (404), and is not
listed. Jobs from before keys existed are shown to reviewers only.
"""

from __future__ import annotations

import secrets

from flask import abort, request, session
from flask_login import current_user
from sqlalchemy import ColumnElement, or_, select

from webapp.auth.login import token_hash as key_hash
from webapp.core.extensions import db
from webapp.core.tables import BatchJob

KEY_PARAM = "key"
KEY_HEADER = "X-Batch-Key"
SESSION_KEYS = "batch_keys"
KEPT = 20


def new_key() -> str:
    return secrets.token_urlsafe(24)


def remember_in_browser(key: str) -> None:
    """The page upload's key goes into the visitor's session, newest first."""
    kept = [key, *(k for k in session.get(SESSION_KEYS, []) if k != key)]
    session[SESSION_KEYS] = kept[:KEPT]


def presented_key() -> str | None:
    """The key this request names itself (query or header), if any."""
    return request.args.get(KEY_PARAM) or request.headers.get(KEY_HEADER) or None


def _hashes() -> list[str]:
    keys = [presented_key(), *session.get(SESSION_KEYS, [])]
    return [key_hash(key) for key in keys if isinstance(key, str) and key]


def _reviewer_id() -> int | None:
    if current_user.is_authenticated and current_user.is_active:
        return int(current_user.id)
    return None


def _visible() -> ColumnElement[bool] | None:
    """The condition a job this request may see meets (None: no job)."""
    reviewer, hashes = _reviewer_id(), _hashes()
    allowed: list[ColumnElement[bool]] = [BatchJob.owner_key.in_(hashes)] if hashes else []
    if reviewer is not None:
        allowed += [BatchJob.submitted_by == reviewer, BatchJob.owner_key.is_(None)]
    return or_(*allowed) if allowed else None


def owned_job(job_id: int) -> BatchJob:
    """The job, if this request may see it; else a 404 as for a job that does not exist."""
    condition = _visible()
    job = None
    if condition is not None:
        job = db.session.scalar(select(BatchJob).where(BatchJob.id == job_id, condition))
    if job is None:
        abort(404, description=f"There is no batch #{job_id}.")
    return job


def owned_jobs(limit: int = 20) -> list[BatchJob]:
    """This request's most recent jobs, newest first."""
    condition = _visible()
    if condition is None:
        return []
    return list(db.session.scalars(select(BatchJob).where(condition).order_by(BatchJob.id.desc()).limit(limit)))


def owner_id() -> int | None:
    """The reviewer a new job belongs to, if one submits it."""
    return _reviewer_id()
