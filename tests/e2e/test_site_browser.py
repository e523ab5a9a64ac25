"""End to end in a real headless Chromium: ask, flip the result toggle, review a tag.

`make test` installs Debian's chromium and chromium-driver; a plain `pytest` on a machine
without them skips these tests and says why.
"""

from urllib.parse import urlsplit

import pytest

from tests.helpers import browser as browser_harness
from tests.helpers import screenshots
from tests.helpers.support import REVIEWER, REVIEWER_PASSWORD, FakeTransformer, add_reviewer, make_app, reviewer_client

selenium = pytest.importorskip("selenium", reason="selenium is not installed (make test installs requirements-dev.txt)")
if not browser_harness.available():
    pytest.skip(browser_harness.MISSING, allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow  # a real browser


@pytest.fixture(scope="module")
def site(trained_models, tmp_path_factory):
    """The app with the fake transformer, served by werkzeug on a free loopback port."""
    folder = tmp_path_factory.mktemp("browser-site")
    app = make_app(trained_models / "models", folder / "site.sqlite3", transformer=FakeTransformer(), TESTING=False)
    add_reviewer(app)
    with browser_harness.served(app) as url:
        yield url, app


@pytest.fixture(scope="module")
def browser():
    with browser_harness.chromium() as driver:
        yield driver


def wait(driver):
    return WebDriverWait(driver, 10)


def test_ask_toggle_and_review_in_a_browser(site, browser):
    site, _ = site
    browser.get(site + "/")
    browser.find_element(By.ID, "title").send_keys("spring hashmap with a join <b>in java</b>")
    browser.find_element(By.ID, "body").send_keys("```\nMap<String, Integer> m = new HashMap<>();\n```")
    browser_harness.ask_when_suggested(browser)
    wait(browser).until(EC.presence_of_element_located((By.ID, "results")))
    assert "/history/" in browser.current_url
    assert browser.find_element(By.CSS_SELECTOR, ".question-title").text == "spring hashmap with a join <b>in java</b>"

    baseline = browser.find_element(By.ID, "panel-baseline")
    transformer = browser.find_element(By.ID, "panel-transformer")
    assert baseline.is_displayed() and transformer.is_displayed()  # side by side first
    assert "java" in transformer.text and "0.90" in transformer.text

    browser.find_element(By.CSS_SELECTOR, '.toggle-button[data-view="baseline"]').click()
    assert baseline.is_displayed() and not transformer.is_displayed()
    browser.find_element(By.CSS_SELECTOR, '.toggle-button[data-view="transformer"]').click()
    assert transformer.is_displayed() and not baseline.is_displayed()
    assert (
        browser.find_element(By.CSS_SELECTOR, '.toggle-button[data-view="transformer"]').get_attribute("aria-pressed")
        == "true"
    )
    assert "view=transformer" in browser.current_url  # no resubmission: the view is in the address

    # Anyone may ask; reviewing needs a reviewer, who logs in and comes back to the question.
    question = browser.current_url.split("?")[0]
    assert browser.find_element(By.CSS_SELECTOR, ".review-fields").get_attribute("disabled") is not None
    right = browser.find_element(By.CSS_SELECTOR, ".choice-accept span")  # and it looks disabled
    assert right.value_of_css_property("cursor") == "not-allowed"
    assert right.value_of_css_property("border-top-style") == "dashed"
    browser.find_element(By.LINK_TEXT, "Log in to review").click()
    log_in_here(browser)
    wait(browser).until(EC.presence_of_element_located((By.ID, "results")))
    assert browser.current_url.split("#")[0] == question
    assert "Reviewer ada" in browser.find_element(By.CSS_SELECTOR, ".site-account").text
    assert browser.find_element(By.CSS_SELECTOR, ".review-fields").get_attribute("disabled") is None

    verdicts = browser.find_elements(By.CSS_SELECTOR, ".verdict-row")
    tags = [row.find_element(By.CSS_SELECTOR, ".tag").text for row in verdicts]
    assert "java" in tags
    for row, tag in zip(verdicts, tags, strict=True):
        row.find_element(By.CSS_SELECTOR, ".choice-accept" if tag == "java" else ".choice-reject").click()
    browser.find_element(By.ID, "added").send_keys("hibernate")
    browser.find_element(By.CSS_SELECTOR, ".review-form button[type=submit]").click()
    wait(browser).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice-success"), "Review saved"))
    right = browser.find_element(By.CSS_SELECTOR, ".right-tags").text
    assert "java" in right and "hibernate" in right and "sql" not in right
    assert "by ada" in browser.find_element(By.CSS_SELECTOR, ".review-by").text

    browser.get(site + "/history/")
    entry = browser.find_element(By.CSS_SELECTOR, ".entry")
    assert "spring hashmap with a join" in entry.text and "reviewed" in entry.text and "not reviewed" not in entry.text


def log_in_here(browser):
    """Fill in the login page the browser is on."""
    wait(browser).until(EC.presence_of_element_located((By.ID, "password")))
    browser.find_element(By.ID, "name").send_keys(REVIEWER)
    browser.find_element(By.ID, "password").send_keys(REVIEWER_PASSWORD, Keys.ENTER)


def log_in_browser(site, browser):
    browser.get(site + "/login")
    if browser.find_elements(By.ID, "password"):  # not logged in by an earlier test
        log_in_here(browser)
        wait(browser).until(EC.url_to_be(site + "/"))


def test_pages_fit_a_phone_and_stack_the_panels(site, browser):
    site, app = site
    created = app.test_client().post(
        "/api/v1/suggest", json={"title": "A long-winded question about linq and wpf " * 4}
    )
    page = urlsplit(created.get_json()["page"]).path  # absolute, for the test client's host
    vague = app.test_client().post("/api/v1/suggest", json={"title": "it does not work at all"})
    guess = urlsplit(vague.get_json()["page"]).path  # a "low confidence" guess beside its score
    browser.set_window_size(390, 844)
    try:
        for url in ("/", "/history/", page, guess, "/stats", "/models", "/history/999999"):
            browser.get(site + url)
            # Against the viewport, not the window: the window's width counts its scrollbar.
            width, viewport = browser.execute_script(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert width <= viewport, f"{url} scrolls sideways on a phone ({width}px in {viewport}px)"
        browser.get(site + page)
        baseline = browser.find_element(By.ID, "panel-baseline")
        transformer = browser.find_element(By.ID, "panel-transformer")
        assert transformer.location["y"] >= baseline.location["y"] + baseline.size["height"]
    finally:
        browser.set_window_size(1280, 1000)


def test_missing_tags_autocomplete_from_the_catalogue(site, browser):
    site, _ = site
    log_in_browser(site, browser)
    browser.get(site + "/")
    browser.find_element(By.ID, "title").send_keys("pod keeps restarting in a cluster")
    browser_harness.ask_when_suggested(browser)
    wait(browser).until(EC.presence_of_element_located((By.ID, "results")))
    field = browser.find_element(By.ID, "added")
    field.send_keys("docker k8")
    wait(browser).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#added-suggestions .suggestion")))
    first = browser.find_element(By.CSS_SELECTOR, "#added-suggestions .suggestion")
    assert first.find_element(By.CSS_SELECTOR, ".tag").text == "kubernetes" and "for k8s" in first.text
    assert field.get_attribute("aria-expanded") == "true"
    field.send_keys(Keys.ARROW_DOWN, Keys.ENTER)  # Enter picks the option; it does not submit the form
    assert field.get_attribute("value") == "docker kubernetes "
    assert not browser.find_element(By.ID, "added-suggestions").is_displayed()
    field.send_keys("golang pyhton")  # said while typing, before the field is left
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "added-preview"), "pyhton is new"))
    preview = browser.find_element(By.ID, "added-preview").text
    assert "golang will be saved as go" in preview and "Did you mean python?" in preview
    assert browser.switch_to.active_element == field
    # A tag also marked wrong above is flagged as a contradiction.
    tag = browser.find_element(By.CSS_SELECTOR, ".verdict-row .tag").text
    browser.find_element(By.CSS_SELECTOR, f"input[name='verdict:{tag}'][value=reject]").find_element(
        By.XPATH, ".."
    ).click()
    field.send_keys(" " + tag)
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "added-preview"), f"{tag} is marked wrong above"))


def test_the_api_page_renders_the_document_under_the_csp(site, browser):
    """Swagger UI, served by the site, draws every endpoint with the site's CSP in force."""
    site, _ = site
    browser.get(site + "/api/v1/docs")
    wait(browser).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path")))
    paths = {
        element.text.replace("\u200b", "")
        for element in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    }
    assert {"/api/v1/suggest", "/api/v1/predictions", "/api/v1/predictions/{prediction_id}"} <= paths
    assert "tagsmith API" in browser.find_element(By.CSS_SELECTOR, ".info .title").text
    link = browser.find_element(By.CSS_SELECTOR, ".docs-bar a")  # the site's header, styled
    assert link.value_of_css_property("text-decoration-line") == "none"

    # Dark mode reaches Swagger UI too: the page's background follows the reader's scheme.
    def background() -> str:
        return browser.execute_script("return getComputedStyle(document.documentElement).backgroundColor")

    light = background()
    colour_scheme(browser, "dark")
    try:
        assert (
            background() != light
            and browser.find_element(By.ID, "swagger-ui").value_of_css_property("filter") != "none"
        )
    finally:
        colour_scheme(browser, "light")


# -- the look: charts, dark mode, announced errors, screenshots ---------------------------


def colour_scheme(driver, scheme: str) -> None:
    """Emulate the system's light or dark setting (prefers-color-scheme) through DevTools."""
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"media": "", "features": [{"name": "prefers-color-scheme", "value": scheme}]}
    )


def viewport(driver, width: int, height: int) -> None:
    """An exact viewport (the window's size leaves out the browser's own frame)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 760},
    )


def computed(driver, selector: str, prop: str) -> str:
    return driver.execute_script(
        "return getComputedStyle(document.querySelector(arguments[0])).getPropertyValue(arguments[1]);", selector, prop
    )


def test_stats_charts_render_and_dark_mode_follows_the_system(site, browser):
    site, app = site
    client = reviewer_client(app, "charts")  # feedback needs a reviewer's token
    for title in ("pandas dataframe merge in python", "java spring beans", "sql join on two tables"):
        created = client.post("/api/v1/suggest", json={"title": title}).get_json()
    client.post(f"/api/v1/predictions/{created['id']}/feedback", json={"accepted": [], "added": ["postgresql"]})
    try:
        browser.get(site + "/stats")
        for key in ("usage", "precision", "suggested", "rejected", "added", "unknown"):
            chart = browser.find_element(By.CSS_SELECTOR, f"#chart-{key} svg[role=img]")
            assert chart.is_displayed() and chart.size["width"] > 200, key
        assert browser.find_elements(By.CSS_SELECTOR, "#chart-usage .chart-line")  # a drawn line
        table = browser.find_element(By.CSS_SELECTOR, "#chart-usage details table")
        assert not table.is_displayed()  # the figures wait behind their toggle...
        browser.find_element(By.CSS_SELECTOR, "#chart-usage details summary").click()
        assert table.is_displayed() and "asked" in table.text.lower()  # ...and show with a click
        unknown = browser.find_element(By.ID, "chart-unknown").text
        assert "postgresql" in unknown

        colour_scheme(browser, "light")
        assert computed(browser, "body", "background-color") == "rgb(245, 246, 248)"
        light_line = computed(browser, "#chart-usage .chart-line", "stroke")
        colour_scheme(browser, "dark")
        assert computed(browser, "body", "background-color") == "rgb(13, 17, 23)"
        assert computed(browser, ".card", "background-color") == "rgb(22, 27, 34)"
        assert computed(browser, "#chart-usage .chart-line", "stroke") == "rgb(88, 166, 255)" != light_line
    finally:
        colour_scheme(browser, "light")


def test_a_failed_submit_focuses_the_first_invalid_field(site, browser):
    site, _ = site
    browser.get(site + "/")
    browser.find_element(By.CSS_SELECTOR, ".options summary").click()
    browser.find_element(By.ID, "title").send_keys("python django question")
    top_k = browser.find_element(By.ID, "top_k")
    top_k.clear()
    top_k.send_keys("0", Keys.ENTER)
    summary = wait(browser).until(EC.presence_of_element_located((By.ID, "error-summary")))
    assert summary.get_attribute("role") == "alert" and "top_k" in summary.find_element(By.TAG_NAME, "a").get_attribute(
        "href"
    )
    focused = browser.switch_to.active_element
    assert focused.get_attribute("id") == "top_k" and focused.get_attribute("aria-invalid") == "true"
    error = browser.find_element(By.ID, focused.get_attribute("aria-describedby"))
    assert error.is_displayed() and error.text
    ring = computed(browser, "#top_k", "outline-color")
    assert ring == "rgb(11, 92, 173)", ring  # the focus ring: --focus, 3:1 or more on the card


def test_screenshots_of_every_page_light_and_dark_at_desktop_and_phone_width(site, browser):
    site, app = site
    created = (
        app.test_client().post("/api/v1/suggest", json={"title": "docker compose network for postgres"}).get_json()
    )
    pages = {
        "ask": "/",
        "question": urlsplit(created["page"]).path,
        "history": "/history/",
        "stats": "/stats",
        "models": "/models",
        "model-tags": "/models/baseline/tags?sort=-f1",
    }
    saved = []
    try:
        for scheme in ("light", "dark"):
            colour_scheme(browser, scheme)
            for size, (width, height) in screenshots.SIZES.items():
                viewport(browser, width, height)
                for name, url in pages.items():
                    browser.get(site + "/" + url.lstrip("/"))
                    saved.append(screenshots.save_full_page(browser, f"{name}-{size}-{scheme}"))
                browser.get(site + "/")
                browser.find_element(By.ID, "title").send_keys("ab", Keys.ENTER)
                wait(browser).until(EC.presence_of_element_located((By.ID, "error-summary")))
                saved.append(screenshots.save_full_page(browser, f"ask-error-{size}-{scheme}"))
    finally:
        colour_scheme(browser, "light")
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert len(saved) == 2 * 2 * (len(pages) + 1)
    for path in saved:
        assert path.stat().st_size > 5_000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
