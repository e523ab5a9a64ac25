"""Cross-origin reads of the API (flask-cors), for pages on other sites that show tags or
history: ``TAGSMITH_CORS_ORIGINS``, default ``*``; empty switches CORS off.

Reads only. Reading is open anyway (no login, no cookies), so ``*`` lets a browser do what
curl can. Writes stay same-origin: a page elsewhere could otherwise make its visitors'
browsers ask questions and reviews in bulk, each from a different address and so under no
one client's rate limit, filling the history with whatever that page chose. A JSON write
needs a preflight, which gets no CORS headers; a multipart, form or text/plain one does not,
so ``refuse_cross_site_writes`` turns away every write a browser says comes from another
site (``Origin``, ``Sec-Fetch-Site``). Clients that are not browsers send neither.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, abort, request
from flask_cors import CORS

READ_METHODS = ("GET", "HEAD", "OPTIONS")


def refuse_cross_site_writes() -> None:
    """403 for a write a browser sent from a page of another site, whatever its content type."""
    if request.method in READ_METHODS:
        return
    origin = request.headers.get("Origin")
    cross = request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site"
    if origin is not None:
        host = urlsplit(origin).netloc if "://" in origin else ""  # "null": a sandboxed or file page
        cross = cross or host.lower() != request.host.lower()
    if cross:
        abort(403, description="This site takes writes only from its own pages: the request came from another site.")


def origins_from(raw: str | None) -> list[str]:
    """``None`` (unset): every origin; ``""``: none; else the comma-separated origins."""
    if raw is None:
        return ["*"]
    return [origin.strip() for origin in raw.split(",") if origin.strip()]


def init_app(app: Flask) -> None:
    origins = app.config["CORS_ORIGINS"]
    if not origins:
        return

    # Registered before flask-cors's own hook, so it runs after it (Flask runs them in reverse).
    @app.after_request
    def no_cross_origin_writes(response):
        # A write, or a preflight asking whether a write may follow.
        asked = request.headers.get("Access-Control-Request-Method", "GET").upper()
        if request.method not in READ_METHODS or asked not in READ_METHODS:
            for name in {name for name, _ in response.headers.items() if name.lower().startswith("access-control-")}:
                del response.headers[name]
        return response

    # A preflight for a write (Access-Control-Request-Method: POST) gets no CORS headers
    # (above), so the browser does not send the write at all.
    # send_wildcard: "*" itself rather than each origin echoed, so caches can share one answer.
    CORS(
        app,
        resources={r"/api/v1/*": {"origins": origins}},
        methods=list(READ_METHODS),
        send_wildcard=True,
        max_age=600,
    )
