"""Settings: environment variables first, then whatever ``create_app(config)`` passes.

Every limit a deployment may want to change has a ``TAGSMITH_*`` variable; the defaults
suit one small server with two gunicorn workers.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from flask import Flask
from limits import parse_many

from webapp.api.cors import origins_from

DATABASE_FILE = "tagsmith.sqlite3"
SECRET_KEY_FILE = "secret_key"

# name in app.config -> (environment variable, default)
LIMITS = {
    "TITLE_MIN_CHARS": ("TAGSMITH_TITLE_MIN_CHARS", 3),
    "TITLE_MAX_CHARS": ("TAGSMITH_TITLE_MAX_CHARS", 300),
    "BODY_MAX_CHARS": ("TAGSMITH_BODY_MAX_CHARS", 50_000),
    # A batch of 32 questions with bodies at the limit is ~1.6 MB of JSON.
    "MAX_CONTENT_LENGTH": ("TAGSMITH_MAX_REQUEST_BYTES", 2 * 1024 * 1024),
    "BATCH_MAX_QUESTIONS": ("TAGSMITH_BATCH_MAX", 32),
    "PAGE_SIZE": ("TAGSMITH_PAGE_SIZE", 20),
}


class ConfigError(RuntimeError):
    """A setting that cannot work; raised at start-up, not on the first request."""


def in_flask_command() -> bool:
    """Whether the app is being built for a ``flask`` command other than ``run``: the CLI
    builds it inside the command's click context; a server (gunicorn, ``flask run``) serves."""
    import click

    context = click.get_current_context(silent=True)
    return context is not None and context.info_name != "run"


def from_environment(environ=os.environ) -> dict:
    settings = {
        "SECRET_KEY": environ.get("SECRET_KEY") or None,
        "SQLALCHEMY_DATABASE_URI": database_url(environ.get("DATABASE_URL")),
        "MODELS_DIR": environ.get("TAGSMITH_MODELS_DIR") or None,
        # A `flask` command (a token, a migration) loads a model only if it uses one.
        "PRELOAD_MODELS": environ.get("TAGSMITH_PRELOAD_MODELS", "0" if in_flask_command() else "1")
        not in ("0", "false", "no"),
        # Upgrade the schema when the app starts (flask run, the tests); gunicorn.conf.py turns
        # it off in the workers after migrating once in the master, so that a long migration
        # never runs inside a worker's boot timeout, and the workers only check the schema.
        "MIGRATE_ON_START": environ.get("TAGSMITH_MIGRATE_ON_START", "1") not in ("0", "false", "no"),
        # onnxruntime threads per model per worker; empty = all cores (best for one worker).
        "ORT_THREADS": _optional_int(environ, "TAGSMITH_ORT_THREADS"),
        # The model a question gets unless the asker picks one; "both" = every model side by side.
        "DEFAULT_MODEL": environ.get("TAGSMITH_DEFAULT_MODEL") or "ensemble",
        # PostgreSQL cancels a statement that runs longer (0: no limit); SQLite keeps its busy timeout.
        "STATEMENT_TIMEOUT_MS": _optional_int(environ, "TAGSMITH_STATEMENT_TIMEOUT_MS", default=5000),
        # A question page left open over lunch should still submit.
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Per-client limits on writes (see ratelimits.py): POSTs, and bytes of questions.
        "RATELIMIT_ENABLED": environ.get("TAGSMITH_RATE_LIMITS", "1") not in ("0", "false", "no", "off"),
        "WRITE_LIMIT": environ.get("TAGSMITH_WRITE_LIMIT") or "60 per minute",
        # One largest batch (32 questions with 50,000-character bodies, ~1.6 MB) a minute.
        "TEXT_LIMIT": environ.get("TAGSMITH_TEXT_LIMIT") or "2000000 per minute",
        # Login attempts per client (password guessing).
        "LOGIN_LIMIT": environ.get("TAGSMITH_LOGIN_LIMIT") or "10 per minute",
        # Suggestions while typing store nothing and come every few hundred ms: their own limit.
        "PREVIEW_LIMIT": environ.get("TAGSMITH_PREVIEW_LIMIT") or "600 per minute",
        # The model that answers keystrokes; empty = the site's default model.
        "PREVIEW_MODEL": environ.get("TAGSMITH_PREVIEW_MODEL") or None,
        "RATELIMIT_STORAGE_URI": environ.get("TAGSMITH_RATELIMIT_STORAGE") or "memory://",
        # A client that keeps sending after a 429 gets its next refusals this late (0: at once);
        # see ratelimits.RepeatRefusals.
        "REPEAT_REFUSAL_DELAY_MS": _optional_int(environ, "TAGSMITH_REPEAT_REFUSAL_DELAY_MS", default=1000),
        # Proxies in front that set X-Forwarded-For/-Proto (1 on Render); 0 trusts no such header.
        "PROXIES": _optional_int(environ, "TAGSMITH_PROXIES") or 0,
        # Host names the site answers to (Flask answers 400 to others); None: any.
        "TRUSTED_HOSTS": trusted_hosts(environ),
        # Origins whose pages may read the API (webapp/api/cors.py): unset = any, empty = none.
        "CORS_ORIGINS": origins_from(environ.get("TAGSMITH_CORS_ORIGINS")),
    }
    for key, (variable, default) in LIMITS.items():
        raw = environ.get(variable)
        if raw is None or raw == "":
            settings[key] = default
            continue
        try:
            settings[key] = int(raw)
        except ValueError:
            raise ConfigError(f"{variable} must be a whole number, got {raw!r}") from None
    return settings


# What ``make run`` serves (127.0.0.1, which browsers also reach as localhost).
LOCAL_HOSTS = ("localhost", "127.0.0.1")


def trusted_hosts(environ) -> list[str] | None:
    """``TAGSMITH_TRUSTED_HOSTS`` (comma-separated; ``*``: any host). Unset, what the site is
    served as: the local names, and on Render the service's own host name, which Render sets
    (``RENDER_EXTERNAL_HOSTNAME``), so a forged ``Host`` never reaches a redirect or a link."""
    hosts = [host.strip() for host in environ.get("TAGSMITH_TRUSTED_HOSTS", "").split(",") if host.strip()]
    if hosts:
        return None if "*" in hosts else hosts
    render = environ.get("RENDER_EXTERNAL_HOSTNAME", "").strip()
    return [*LOCAL_HOSTS, *([render] if render else [])]


def _optional_int(environ, variable: str, default: int | None = None) -> int | None:
    raw = environ.get(variable)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{variable} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{variable} must be 0 or more, got {value}")
    return value or None


def database_url(url: str | None) -> str | None:
    """The URL with PostgreSQL's driver named: psycopg (3) is the one installed. Some hosts
    still hand out ``postgres://``, which SQLAlchemy stopped accepting in 1.4; a URL that
    names its driver (``postgresql+psycopg2://``) is left as it is."""
    for scheme in ("postgres://", "postgresql://"):
        if url and url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url or None


def finish(app: Flask) -> None:
    """Fill in what depends on the instance folder, and check the limits make sense."""
    config = app.config
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        path = Path(app.instance_path) / DATABASE_FILE
        config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(path)
        if in_flask_command():  # a command's work lands somewhere: say where, not silently
            import click

            made = "" if path.exists() else " (created now)"
            click.echo(
                f"No DATABASE_URL: this command uses the SQLite file {path}{made}. "
                "Set DATABASE_URL for another database.",
                err=True,
            )
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = _instance_secret(Path(app.instance_path))
    # Werkzeug caps each form field at 500 kB by default, below a 50,000-character body
    # once it is percent-encoded; the whole-request cap is the limit that matters.
    config["MAX_FORM_MEMORY_SIZE"] = config["MAX_CONTENT_LENGTH"]
    for key in LIMITS:
        if not isinstance(config[key], int) or config[key] < 1:
            raise ConfigError(f"{key} must be a positive whole number, got {config[key]!r}")
    if config["TITLE_MIN_CHARS"] > config["TITLE_MAX_CHARS"]:
        raise ConfigError("TITLE_MIN_CHARS is larger than TITLE_MAX_CHARS")
    for key, variable in (
        ("WRITE_LIMIT", "TAGSMITH_WRITE_LIMIT"),
        ("TEXT_LIMIT", "TAGSMITH_TEXT_LIMIT"),
        ("LOGIN_LIMIT", "TAGSMITH_LOGIN_LIMIT"),
        ("PREVIEW_LIMIT", "TAGSMITH_PREVIEW_LIMIT"),
    ):
        try:
            parse_many(config[key])
        except ValueError:
            raise ConfigError(
                f"{variable} must be a rate such as '60 per minute' or '10/second;100/hour', got {config[key]!r}"
            ) from None


def _instance_secret(folder: Path) -> str:
    """A key kept in the instance folder: every gunicorn worker and every restart must sign
    sessions (and so CSRF tokens) with the same key, which a per-process random key breaks."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SECRET_KEY_FILE
    try:
        # O_EXCL: when two workers start at once, exactly one writes the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    for _ in range(50):  # the other worker may be between creating and writing the file
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.02)
    raise ConfigError(f"{path} is empty; delete it or set SECRET_KEY")
