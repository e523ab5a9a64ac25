"""The batch API: ``POST /api/v1/batches`` (a file as multipart, or the raw body as text/csv or
application/x-ndjson) answers 202 with the job's address; ``GET`` there reports progress and
``GET .../results`` returns the file with the tags once the job has ended."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for

from webapp.api.openapi import documented
from webapp.api.schemas import BatchJobOut, BatchList
from webapp.batch.access import key_hash, new_key, owned_job, owned_jobs, owner_id, presented_key
from webapp.batch.files import MEDIA_TYPES, BatchFileError
from webapp.batch.jobs import progress, submit
from webapp.batch.pages import read_upload, results_response
from webapp.core.tables import BatchJob

bp = Blueprint("batch_api", __name__, url_prefix="/api/v1/batches")


def job_dict(job: BatchJob, key: str | None = None) -> dict:
    """The job's progress and links; with the key that opens it, the links carry it."""
    extra = {"key": key} if key else {}
    links = {
        "url": url_for("batch_api.status", job_id=job.id, _external=True, **extra),
        "page": url_for("batch.job", job_id=job.id, _external=True, **extra),
        "results": url_for("batch_api.results", job_id=job.id, _external=True, **extra) if job.finished else None,
    }
    return progress(job) | links | extra


# The file is the body itself (CSV or JSON Lines) or a multipart field: no JSON schema to
# validate it against, so the view reads it and refuses it with the reasons per line.
@bp.post("")
@documented(ok=BatchJobOut, status=202, tags=["batches"], errors=(400, 413, 415, 422, 429))
def create():
    """Tag a CSV or JSON Lines file of questions in the background (202; follow Location)."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise BatchFileError(422, "Send the file in a form field named file.")
        parsed = read_upload(upload.read(), upload.filename, upload.mimetype)
        filename = upload.filename or "upload"
    elif request.mimetype in MEDIA_TYPES:
        parsed = read_upload(request.get_data(), None, request.mimetype)
        filename = request.args.get("filename") or f"upload.{parsed.format}"
    else:
        raise BatchFileError(
            415,
            "Send a CSV or JSON Lines file: as multipart/form-data in a field named file, or as the body "
            "with Content-Type: text/csv or application/x-ndjson.",
        )
    key = new_key()  # shown once: only its hash is stored
    job = submit(parsed, filename, source="api", submitted_by=owner_id(), owner_key=key_hash(key))
    response = jsonify(job_dict(job, key))
    response.status_code = 202
    response.headers["Location"] = url_for("batch_api.status", job_id=job.id, _external=True, key=key)
    return response


@bp.get("")
@documented(ok=BatchList, tags=["batches"])
def index():
    """Your most recent batch jobs, newest first: a reviewer's (with a token), or the one
    whose key is given."""
    return jsonify(items=[job_dict(job) for job in owned_jobs()])


@bp.get("/<id:job_id>")
@documented(ok=BatchJobOut, tags=["batches"])
def status(job_id: int):
    """A job's progress: its owner's alone (a reviewer's token, or the job's key); 404 for others."""
    return jsonify(job_dict(owned_job(job_id), presented_key()))


@bp.get("/<id:job_id>/results")
@documented(tags=["batches"], errors=(409,))
def results(job_id: int):
    """The file as uploaded with the tags added (409 until the job has ended)."""
    return results_response(owned_job(job_id))
