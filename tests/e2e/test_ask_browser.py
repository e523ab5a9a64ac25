"""The ask and review pages in a real headless Chromium: suggestions while typing, example
questions, reasons, Accept all, keys, and a failed save's marks; screenshots at desktop and
phone size (tests/helpers/screenshots.py) of each state worth showing."""

import pytest

from tests.e2e import test_site_browser as browser_tests
from tests.e2e.test_site_browser import EC, By, Keys, wait
from tests.helpers import browser as browser_harness
from tests.helpers.screenshots import save_screenshots
from tests.helpers.support import count_rows
from webapp.core.tables import Question

# The served site and the browser of the other browser tests (one of each per module).
site = browser_tests.site
browser = browser_tests.browser

pytestmark = pytest.mark.slow  # a real browser


def live_tags(driver) -> list[str]:
    return [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#live-tags .live-tag .tag")]


def test_suggestions_appear_while_typing_and_examples_fill_the_form(site, browser):
    url, app = site
    stored = count_rows(app, Question.__table__)
    browser.get(url + "/")
    assert browser.find_element(By.ID, "live").is_displayed()
    save_screenshots(browser, "ask-empty")

    title = browser.find_element(By.ID, "title")
    title.send_keys("error when using sp")
    title.send_keys("ring with a hashmap")
    wait(browser).until(lambda driver: live_tags(driver)[:1] == ["java"])
    scores = browser.find_elements(By.CSS_SELECTOR, "#live-tags .score-value")
    assert scores and 0 < float(scores[0].text.split()[0]) <= 1
    assert "java" in browser.find_element(By.ID, "live-status").text  # what a screen reader hears
    body = browser.find_element(By.ID, "body")
    body.send_keys("I also run a select with a join")
    wait(browser).until(lambda driver: "sql" in live_tags(driver))
    save_screenshots(browser, "ask-typing", show=browser.find_element(By.ID, "live"))
    assert count_rows(app, Question.__table__) == stored  # typing stores nothing

    title.clear()
    body.clear()
    title.send_keys(" ")  # an input event with nothing to ask about
    wait(browser).until(lambda driver: live_tags(driver) == [])
    browser.get(url + "/")
    example = browser.find_element(By.CSS_SELECTOR, "a.example")
    wanted = example.get_attribute("data-title")
    example.click()
    assert browser.current_url.rstrip("/") == url  # filled in place, not submitted
    assert browser.find_element(By.ID, "title").get_attribute("value") == wanted
    wait(browser).until(lambda driver: live_tags(driver))
    assert count_rows(app, Question.__table__) == stored


def test_reasons_accept_all_keys_and_a_failed_save(site, browser):
    url, _ = site
    browser_tests.log_in_browser(url, browser)  # reviewing needs a reviewer
    browser.get(url + "/")
    browser.find_element(By.ID, "title").send_keys("hashmap in the jvm with maven")
    browser_harness.ask_when_suggested(browser)
    wait(browser).until(EC.presence_of_element_located((By.ID, "results")))
    assert browser.find_element(By.CSS_SELECTOR, ".site-nav [aria-current=page]").text == "Ask"
    why = browser.find_element(By.CSS_SELECTOR, "#panel-baseline .reasons")
    assert why.is_displayed() and why.text.startswith("Why: words") and "maven" in why.text
    save_screenshots(browser, "result", show=why)

    rows = {
        row.find_element(By.CSS_SELECTOR, ".tag").text: row
        for row in browser.find_elements(By.CSS_SELECTOR, ".verdict-row")
    }
    assert {"java", "sql"} <= set(rows)
    assert not any(
        box.is_selected() for row in rows.values() for box in row.find_elements(By.CSS_SELECTOR, "input")
    )  # confident or a guess, every tag starts undecided: the reviewer says
    browser.find_element(By.CSS_SELECTOR, ".review-form button[type=submit]").click()

    wait(browser).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".verdict-row.is-undecided")))
    undecided = browser.find_element(By.CSS_SELECTOR, ".verdict-row.is-undecided")
    first = undecided.find_element(By.CSS_SELECTOR, ".tag").text
    assert "Undecided" in undecided.text
    assert len(browser.find_elements(By.CSS_SELECTOR, ".verdict-row.is-undecided")) == len(rows)
    # The reviewer lands on what is missing.
    wait(browser).until(lambda driver: driver.switch_to.active_element.get_attribute("name") == f"verdict:{first}")
    focused = browser.switch_to.active_element
    save_screenshots(browser, "review-undecided", show=undecided)

    focused.send_keys("r")  # r: wrong, on the focused row
    undecided = browser.find_element(By.CSS_SELECTOR, f".verdict-row:has(input[name='verdict:{first}'])")
    assert undecided.find_element(By.CSS_SELECTOR, "input[value=reject]").is_selected()
    assert "is-undecided" not in undecided.get_attribute("class")
    browser.find_element(By.ID, "accept-all").click()
    boxes = browser.find_elements(By.CSS_SELECTOR, ".verdict-row input[value=accept]")
    assert boxes and all(box.is_selected() for box in boxes)
    browser.find_element(By.CSS_SELECTOR, "input[name='verdict:sql'][value=reject]").find_element(
        By.XPATH, ".."
    ).click()
    browser.find_element(By.CSS_SELECTOR, ".review-form button[type=submit]").click()

    notice = wait(browser).until(EC.visibility_of_element_located((By.ID, "review-saved")))
    assert "Review saved" in notice.text
    wait(browser).until(lambda driver: driver.switch_to.active_element == notice)  # where the reviewer is
    top = browser.execute_script("return arguments[0].getBoundingClientRect().top", notice)
    assert 0 <= top < browser.execute_script("return window.innerHeight")  # on screen, not at the top of the page
    right = browser.find_element(By.CSS_SELECTOR, ".right-tags").text
    assert "java" in right and "sql" not in right
    save_screenshots(browser, "review-saved")
    browser.find_element(By.ID, "added").send_keys(Keys.ALT, "a")  # Alt+A: accept all, from anywhere in the form
    assert browser.find_element(By.CSS_SELECTOR, "input[name='verdict:sql'][value=accept]").is_selected()
    assert browser.find_element(By.ID, "review-keys").is_displayed()
    # On a phone (touch, no hover) there is no keyboard to use the shortcuts with: no hint.
    browser.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})
    try:
        browser.refresh()
        wait(browser).until(EC.presence_of_element_located((By.ID, "review-keys")))
        assert browser.execute_script("return matchMedia('(hover: none)').matches")
        assert not browser.find_element(By.ID, "review-keys").is_displayed()
    finally:
        browser.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})
