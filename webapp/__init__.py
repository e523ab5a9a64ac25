"""tagsmith's website: ask form, both models side by side, history, review, JSON API.

``create_app(config)`` builds the app: settings from the environment (see ``config``),
then ``config`` on top. Each gunicorn worker calls it once, so each loads the models once.
"""

from __future__ import annotations

import logging

from flask import Flask, abort, request

from webapp.api import cors, preview
from webapp.api import routes as api_routes
from webapp.ask import model_pages, serving
from webapp.ask import pages as ask_pages
from webapp.auth import login as login
from webapp.auth.cli import reviewer_cli
from webapp.batch import api as batch_api
from webapp.batch import jobs as batches
from webapp.batch import pages as batch_pages
from webapp.core import catalogue, database, errors, guards, https, ratelimits, templating
from webapp.core import config as settings
from webapp.core.commands import tagsmith_cli
from webapp.core.extensions import csrf
from webapp.core.inputs import undecodable_form_fields
from webapp.history import pages as history_pages
from webapp.review import learning
from webapp.stats import pages as stats_pages
from webapp.stats.counters import stats_cli


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(settings.from_environment())
    if config:
        app.config.update(config)
    settings.finish(app)
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")

    https.init_app(app)
    app.before_request(cors.refuse_cross_site_writes)  # headers only: before anything reads a body
    database.init_app(app)
    # Before the rate limits and guards read a body: batch files have their own size cap.
    app.before_request(batch_pages.raise_upload_cap)
    # First: a client over its limit is refused before its body is read.
    writers = [ask_pages.bp, history_pages.bp, api_routes.bp, batch_pages.bp, batch_api.bp]
    ratelimits.init_app(app, writers, preview_blueprints=[preview.bp])
    guards.init_app(app)
    # Before CSRFProtect's hook: it parses the form, after which the raw bytes are gone.
    app.before_request(refuse_undecodable_forms)
    csrf.init_app(app)
    catalogue.init_app(app)
    serving.init_app(app)
    learning.init_app(app)  # after the models load, before the first request
    errors.init_app(app)
    templating.init_app(app)
    cors.init_app(app)

    app.register_blueprint(ask_pages.bp)
    app.register_blueprint(model_pages.bp)
    app.register_blueprint(stats_pages.bp)
    app.register_blueprint(history_pages.bp)
    app.register_blueprint(api_routes.bp)
    app.register_blueprint(preview.bp)
    app.register_blueprint(api_routes.health)
    app.register_blueprint(batch_pages.bp)
    app.register_blueprint(batch_api.bp)
    login.init_app(app)
    ratelimits.limit_logins(app, "auth.login")
    # The API sets no cookies and ignores the login cookie (bearer tokens only): there is no
    # session to forge.
    csrf.exempt(api_routes.bp)
    csrf.exempt(preview.bp)
    csrf.exempt(api_routes.health)
    csrf.exempt(batch_api.bp)
    batches.init_app(app)
    app.cli.add_command(stats_cli)
    app.cli.add_command(tagsmith_cli)
    app.cli.add_command(reviewer_cli)
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
