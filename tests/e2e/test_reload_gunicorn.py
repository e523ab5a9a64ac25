"""A new model version reaches every gunicorn worker without a restart or a failed request."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from ml.artifacts import METADATA_FILE
from tests.e2e.test_site_gunicorn import GUNICORN, ROOT, call, free_port, stop

pytestmark = pytest.mark.slow  # a real gunicorn server and a training


def test_workers_switch_to_a_new_version_between_requests(trained_models, tiny_corpus, new_database, tmp_path):
    if not GUNICORN.exists():
        pytest.skip(f"gunicorn is not installed at {GUNICORN}")
    models = tmp_path / "models"
    shutil.copytree(trained_models / "models" / "baseline", models / "baseline")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("TAGSMITH_")}
    env.update(
        DATABASE_URL=new_database(),
        TAGSMITH_MODELS_DIR=str(models),
        SECRET_KEY="reload-test",
        TAGSMITH_RATE_LIMITS="0",
    )
    log = open(tmp_path / "gunicorn.log", "w+")  # noqa: SIM115  (the server writes to it until the test ends)
    command = [str(GUNICORN), "--config", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}"]
    server = subprocess.Popen([*command, "--workers", "2"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def ask(number: int) -> tuple[int, dict]:
        status, body = call(base + "/api/v1/suggest", {"title": f"pandas dataframe question {number}"})
        return status, json.loads(body)

    try:
        deadline = time.monotonic() + 60
        while server.poll() is None and time.monotonic() < deadline:
            try:
                if call(base + "/healthz/ready", timeout=2)[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            log.seek(0)
            pytest.fail(f"gunicorn did not come up:\n{log.read()[-3000:]}")
        version_a = json.loads((models / "baseline" / METADATA_FILE).read_text())["model_version"]
        assert {ask(n)[1]["answers"]["baseline"]["model_version"] for n in range(6)} == {version_a}

        # Questions keep coming while the new version is trained and switched to.
        during: list[tuple[int, dict]] = []
        done = threading.Event()

        def keep_asking() -> None:
            while not done.is_set():
                during.append(ask(len(during)))

        asker = threading.Thread(target=keep_asking)
        asker.start()
        try:
            train = [sys.executable, "-m", "ml", "--quiet", "train", "--model", "baseline", "--new-version"]
            train += ["--output", str(models / "baseline"), "--data", str(tiny_corpus), "--splits-dir", str(tmp_path)]
            subprocess.run([*train, "--min-df", "1", "--char-ngrams", "2-4"], cwd=ROOT, check=True, timeout=300)
            time.sleep(1.5)  # past each worker's once-a-second check
        finally:
            done.set()
            asker.join()
        version_b = json.loads((models / "baseline" / METADATA_FILE).read_text())["model_version"]
        assert version_b != version_a
        assert during and all(status == 201 for status, _ in during)
        assert {body["answers"]["baseline"]["model_version"] for _, body in during} <= {version_a, version_b}

        after = [ask(n) for n in range(8)]  # both workers answer some of them
        assert {body["answers"]["baseline"]["model_version"] for _, body in after} == {version_b}
        status, stored = call(after[0][1]["url"])  # the API answers absolute links
        assert status == 200 and json.loads(stored)["answers"]["baseline"]["model_version"] == version_b
        log.seek(0)
        assert log.read().count(f"-> {version_b}") >= 1  # "reloaded the baseline model: A -> B"
    finally:
        stop(server)
        log.close()
