"""Error responses: pages in the site's style; under /api/ and /healthz, RFC 9457 problem
details (``application/problem+json``: type, title, status, detail, instance, and ``errors``
per field for a 422).

Every error tagsmith raises on purpose is a ``TagsmithError`` carrying its HTTP status, and
one handler answers them all; werkzeug's HTTP errors get the same two shapes. Storage that
cannot answer (the database unreachable, locked, read-only or full) is a 503 with
Retry-After, never a 500: the request can succeed later, and nothing was half-stored.
"""

from __future__ import annotations

import logging
import re

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sql_errors
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed, SecurityError
from werkzeug.http import HTTP_STATUS_CODES

from ml.errors import ModelUnavailable, TagsmithError

TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Page not found",
    405: "Method not allowed",
    413: "Too large",
    415: "Unsupported media type",
    422: "Cannot use this input",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Model unavailable",
}
INVALID_FIELDS = "The request has invalid fields."
UNTRUSTED_HOST = (
    "This site does not answer to that host name. If you run it, add the name to "
    "TAGSMITH_TRUSTED_HOSTS (comma-separated)."
)
# An absolute path of two parts or more (/srv/models/baseline), not part of a URL or a
# relative path (models/baseline stays as it is).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])(?:/[\w.@+~-]+){2,}")
STORAGE_RETRY_AFTER_S = 30
STORAGE_UNAVAILABLE = (
    "The database is not answering right now, so this request was not completed and nothing was changed. "
    "Please try again in a minute."
)

log = logging.getLogger(__name__)


PROBLEM_JSON = "application/problem+json"


class ApiError(TagsmithError):
    """An error the API reports as a problem: ``message`` is its detail, ``fields`` its errors."""

    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.fields = fields

    @classmethod
    def invalid(cls, fields: dict[str, str], message: str | None = None) -> ApiError:
        """422 with a message per field: the API's one answer to values it cannot use."""
        return cls(422, message or INVALID_FIELDS, fields)


def hide_paths(text: str, named: dict[str, str] | None = None) -> str:
    """``text`` without the server's absolute paths, which are nobody's business but its
    operator's (the log has them): a folder in ``named`` is shown by its name there, any
    other path by its last part."""
    for folder, name in (named or {}).items():
        text = text.replace(folder, name)
    return _ABSOLUTE_PATH.sub(lambda match: match.group(0).rsplit("/", 1)[-1], text)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz" or request.path.startswith("/healthz/")


def storage_unavailable(error: Exception) -> bool:
    """True for a database that cannot answer now (down, unreachable, locked, read-only, full,
    a statement past its timeout, no pooled connection free); False for a bug in a query
    (an integrity or programming error), which stays a 500."""
    if isinstance(error, sql_errors.TimeoutError):  # the pool had no connection to give
        return True
    if isinstance(error, sql_errors.DBAPIError):
        return error.connection_invalidated or isinstance(
            error, sql_errors.OperationalError | sql_errors.InterfaceError
        )
    return False


def json_error(status: int, message: str, fields: dict[str, str] | None = None):
    """A problem (RFC 9457). ``about:blank``: the status code is the whole type, so the title
    is its standard phrase. ``error`` and ``fields`` repeat ``detail`` and ``errors`` under the
    names v1 clients read before problems; they go with the next version of the API."""
    payload: dict[str, object] = {
        "type": "about:blank",
        "title": HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": message,
        "instance": request.path,
        "error": message,
    }
    if fields:
        payload["errors"] = payload["fields"] = fields
    response = jsonify(payload)
    response.content_type = PROBLEM_JSON
    return response, status


def error_page(status: int, message: str, *, title: str | None = None):
    if wants_json():
        return json_error(status, message)
    page = render_template("error.html", status=status, title=title or TITLES.get(status, "Error"), message=message)
    return page, status


def for_people(error: TagsmithError) -> str:
    """The message with the reasons behind it, for a page (JSON lists them under fields)."""
    if isinstance(error, ModelUnavailable) and error.reasons:
        return " ".join([error.message, *(reason for reason in error.reasons.values() if reason not in error.message)])
    return error.message


def _message(error: HTTPException) -> str:
    """The specific description if the code gave one, else one written for people."""
    if isinstance(error, SecurityError):  # werkzeug's repeats the forged Host
        return UNTRUSTED_HOST
    if error.description and error.description != type(error).description:
        return error.description
    status = error.code or 500
    if status == 404:
        return "There is nothing at this address. The link may be mistyped, or the question may not exist."
    if status == 405:
        return f"This address does not accept {request.method} requests."
    if status == 413:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        return (
            f"The request is larger than the {limit / 1024 / 1024:.1f} MB this site accepts. "
            f"Shorten the question (the body can have at most {current_app.config['BODY_MAX_CHARS']:,} characters)."
        )
    if status == 415:
        return "Send the request as JSON with the header Content-Type: application/json."

    return error.description or TITLES.get(status, "Error")


def init_app(app: Flask) -> None:
    @app.errorhandler(TagsmithError)
    def tagsmith_error(error: TagsmithError):
        if wants_json():
            fields = getattr(error, "fields", None) or getattr(error, "reasons", None)
            if fields:
                fields = {name: hide_paths(message) for name, message in fields.items()}
            return json_error(error.status, hide_paths(error.message), fields)
        return error_page(error.status, hide_paths(for_people(error)))

    @app.errorhandler(sql_errors.DBAPIError)
    @app.errorhandler(sql_errors.TimeoutError)
    def storage_error(error: Exception):
        if not storage_unavailable(error):
            raise error  # a bug: the 500 handler answers and Flask logs the traceback
        # The log keeps the details; the answer names no URL, SQL or file.
        log.warning("storage unavailable on %s %s: %s", request.method, request.path, error)
        body, status = error_page(503, STORAGE_UNAVAILABLE, title="Storage unavailable")
        return current_app.make_response((body, status, {"Retry-After": str(STORAGE_RETRY_AFTER_S)}))

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return error_page(
            400,
            "This form has expired or did not come from this site, so it was not sent. "
            "Go back, reload the page and submit it again.",
            title="Form expired",
        )

    @app.errorhandler(InternalServerError)
    def internal_error(error: InternalServerError):
        # Flask logs the original exception; the visitor sees no traceback.
        return error_page(500, "Something went wrong on our side and has been logged. Please try again in a moment.")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        if isinstance(error, SecurityError) and not wants_json():
            # A Host outside TRUSTED_HOSTS: no URL can be built for it, so no page in the site's
            # style (its links need one), and the forged name is not repeated back.
            page = f"400 Bad request. {UNTRUSTED_HOST}"
            return current_app.make_response((page, 400, {"Content-Type": "text/plain; charset=utf-8"}))
        body, status = error_page(status, _message(error))
        headers = {}
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        return current_app.make_response((body, status, headers))
