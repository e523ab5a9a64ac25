"""A throwaway PostgreSQL server for the tests, and a fresh database for each test.

``Cluster.start()`` runs Debian's ``initdb`` into a new folder under /tmp and starts the
server on 127.0.0.1 at a free port (its socket in the same folder), tuned for tests (no
fsync). initdb refuses to run as root, so as root the server runs as the ``postgres`` user
the Debian package creates. ``stop()`` stops it and deletes the folder. Without tests:
``python -m tests.helpers.postgres`` starts one and prints its URL until Ctrl-C.

``TAGSMITH_TEST_POSTGRES_URL`` (e.g. ``postgresql+psycopg://user@host:5432/postgres``) names
a server to use instead; its user must be allowed to create databases.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

URL_VARIABLE = "TAGSMITH_TEST_POSTGRES_URL"
SUPERUSER = "tagsmith"
INSTALL_HINT = (
    "install PostgreSQL's server (Debian: apt-get install postgresql; `make test` does it when run as root) "
    f"or set {URL_VARIABLE} to a server the tests may create databases on"
)


class Unavailable(RuntimeError):
    """No PostgreSQL server can be had here; the message says why and what would fix it."""


def bin_dir() -> Path | None:
    """The newest of Debian's /usr/lib/postgresql/*/bin, else wherever initdb is on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    def __init__(self, admin_url: str, folder: Path | None = None, bin_path: Path | None = None, user: str = ""):
        self.admin_url = admin_url
        self.folder = folder
        self.bin_path = bin_path
        self.user = user  # the account the server runs as (empty: this process's)
        self._options = ""  # the server's command line options
        self._migrated: str | None = None  # the template create_migrated_database copies
        # Every database made, left until the end: dropping one a test still has connections
        # to costs 0.1 s (PostgreSQL polls for them to go), and the cluster is deleted anyway.
        self.created: list[str] = []
        self._names = itertools.count(1)
        self._prefix = f"t{os.getpid()}_"

    @classmethod
    def from_environment(cls) -> Cluster | None:
        url = os.environ.get(URL_VARIABLE)
        return cls(url) if url else None

    @classmethod
    def start(cls) -> Cluster:
        binaries = bin_dir()
        if binaries is None:
            raise Unavailable(f"PostgreSQL's initdb was not found; {INSTALL_HINT}")
        user = ""
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and there is no postgres user to run the server as") from None
            user = "postgres"
        folder = Path(tempfile.mkdtemp(prefix="tagsmith-pg-"))
        try:
            if user:
                shutil.chown(folder, user)
            cluster = cls("", folder, binaries, user)
            cluster._initdb()
            cluster._start_server()
        except BaseException:
            if user:  # the server may be half up; stop it before the folder goes
                subprocess.run(
                    [str(binaries / "pg_ctl"), "-D", str(folder / "data"), "stop", "-m", "immediate"],
                    user=user or None,
                    capture_output=True,
                    check=False,
                )
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return cluster

    def _run(self, *command: str, timeout: float = 120) -> subprocess.CompletedProcess:
        assert self.bin_path is not None
        result = subprocess.run(
            [str(self.bin_path / command[0]), *command[1:]],
            user=self.user or None,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.folder,
            check=False,
        )
        if result.returncode != 0:
            raise Unavailable(f"{command[0]} failed ({result.returncode}): {(result.stderr or result.stdout)[-2000:]}")
        return result

    def _initdb(self) -> None:
        assert self.folder is not None
        self._run(
            "initdb", "-D", str(self.folder / "data"), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
            "--no-locale", "--no-sync",
        )  # fmt: skip

    def _start_server(self, attempts: int = 3) -> None:
        assert self.folder is not None
        for attempt in range(attempts):
            port = free_port()  # another process may take it before the server binds: try again
            options = (
                f"-k {self.folder} -h 127.0.0.1 -p {port} -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off -c max_connections=200"
            )
            self._options = options
            try:
                self.start_server()
            except Unavailable:
                if attempt == attempts - 1:
                    raise Unavailable(f"the PostgreSQL server did not start:\n{self.log()}") from None
                continue
            self.admin_url = f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/postgres"
            return

    def log(self) -> str:
        path = self.folder / "server.log" if self.folder else None
        return path.read_text(errors="replace")[-3000:] if path and path.exists() else ""

    @property
    def owned(self) -> bool:
        """True when this process started the server (so it may stop it)."""
        return self.folder is not None

    def stop_server(self) -> None:
        """Stop (not delete) the server: what a crash or a restart looks like to the site."""
        assert self.folder is not None
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")

    def start_server(self) -> None:
        """Start the server (again) on the same port, with the same settings."""
        assert self.folder is not None
        self._run(
            "pg_ctl", "-D", str(self.folder / "data"), "-l", str(self.folder / "server.log"),
            "-o", self._options, "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server and delete its files; on a server from the environment, drop the
        databases this run made instead."""
        if self.folder is None:
            for url in self.created:
                with contextlib.suppress(Exception):
                    self.drop_database(url)
            return
        with contextlib.suppress(Unavailable, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop", timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def _admin(self):
        import psycopg

        url = make_url(self.admin_url).set(drivername="postgresql")
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True, connect_timeout=10)

    def create_database(self, template: str = "template0") -> str:
        """A new database copied from ``template`` (empty by default); its SQLAlchemy URL."""
        name = f"{self._prefix}{next(self._names)}"
        deadline = time.monotonic() + 10
        while True:
            try:
                with self._admin() as connection:
                    # FILE_COPY (PostgreSQL 15+) copies the files: 4x faster than logging
                    # every page to the WAL, and the WAL does not matter here.
                    strategy = " STRATEGY FILE_COPY" if connection.info.server_version >= 150000 else ""
                    connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"{strategy}')
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        url = make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)
        self.created.append(url)
        return url

    def create_migrated_database(self) -> str:
        """A new database with the site's tables at the newest migration: a copy of one made
        once per session by the site itself (create_app on an empty database), since building
        the schema costs a test four times what copying it does."""
        if self._migrated is None:
            from webapp import create_app
            from webapp.core.extensions import db

            url = self.create_database()
            app = create_app(
                {"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "PRELOAD_MODELS": False, "SECRET_KEY": "x"}
            )
            with app.app_context():
                db.engine.dispose()  # a template must have no connection open
            self._migrated = make_url(url).database
        return self.create_database(self._migrated)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        with self._admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    # Ctrl-C or kill: either stops and deletes the cluster (a background job starts with
    # SIGINT ignored, so both are set here).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    cluster = Cluster.start()
    print(cluster.admin_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        cluster.stop()
