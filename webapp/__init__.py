"""tagsmith's website. For now a placeholder page and a health check; the full site
(ask form, history, review, JSON API) is the website issue's work."""

from __future__ import annotations

import os

from flask import Flask, jsonify, render_template


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, template_folder="../templates", static_folder="../static", instance_relative_config=True)
    app.config.from_mapping(SECRET_KEY=os.environ.get("SECRET_KEY", "dev"), MODELS_DIR=os.environ.get("TAGSMITH_MODELS_DIR"))
    if config:
        app.config.update(config)

    @app.get("/")
    def index():
        from ml.models import MODEL_NAMES, ModelUnavailable, load_predictor

        models = {}
        for name in MODEL_NAMES:
            try:
                models[name] = load_predictor(name, app.config["MODELS_DIR"]).metadata
            except ModelUnavailable as error:
                models[name] = {"unavailable": str(error)}
        return render_template("placeholder.html", models=models)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return app
