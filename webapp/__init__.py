"""tagsmith's website: ask form, both models side by side, history, review, JSON API.

``create_app(config)`` builds the app: settings from the environment (see ``config``),
then ``config`` on top. Each gunicorn worker calls it once, so each loads the models once.
"""

from __future__ import annotations

import logging

from flask import Flask, abort, request

from . import api, database, errors, guards, history, https, pages, preview, ratelimits, serving, templating
from . import config as settings
from .counters import stats_cli
from .extensions import csrf
from .inputs import undecodable_form_fields


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, template_folder="../templates", static_folder="../static", instance_relative_config=True)
    app.config.from_mapping(settings.from_environment())
    if config:
        app.config.update(config)
    settings.finish(app)
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")

    https.init_app(app)
    database.init_app(app)
    # First: a client over its limit is refused before its body is read.
    ratelimits.init_app(app, [pages.bp, history.bp, api.bp], preview_blueprints=[preview.bp])
    guards.init_app(app)
    # Before CSRFProtect's hook: it parses the form, after which the raw bytes are gone.
    app.before_request(refuse_undecodable_forms)
    csrf.init_app(app)
    serving.init_app(app)
    errors.init_app(app)
    templating.init_app(app)

    app.register_blueprint(pages.bp)
    app.register_blueprint(history.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(preview.bp)
    app.register_blueprint(api.health)
    # The API authenticates nothing and sets no cookies: there is no session to forge.
    csrf.exempt(api.bp)
    csrf.exempt(preview.bp)
    csrf.exempt(api.health)
    app.cli.add_command(stats_cli)
    return app


def refuse_undecodable_forms():
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        fields = undecodable_form_fields(request.get_data(cache=True))
        if fields:
            abort(
                422,
                description=f"The form's {', '.join(fields)} is not valid UTF-8 text; "
                "check the encoding of what you pasted.",
            )
