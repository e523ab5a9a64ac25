"""Error responses: pages in the site's style, JSON with a message under /api/ and /healthz."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from .suggest import NoModelAvailable, PredictionFailed

TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Page not found",
    405: "Method not allowed",
    413: "Too large",
    415: "Unsupported media type",
    422: "Cannot use this input",
    500: "Something went wrong",
    503: "Model unavailable",
}


class ApiError(Exception):
    """An error the API reports as JSON: ``{"error": message, "status": ..., "fields": ...}``."""

    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def json_error(status: int, message: str, fields: dict[str, str] | None = None):
    payload = {"error": message, "status": status}
    if fields:
        payload["fields"] = fields
    return jsonify(payload), status


def error_page(status: int, message: str, *, title: str | None = None):
    if wants_json():
        return json_error(status, message)
    return render_template(
        "error.html", status=status, title=title or TITLES.get(status, "Error"), message=message
    ), status


def _message(error: HTTPException) -> str:
    """The specific description if the code gave one, else one written for people."""
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
    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        return json_error(error.status, error.message, error.fields)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return error_page(
            400,
            "This form has expired or did not come from this site, so it was not sent. "
            "Go back, reload the page and submit it again.",
            title="Form expired",
        )

    @app.errorhandler(NoModelAvailable)
    def no_model(error: NoModelAvailable):
        return error_page(503, str(error) or "No model is available.")

    @app.errorhandler(PredictionFailed)
    def prediction_failed(error: PredictionFailed):
        return error_page(500, str(error))

    @app.errorhandler(InternalServerError)
    def internal_error(error: InternalServerError):
        # Flask logs the original exception; the visitor sees no traceback.
        return error_page(500, "Something went wrong on our side and has been logged. Please try again in a moment.")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        response = error_page(status, _message(error))
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            body, status = response
            response = current_app.make_response((body, status, {"Allow": ", ".join(error.valid_methods)}))
        return response
