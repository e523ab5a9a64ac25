"""The Docker image and compose file: checked as files everywhere, built and started where a
Docker daemon answers (the slow test), skipped with the reason where none does."""

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    found, pending = [], ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            keyword, _, rest = pending.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
            pending = ""
    return found


def stages(path: Path) -> list[list[tuple[str, str]]]:
    split: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(path):
        if keyword == "FROM":
            split.append([])
        split[-1].append((keyword, rest))
    return split


def test_the_image_is_multi_stage_non_root_with_models_and_a_healthcheck():
    builder, runtime = stages(ROOT / "Dockerfile")
    assert builder[0] == ("FROM", "python:3.11-slim AS builder")
    assert runtime[0] == ("FROM", "python:3.11-slim AS runtime")
    assert any(keyword == "RUN" and "make models" in rest for keyword, rest in builder)
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    healthcheck = next(rest for keyword, rest in runtime if keyword == "HEALTHCHECK")
    assert "/healthz/live" in healthcheck
    assert any(keyword == "COPY" and "--from=builder" in rest and "/app/models" in rest for keyword, rest in runtime)
    cmd = json.loads(next(rest for keyword, rest in runtime if keyword == "CMD"))
    assert cmd[:3] == ["gunicorn", "--config", "gunicorn.conf.py"]
    # Every path copied from the build context exists and is not left out by .dockerignore.
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    for keyword, rest in builder + runtime:
        if keyword == "COPY" and "--from=" not in rest:
            for source in [word for word in rest.split() if not word.startswith("--")][:-1]:
                assert (ROOT / source).exists(), source
                assert source not in ignored and source.rstrip("/") not in ignored, source
    assert "!models/transformer" in ignored  # the committed model goes in; locally trained ones do not


def test_compose_runs_the_site_on_postgresql_with_secrets_from_the_environment():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    db, site = compose["services"]["db"], compose["services"]["site"]
    assert db["image"] == "postgres:15"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert site["depends_on"]["db"]["condition"] == "service_healthy"
    assert (
        site["environment"]["DATABASE_URL"].startswith("postgresql://")
        and "@db:5432/" in site["environment"]["DATABASE_URL"]
    )
    assert site["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?")  # no default secret
    assert site["build"] == "."


def docker_daemon_problem() -> str | None:
    if shutil.which("docker") is None:
        return "no docker command"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    if info.returncode != 0:
        return f"no Docker daemon answers ({(info.stderr.strip().splitlines() or ['docker info failed'])[-1]})"
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        return "docker compose (the plugin) is not installed"
    return None


@pytest.mark.slow
def test_compose_builds_starts_and_answers_a_question(tmp_path):
    problem = docker_daemon_problem()
    if problem:
        pytest.skip(f"Docker test skipped: {problem}; run `docker compose up --build` where Docker runs")
    project = f"tagsmith-test-{uuid.uuid4().hex[:8]}"
    port = "18765"
    env = dict(os.environ, SECRET_KEY=uuid.uuid4().hex, TAGSMITH_PORT=port)
    compose = ["docker", "compose", "--project-name", project, "--file", str(ROOT / "compose.yaml")]
    try:
        subprocess.run([*compose, "up", "--build", "--detach"], check=True, env=env, cwd=ROOT, timeout=1800)
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/ready", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            assert time.monotonic() < deadline, "the site did not become ready in 3 minutes"
            time.sleep(2)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/suggest",
            data=json.dumps({"title": "How do I merge two dicts in Python?"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
            assert response.status == 201
        assert any(tag["tag"] == "python" for model in answer["answers"].values() for tag in model["tags"])
    finally:
        subprocess.run([*compose, "down", "--volumes"], env=env, cwd=ROOT, timeout=300)
