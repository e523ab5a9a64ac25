"""Checks every request passes before a view reads it: ids that can exist, and bodies that
are whole and within the size cap. Each refusal is a clean 4xx, never a 500."""

from __future__ import annotations

from flask import Flask, abort, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

from webapp.batch.pages import UPLOAD_ENDPOINTS, too_large_file

# Ids are 64-bit columns (BIGINT in PostgreSQL, the rowid in SQLite). A larger id cannot exist,
# and handed to the database driver it raises (an overflow, a 500) instead of finding nothing.
MAX_ROW_ID = 2**63 - 1
BODY_METHODS = ("POST", "PUT", "PATCH")


class RowIdConverter(IntegerConverter):
    """``<id:name>``: a whole number an id column can hold; any other is a 404 like a missing row."""

    def __init__(self, map, *args, **kwargs):
        super().__init__(map, min=1, max=MAX_ROW_ID)


def init_app(app: Flask) -> None:
    # Before the blueprints: their rules name the converter.
    app.url_map.converters["id"] = RowIdConverter
    app.before_request(refuse_oversized_bodies)


def refuse_oversized_bodies() -> None:
    if request.method not in BODY_METHODS:
        return
    limit = request.max_content_length
    # A chunked upload has no Content-Length to compare: werkzeug stops reading at the cap
    # and hands the first bytes over as if they were the whole body. A body that fills the
    # cap is taken to go past it.
    if limit is not None and request.content_length is None and len(request.get_data(cache=True)) >= limit:
        # Say the cap of this request: a batch upload has its own, above the site's.
        raised = request.endpoint in UPLOAD_ENDPOINTS
        abort(413, description=too_large_file(limit) if raised else None)
    if request.mimetype == "multipart/form-data":
        # The body fits (werkzeug checks Content-Length first), so a 413 from parsing the
        # form is werkzeug's cap on the number of parts, not on size.
        try:
            request.form  # noqa: B018  (parsing is the check)
        except RequestEntityTooLarge:
            if request.content_length is not None and limit is not None and request.content_length > limit:
                raise
            abort(
                413,
                description=f"Too many form fields: this site accepts at most {request.max_form_parts:,} "
                "in one form. Send the form from the site's own page.",
            )
