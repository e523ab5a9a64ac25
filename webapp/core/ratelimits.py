"""Per-client rate limits on every write (Flask-Limiter), so one client cannot crowd out the
others: a number of POSTs per client, and a budget of bytes of questions per client, which
a client looping big batches spends long before one asking a question at a time does.

A client that keeps sending after a 429, ignoring its Retry-After, gets its next refusals a
second late (``RepeatRefusals``): each refusal costs the server CPU, so two clients looping
refused batches as fast as the site answered them took a large share of the machine.

Counters live in each worker's memory (``TAGSMITH_RATELIMIT_STORAGE=memory://``): with two
gunicorn workers a client may get up to twice each limit. A shared storage (``redis://...``,
with its driver installed) makes the limits exact. Login attempts are counted in the database
whatever the storage: there, twice the tries is twice the password guesses.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, abort, g, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse, parse_many
from sqlalchemy import delete, select, update

from webapp.core.database import transaction
from webapp.core.tables import LoginAttempts
from webapp.stats.counters import add_up

EXTENSION_KEY = "tagsmith.limiter"
# Login counters whose window ended this long ago are deleted by the next login.
FORGET_LOGINS_AFTER = timedelta(hours=1)


def init_app(
    app: Flask, write_blueprints: Iterable[Blueprint], preview_blueprints: Iterable[Blueprint] = ()
) -> Limiter:
    """One limiter per app: Flask-Limiter keeps its storage and switches on the instance, so
    a module-level one would mix the settings of every app a test process builds."""
    config = app.config
    limiter = Limiter(
        # The client's address; behind a proxy, ProxyFix (TAGSMITH_PROXIES) makes it the real one.
        get_remote_address,
        app=app,
        storage_uri=config["RATELIMIT_STORAGE_URI"],
        # Counters per window: a moving window would keep one entry per byte of a batch.
        strategy="fixed-window",
        key_prefix="tagsmith",
        # A shared storage that is down is logged and lets requests through: the site keeps
        # answering rather than failing every write with a 500.
        swallow_errors=True,
    )
    app.extensions[EXTENSION_KEY] = limiter
    if not limiter.enabled:
        return limiter
    writes = limiter.shared_limit(
        config["WRITE_LIMIT"], scope="writes", methods=["POST"], error_message=_explain(limiter, _writes)
    )
    budget = parse_many(config["TEXT_LIMIT"])
    text = limiter.shared_limit(
        config["TEXT_LIMIT"],
        scope="text",
        methods=["POST"],
        cost=lambda: _request_size(budget),
        error_message=_explain(limiter, _text),
    )
    for blueprint in write_blueprints:
        writes(blueprint)
        text(blueprint)
    # Keystrokes store nothing: counted apart, so typing never spends the writes' budget.
    previews = limiter.shared_limit(
        config["PREVIEW_LIMIT"], scope="previews", methods=["POST"], error_message=_explain(limiter, _previews)
    )
    for blueprint in preview_blueprints:
        previews(blueprint)

    repeats = RepeatRefusals((config["REPEAT_REFUSAL_DELAY_MS"] or 0) / 1000)

    @app.after_request
    def retry_after(response):
        breached = limiter.current_limit
        if response.status_code == 429 and breached is not None:
            response.headers["Retry-After"] = str(_seconds_left(breached))
            repeats.refused(get_remote_address(), breached.window.reset_time)
        elif response.status_code == 429 and "retry_after" in g:  # the login limit (limit_logins)
            response.headers["Retry-After"] = str(g.retry_after)
        return response

    return limiter


class RepeatRefusals:
    """Holds back the answer to a client refused again in the same window: it has ignored
    the first 429's Retry-After, and a client looping refused requests as fast as they come
    back costs the server a refusal's CPU each time. The second and later refusals wait
    ``delay`` seconds (never past the window's end), which turns such a loop into about one
    request a second. A waiting refusal holds one of the worker's threads, so at most
    ``slots`` wait at once; beyond that they are answered at once, as before, and the
    threads stay free for everyone else. Per worker, like the counters."""

    def __init__(self, delay: float, slots: int = 2, clock=time.time, sleep=time.sleep, capacity: int = 10_000):
        self.delay = delay
        self._slots = threading.BoundedSemaphore(slots)
        self._clock, self._sleep, self._capacity = clock, sleep, capacity
        self._refused_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def refused(self, client: str, window_end: float) -> float:
        """Notes that ``client`` was refused until ``window_end`` and returns the seconds
        this refusal waited (0 for the first one in a window, or with no slot free)."""
        now = self._clock()
        with self._lock:
            repeat = self._refused_until.get(client, 0.0) > now
            if len(self._refused_until) >= self._capacity:
                # Forget the clients whose windows are over; a flood of addresses empties it.
                live = {key: end for key, end in self._refused_until.items() if end > now}
                self._refused_until = live if len(live) < self._capacity else {}
            self._refused_until[client] = max(window_end, self._refused_until.get(client, 0.0))
        wait = min(self.delay, window_end - now)
        if not repeat or wait <= 0 or not self._slots.acquire(blocking=False):
            return 0.0
        try:
            self._sleep(wait)
        finally:
            self._slots.release()
        return wait


def limit_logins(app: Flask, endpoint: str) -> None:
    """Password guessing: a few tries a minute per address is plenty for a person. Counted in
    the database (``tables.LoginAttempts``), not in each worker's memory: with two workers a
    guesser got twice the tries. The registered view is replaced by one that counts first."""
    limiter: Limiter = app.extensions[EXTENSION_KEY]
    if not limiter.enabled:
        return
    limit = parse(app.config["LOGIN_LIMIT"])
    view: Callable[..., Any] = app.view_functions[endpoint]

    @wraps(view)
    def counted(*args: Any, **kwargs: Any) -> Any:
        if request.method == "POST":
            wait = count_login(get_remote_address(), limit)
            if wait:
                g.retry_after = wait
                abort(429, description=_try_again(_logins(limit), wait))
        return view(*args, **kwargs)

    app.view_functions[endpoint] = counted


def count_login(client: str, limit: RateLimitItem) -> int:
    """Count a login attempt from ``client``; the seconds it must wait when it is one too
    many (0: go ahead). One transaction: on PostgreSQL the row stays locked until the commit,
    so concurrent attempts on every worker are counted one after the other."""
    now = datetime.now(UTC).replace(tzinfo=None)
    window = timedelta(seconds=limit.get_expiry())
    table = LoginAttempts.__table__
    with transaction() as session:
        session.execute(delete(LoginAttempts).where(LoginAttempts.window_end < now - FORGET_LOGINS_AFTER))
        session.execute(
            update(LoginAttempts)
            .where(LoginAttempts.client == client, LoginAttempts.window_end <= now)
            .values(attempts=0, window_end=now + window)
        )
        add_up(session, table, [{"client": client, "attempts": 1, "window_end": now + window}], "attempts")
        attempts, window_end = session.execute(
            select(LoginAttempts.attempts, LoginAttempts.window_end).where(LoginAttempts.client == client)
        ).one()
    return 0 if attempts <= limit.amount else max(1, math.ceil((window_end - now).total_seconds()))


def _request_size(budget: list[RateLimitItem]) -> int:
    """What a request costs: its body's bytes (a batch counts every question), read before
    the body is; capped at the budget, so the largest request allowed can still pass."""
    size = request.content_length
    if size is None:  # chunked: the guards read it at most up to the size cap
        size = len(request.get_data(cache=True))
    return max(1, min([size, *(item.amount for item in budget)]))


def _explain(limiter: Limiter, wording: Callable[[RateLimitItem], str]) -> Callable[[], str]:
    def message() -> str:
        breached = limiter.current_limit
        if breached is None:
            return "Too many requests from your address. Try again in a minute."
        return _try_again(wording(breached.limit), _seconds_left(breached))

    return message


def _try_again(refusal: str, wait: int) -> str:
    return f"{refusal} Try again in {wait} second{'s' if wait != 1 else ''}."


def _writes(limit: RateLimitItem) -> str:
    return (
        f"Too many requests from your address: this site takes at most {limit.amount:,} questions, "
        f"reviews and other changes per {_period(limit)} from one client."
    )


def _logins(limit: RateLimitItem) -> str:
    return f"Too many login attempts from your address: at most {limit.amount:,} per {_period(limit)}."


def _text(limit: RateLimitItem) -> str:
    return (
        f"Too much question text from your address: this site reads at most {limit.amount:,} bytes "
        f"of questions per {_period(limit)} from one client (a batch counts every question). "
        "Send fewer or shorter questions."
    )


def _previews(limit: RateLimitItem) -> str:
    return (
        f"Too many suggestion previews from your address: at most {limit.amount:,} per {_period(limit)}. "
        "The suggestions catch up once you pause typing."
    )


def _period(limit: RateLimitItem) -> str:
    unit = limit.GRANULARITY.name
    return unit if limit.multiples == 1 else f"{limit.multiples} {unit}s"


def _seconds_left(breached: RequestLimit) -> int:
    # window.reset_time, unrounded: RequestLimit.reset_at adds a second.
    return max(1, math.ceil(breached.window.reset_time - time.time()))
