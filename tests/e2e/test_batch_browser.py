"""A batch file end to end in headless Chromium: upload, watch the progress, download; with
screenshots of the upload and job pages at desktop and phone width (tests/helpers/screenshots.py)."""

import csv
import io
import time

import pytest

from tests.helpers import browser as browser_harness
from tests.helpers import screenshots
from tests.helpers.support import make_app, make_questions

pytest.importorskip("selenium", reason="selenium is not installed (make test installs requirements-dev.txt)")
if not browser_harness.available():
    pytest.skip(browser_harness.MISSING, allow_module_level=True)

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow  # a real browser
ROWS = 150


@pytest.fixture(scope="module")
def site(trained_models, tmp_path_factory):
    """The site as it runs for real (not TESTING): its own runner thread tags the uploads,
    slowed down (small chunks, long pauses) so that the progress can be seen moving."""
    folder = tmp_path_factory.mktemp("batch-site")
    app = make_app(
        trained_models / "models",
        folder / "site.sqlite3",
        TESTING=False,
        BATCH_CHUNK=10,
        BATCH_YIELD_PERCENT=1000,
    )
    with browser_harness.served(app) as url:
        yield url, folder


@pytest.fixture(scope="module")
def browser(site):
    _, folder = site
    downloads = folder / "downloads"
    downloads.mkdir()
    with browser_harness.chromium(downloads) as driver:
        yield driver, downloads


def test_upload_a_csv_watch_its_progress_and_download_the_tags(site, browser, tmp_path):
    url, _ = site
    driver, downloads = browser
    questions = [title for title, _ in make_questions(ROWS, seed=5)]
    upload = tmp_path / "my questions.csv"
    with upload.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["title", "ref"])
        writer.writerows([title, f"r{number}"] for number, title in enumerate(questions))

    screenshots.set_viewport(driver, *screenshots.SIZES["desktop"])
    driver.get(url + "/batch/")
    screenshots.save_screenshots(driver, "batch-upload")
    assert fits_a_phone(driver)
    driver.find_element(By.ID, "file").send_keys(str(upload))
    driver.find_element(By.CSS_SELECTOR, ".batch-form button[type=submit]").click()
    WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "batch-bar")))
    assert "/batch/" in driver.current_url

    # The poll moves the bar without reloading the page while the runner works.
    seen = set()
    deadline = time.monotonic() + 60
    while not driver.find_elements(By.ID, "batch-download") and time.monotonic() < deadline:
        value = bar_value(driver)
        if value is not None:
            seen.add(value)
        if len(seen) == 2:
            screenshots.save_screenshots(driver, "batch-progress", sizes=("phone", "desktop"))
        time.sleep(0.1)
    assert len({value for value in seen if 0 < value < ROWS}) >= 1, f"no progress seen between 0 and {ROWS}: {seen}"
    link = WebDriverWait(driver, 10).until(EC.element_to_be_clickable((By.ID, "batch-download")))
    assert f"{ROWS:,} of {ROWS:,}" in driver.find_element(By.ID, "batch-count").text
    screenshots.save_screenshots(driver, "batch-done")
    assert fits_a_phone(driver)

    link.click()
    target = downloads / "my_questions-tagged.csv"
    deadline = time.monotonic() + 15
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows[0] == ["title", "ref", "tags", "scores", "guess"]
    assert [row[0] for row in rows[1:]] == questions
    assert all(row[2] for row in rows[1:])  # every question got tags


def bar_value(driver) -> int | None:
    """The progress bar's value, or None while the page is being replaced at the end: chromium
    reports a node of the old document as stale, or as not belonging to the document."""
    try:
        bars = driver.find_elements(By.ID, "batch-bar")
        return int(float(bars[0].get_attribute("value"))) if bars else None
    except WebDriverException as error:
        if isinstance(error, StaleElementReferenceException) or "does not belong to the document" in str(error):
            return None
        raise


def fits_a_phone(driver) -> bool:
    """Whether the page needs no sideways scrolling at a phone's width (the window is put back)."""
    before = driver.get_window_size()
    try:
        width, height = screenshots.SIZES["phone"]
        screenshots.set_viewport(driver, width, height)
        return driver.execute_script("return document.documentElement.scrollWidth") <= width
    finally:
        driver.set_window_size(before["width"], before["height"])
