"""The real parts the browser tests share: an app served by werkzeug on a free loopback
port, and Debian's headless chromium driven through its chromedriver."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1000",
)
MISSING = "Debian's chromium and chromium-driver are not installed; `make test` installs them"


def available() -> bool:
    return bool(CHROMIUM) and Path(CHROMEDRIVER).exists()


@contextmanager
def served(app) -> Iterator[str]:
    """The app's base URL while a threaded werkzeug server serves it."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def chromium(downloads: Path | None = None) -> Iterator:
    """A headless chromium with a throwaway profile (downloads go to ``downloads``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="tagsmith-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    if downloads is not None:
        options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def ask_when_suggested(driver, timeout: float = 10) -> None:
    """Press the ask form's "Suggest tags" once the suggestions while typing have arrived and
    the button has stopped moving: they appear above it a moment after the last key, and a
    click aimed before they push it down lands on a suggested tag instead (a flaky test)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    button = driver.find_element(By.CSS_SELECTOR, "button[type=submit].button-primary")
    places: list[tuple[float, float]] = []

    def settled(driver) -> bool:
        if not driver.find_elements(By.CSS_SELECTOR, "#live-tags li"):
            return False
        places.append((button.rect["x"], button.rect["y"]))
        return len(places) >= 3 and len(set(places[-3:])) == 1  # the same place for ~0.8 s

    WebDriverWait(driver, timeout, poll_frequency=0.4).until(settled)
    button.click()
