"""Reviewers: login for the pages (Flask-Login, a session cookie) and tokens for the JSON API.

Asking is open to anyone; reviewing, exporting and deleting need a reviewer. The pages take
the login cookie; the API takes only ``Authorization: Bearer <token>``: it has no CSRF
protection, so a cookie must not be enough there (a page elsewhere could post with it).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, make_response, redirect, render_template, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import InputRequired

from webapp.core.errors import json_error
from webapp.core.extensions import db
from webapp.core.inputs import CONTROL_CHARACTERS as _CONTROL
from webapp.core.tables import ApiToken, Reviewer

bp = Blueprint("auth", __name__, template_folder="templates")
login_manager = LoginManager()

TOKEN_PREFIX = "tagsmith_"
WRONG_LOGIN = "Wrong name or password."
API_LOGIN_NEEDED = (
    "This needs a reviewer: send the header Authorization: Bearer <token>. "
    "A reviewer gets a token with `flask --app webapp reviewer token NAME`."
)
# Compared against when the name is unknown, so a wrong name takes as long as a wrong password.
_UNKNOWN_NAME_HASH = generate_password_hash(secrets.token_hex(16))

View = TypeVar("View", bound=Callable[..., Any])


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.register_blueprint(bp)


@login_manager.user_loader
def load_from_session(reviewer_id: str) -> Reviewer | None:
    # The API ignores the login cookie (see the module's docstring): None lets Flask-Login
    # try the request loader, which reads the bearer token.
    if request.blueprint == "api":
        return None
    number, _, version = reviewer_id.partition(":")
    try:
        reviewer = db.session.get(Reviewer, int(number))
    except ValueError:
        return None
    # A cookie from before the reviewer last logged out (or from before versions) is void.
    return reviewer if reviewer is not None and version == str(reviewer.session_version) else None


@login_manager.request_loader
def load_from_token(req) -> Reviewer | None:
    scheme, _, token = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    stored = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token.strip())))
    return stored.reviewer if stored else None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def new_token(reviewer: Reviewer) -> str:
    """A new API token for ``reviewer`` (committed); only its hash is kept, so it is shown once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiToken(reviewer_id=reviewer.id, token_hash=token_hash(token)))
    db.session.commit()
    return token


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def reviewer_required(view: View) -> View:
    """For pages: anonymous visitors go to the login page (and come back), a deactivated
    reviewer gets a 403."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            # After a refused POST, come back to the page the form was on, not to the action.
            back = request.full_path.rstrip("?") if request.method == "GET" else local_path(request.referrer)
            return redirect(url_for("auth.login", next=back or None))
        if not current_user.is_active:
            abort(403, description="Your reviewer account is deactivated; ask an administrator to reactivate it.")
        return view(*args, **kwargs)

    return cast(View, wrapped)


def api_reviewer_required(view: View) -> View:
    """For the API: 401 with ``WWW-Authenticate: Bearer`` without a valid token, 403 for a
    deactivated reviewer's token."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            given = "Authorization" in request.headers
            message = "The token is not valid: it is mistyped or was never issued." if given else API_LOGIN_NEEDED
            challenge = 'Bearer realm="tagsmith"' + (', error="invalid_token"' if given else "")
            response = make_response(json_error(401, message))
            response.headers["WWW-Authenticate"] = challenge
            abort(response)
        if not current_user.is_active:
            abort(make_response(json_error(403, "This reviewer is deactivated; its tokens no longer work.")))
        return view(*args, **kwargs)

    return cast(View, wrapped)


def current_reviewer() -> Reviewer:
    """The reviewer of this request (inside a view guarded by one of the decorators)."""
    return cast(Reviewer, current_user._get_current_object())


def local_path(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None: ``next=`` must not send a
    reviewer who just logged in to another site (an open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.netloc and parts.netloc != request.host:
        return None
    if parts.scheme and parts.scheme not in ("http", "https"):
        return None
    path = parts.path or "/"
    # "//evil.example" and "/\evil.example" are read by browsers as another host.
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return None
    return path + (f"?{parts.query}" if parts.query else "")


class LoginForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired("Enter your reviewer name.")])
    password = PasswordField("Password", validators=[InputRequired("Enter your password.")])
    next = HiddenField()


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm(next=request.args.get("next", ""))
    target = local_path(form.next.data) or url_for("ask.ask")
    if current_user.is_authenticated and current_user.is_active and request.method == "GET":
        return redirect(target)
    error = None
    if form.validate_on_submit():
        name = form.name.data.strip()
        # No name holds a control character, and PostgreSQL refuses NUL in a query: a 500.
        reviewer = None if _CONTROL.search(name) else db.session.scalar(select(Reviewer).where(Reviewer.name == name))
        password_right = check_password_hash(
            reviewer.password_hash if reviewer else _UNKNOWN_NAME_HASH, form.password.data
        )
        # A deactivated reviewer gets the same answer: it says nothing about which names exist.
        if reviewer is not None and password_right:
            session.pop("csrf_token", None)  # a CSRF secret read before the login is not carried over
            if login_user(reviewer):
                return redirect(target, code=303)
        error = WRONG_LOGIN
    elif form.is_submitted():
        error = next(iter(form.errors.values()))[0] if form.errors else WRONG_LOGIN
    status = 401 if error == WRONG_LOGIN else 422 if error else 200
    return render_template("login.html", form=form, error=error), status


@bp.post("/logout")
def logout():
    # A POST with the CSRF token: a link or an image elsewhere cannot log a reviewer out.
    if current_user.is_authenticated:
        reviewer = current_reviewer()
        reviewer.session_version += 1  # every cookie of this reviewer's ends here
        db.session.commit()
    logout_user()
    return redirect(url_for("ask.ask"), code=303)
