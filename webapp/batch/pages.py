"""The batch pages: upload a file, follow a job's progress, download its results."""

from __future__ import annotations

import json
import re

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_wtf import FlaskForm
from flask_wtf.file import FileField

from ml.errors import ModelUnavailable
from webapp.batch.access import key_hash, new_key, owned_job, owned_jobs, owner_id, remember_in_browser
from webapp.batch.files import CSV, BatchFileError, csv_results, format_of, jsonl_results, parse
from webapp.batch.jobs import cancel, job_rows, submit
from webapp.core.errors import for_people
from webapp.core.inputs import Limits
from webapp.core.streaming import CONTENT_TYPES
from webapp.core.tables import BatchJob

bp = Blueprint("batch", __name__, url_prefix="/batch", template_folder="templates")
UPLOAD_ENDPOINTS = {"batch.upload", "batch_api.create"}


class UploadForm(FlaskForm):
    file = FileField("File of questions")


def raise_upload_cap() -> None:
    """Uploads of batch files get their own size cap (BATCH_MAX_BYTES), above the site's cap
    on every other request. Runs before the rate limits and guards read the body."""
    if request.endpoint not in UPLOAD_ENDPOINTS:
        return
    cap = current_app.config["BATCH_MAX_BYTES"]
    request.max_content_length = cap
    if request.content_length is not None and request.content_length > cap:
        abort(413, description=too_large_file(cap))


def too_large_file(cap: int) -> str:
    return f"The file is larger than the {cap / 1024 / 1024:.0f} MB a batch file can have; split it."


def read_upload(data: bytes, filename: str | None, media_type: str | None):
    kind = format_of(filename, media_type)
    config = current_app.config
    return parse(data, kind, Limits.from_app(), config["BATCH_MAX_ROWS"])


@bp.route("/", methods=["GET", "POST"])
def upload():
    form = UploadForm()
    if not form.is_submitted():
        return _upload_page(form)
    if not form.validate():  # the CSRF token
        return _upload_page(form, problem="This form expired; choose the file and upload it again."), 400
    upload = form.file.data
    if upload is None or not upload.filename:
        return _upload_page(form, problem="Choose a CSV or JSON Lines file to upload."), 422
    try:
        parsed = read_upload(upload.read(), upload.filename, upload.mimetype)
        key = new_key()
        job = submit(parsed, upload.filename, source="web", submitted_by=owner_id(), owner_key=key_hash(key))
    except BatchFileError as error:
        return _upload_page(form, problem=error.message, problems=error.problems), error.status
    except ModelUnavailable as error:
        return _upload_page(form, problem=for_people(error)), 503
    remember_in_browser(key)
    return redirect(url_for("batch.job", job_id=job.id), code=303)


def _upload_page(form: UploadForm, problem: str | None = None, problems: list[str] | None = None) -> str:
    return render_template(
        "batch.html", form=form, problem=problem, problems=problems or [], jobs=owned_jobs(), config=current_app.config
    )


@bp.get("/<id:job_id>")
def job(job_id: int):
    return render_template("batch_job.html", job=owned_job(job_id))


@bp.post("/<id:job_id>/cancel")
def cancel_job(job_id: int):
    cancel(owned_job(job_id))  # CSRFProtect has checked the form's token; only its owner may
    return redirect(url_for("batch.job", job_id=job_id), code=303)


@bp.get("/<id:job_id>/results")
def results(job_id: int):
    return results_response(owned_job(job_id))


def results_response(job: BatchJob) -> Response:
    """The uploaded file with the tags added, in its own format; 409 until the job ends."""
    if not job.finished:
        abort(409, description=f"Batch #{job.id} is still {job.status} ({job.done:,} of {job.total:,} tagged).")
    rows = job_rows(job)
    body = csv_results(json.loads(job.header or "[]"), rows) if job.format == CSV else jsonl_results(rows)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", job.filename.rsplit(".", 1)[0])[:80] or "batch"
    headers = {"Content-Disposition": f'attachment; filename="{stem}-tagged.{job.format}"'}
    return Response(stream_with_context(body), content_type=CONTENT_TYPES[job.format], headers=headers)
