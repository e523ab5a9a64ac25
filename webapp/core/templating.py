"""Template filters, the model registry's names for templates, and the security headers
every HTML page gets."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Flask

from ml.registry import kinds
from webapp.core.inputs import BOTH

# Everything the pages use is served from /static: no CDN, no inline script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'self'"
)
# Bidi embeddings, overrides and isolates. Shown user text sits in <bdi>, which confines
# them; the page's <title> cannot hold markup, so there they are dropped.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
# An answer stored by a model that is no longer registered still gets a neutral colour.
UNKNOWN_COLOUR = "#6b7280"


def tag_description(tag: str) -> str:
    """The catalogue's one-line description of a tag, with its use count; '' when unknown."""
    from webapp.core.catalogue import site_catalogue

    info = site_catalogue().info(tag)
    if not info.count:
        return ""
    used = f"{info.count:,} questions on Stack Overflow"
    return f"{info.description} ({used})" if info.description else used


def init_app(app: Flask) -> None:
    app.add_template_filter(when, "when")
    app.add_template_filter(iso_when, "iso_when")
    app.add_template_filter(percent, "percent")
    app.add_template_filter(milliseconds, "ms")
    app.add_template_filter(model_label, "model_label")
    app.add_template_filter(model_colour, "model_colour")
    app.add_template_filter(tag_description, "tag_description")
    app.add_template_filter(without_bidi_controls, "without_bidi_controls")
    app.jinja_env.globals.update(BOTH=BOTH, invalid_attrs=invalid_attrs)
    app.jinja_env.tests["in_every"] = lambda value, lists: all(value in items for items in lists)
    # A model name whose state (``{name: ModelState}``) says it can answer.
    app.jinja_env.tests["available_in"] = lambda name, states: name in states and states[name].available

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


def invalid_attrs(field, first_invalid=None, autofocus: bool = False) -> dict[str, str | bool]:
    """A form field's attributes after a failed submit: invalid and described by its error
    message when it has one, and the focus on the first invalid field, so a screen reader
    reads the field and its error at once (without JavaScript)."""
    attrs: dict[str, str | bool] = {}
    if field.errors:
        attrs.update({"aria-invalid": "true", "aria-describedby": f"{field.id}-error"})
    if autofocus or (first_invalid is not None and first_invalid.id == field.id):
        attrs["autofocus"] = True
    return attrs


def without_bidi_controls(text: str) -> str:
    return BIDI_CONTROLS.sub("", text)


def model_label(name: str) -> str:
    return next((kind.label for kind in kinds() if kind.name == name), name)


def model_colour(name: str) -> str:
    return next((kind.colour for kind in kinds() if kind.name == name), UNKNOWN_COLOUR)


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def iso_when(text: str | None) -> str:
    """An ISO 8601 time from a model's metadata, shown like the site's other times."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return str(text or "")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return when(moment)


def percent(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def milliseconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"
