"""The web pages in a real browser: Debian's headless Chromium driven by Selenium.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (Debian's ``chromium``
and ``chromium-driver``; ``.ci/run`` installs them). Selenium is pointed at
both, so its driver manager never downloads anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from collector_harness import CollectorProcess, a_run, new_project
from web_demo import FAILING, HOSTILE, HOSTILE_RUN_ID, Seeded

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def _node_is_gone(error: WebDriverException) -> bool:
    """chromedriver's answer, besides a stale reference, when a node's document was replaced under it."""
    return isinstance(error, StaleElementReferenceException) or "does not belong to the document" in str(error)


def _is_replaced(page: WebElement) -> bool:
    """Whether the document whose root is ``page`` has given way to another one."""
    try:
        page.is_enabled()
    except WebDriverException as error:
        if _node_is_gone(error):
            return True
        raise
    return False


class Browser:
    """A Chromium session that remembers every request its pages sent and every console message."""

    def __init__(self, driver: webdriver.Chrome, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url
        self.requested: list[str] = []
        self.console: list[str] = []

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)
        self.drain_logs()

    def drain_logs(self) -> None:
        for entry in self.driver.get_log("performance"):  # type: ignore[no-untyped-call]
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                self.requested.append(message["params"]["request"]["url"])
        self.console.extend(entry["message"] for entry in self.driver.get_log("browser"))  # type: ignore[no-untyped-call]

    def follow(self, element: WebElement) -> None:
        """Click a link or submit button and wait for the next page to replace this one."""
        page = self.driver.find_element(By.TAG_NAME, "html")
        try:
            element.click()
        except WebDriverException as error:
            # the click has already replaced the document; the wait below still fails if no navigation happened
            if not _node_is_gone(error):
                raise
        WebDriverWait(self.driver, 30).until(lambda _: _is_replaced(page))
        self.drain_logs()

    def link(self, text: str) -> WebElement:
        return self.driver.find_element(By.LINK_TEXT, text)

    def h1(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "h1").text

    @property
    def path(self) -> str:
        parts = urlsplit(self.driver.current_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def sign_in(self, token: str) -> None:
        self.open("/ui/signin")
        self.driver.find_element(By.ID, "token").send_keys(token)
        self.follow(self.driver.find_element(By.CSS_SELECTOR, "form[action='/ui/signin'] button"))

    def alert_text(self) -> str | None:
        try:
            return self.driver.switch_to.alert.text
        except NoAlertPresentException:
            return None


@pytest.fixture(scope="module")
def driver() -> Iterator[webdriver.Chrome]:
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), "install Debian's chromium and chromium-driver (see .ci/run)"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-background-networking",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1200,900",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    chrome.set_page_load_timeout(30)
    yield chrome
    chrome.quit()


@pytest.fixture
def browser(driver: webdriver.Chrome, seeded: Seeded) -> Iterator[Browser]:
    """A browser on the seeded project's collector, signed out, at desktop width."""
    driver.set_window_size(1200, 900)
    driver.get(seeded.project.url + "/ui/signin")
    driver.delete_all_cookies()
    page = Browser(driver, seeded.project.url)
    page.drain_logs()
    yield page


def test_signing_in_through_the_form_opens_the_overview(browser: Browser, seeded: Seeded) -> None:
    browser.open("/ui/runs")
    assert browser.path == "/ui/signin?next=%2Fui%2Fruns"

    browser.sign_in(seeded.project.read_token)

    assert browser.path == "/ui/"
    assert browser.h1() == "Overview"
    assert browser.driver.find_element(By.CLASS_NAME, "project").text == seeded.project.slug
    assert len(browser.driver.find_elements(By.CSS_SELECTOR, "figure.chart svg")) == 3


def test_a_wrong_token_shows_why_on_the_sign_in_page(browser: Browser, seeded: Seeded) -> None:
    browser.sign_in(seeded.project.ingest_token)

    assert browser.path == "/ui/signin"
    assert "can only send results" in browser.driver.find_element(By.CSS_SELECTOR, "p.error").text
    assert browser.driver.get_cookies() == []


def test_every_page_opens_from_the_navigation(browser: Browser, seeded: Seeded) -> None:
    browser.sign_in(seeded.project.read_token)

    for label, heading in [
        ("Runs", "Runs"),
        ("Flaky", "Flaky tests"),
        ("Slowest", "Slowest tests"),
        ("Failing", "Failing tests"),
        ("Overview", "Overview"),
    ]:
        browser.follow(browser.link(label))
        assert browser.h1() == heading
        current = browser.driver.find_element(By.CSS_SELECTOR, "nav a[aria-current='page']")
        assert current.text == label

    browser.follow(browser.link("Runs"))
    browser.follow(browser.link(seeded.runs[-1].run_id))
    assert browser.h1() == f"Run {seeded.runs[-1].run_id}"


def test_a_failing_test_leads_to_its_history_and_on_to_a_run(browser: Browser, seeded: Seeded) -> None:
    browser.sign_in(seeded.project.read_token)
    browser.follow(browser.link("Failing"))

    browser.follow(browser.link(FAILING.split("::")[1]))

    assert browser.h1() == FAILING.split("::")[1]
    assert browser.driver.find_element(By.CSS_SELECTOR, "p.test-id").text == FAILING
    assert browser.path == "/ui/tests?" + urlencode({"test_id": FAILING})
    strip = browser.driver.find_elements(By.CSS_SELECTOR, "figure.chart")[0]
    assert len(strip.find_elements(By.CSS_SELECTOR, "rect.mark")) == len(seeded.runs)

    rows = browser.driver.find_elements(By.CSS_SELECTOR, "table.history tbody tr")
    browser.follow(rows[0].find_element(By.TAG_NAME, "a"))

    assert browser.h1() == f"Run {seeded.runs[-1].run_id}"
    name = FAILING.split("::")[1]
    failure = browser.driver.find_element(By.XPATH, f"//table[@class='tests']//tr[.//a[text()='{name}']]//details")
    traceback = failure.find_elements(By.TAG_NAME, "pre")[-1]
    assert not traceback.is_displayed()
    failure.find_element(By.TAG_NAME, "summary").click()
    assert traceback.is_displayed()
    assert "assert reserved <= stock" in traceback.text


def test_a_hostile_test_name_shows_as_text_and_runs_nothing(browser: Browser, seeded: Seeded) -> None:
    browser.sign_in(seeded.project.read_token)
    test_page = "/ui/tests?" + urlencode({"test_id": f"tests/test_evil.py::{HOSTILE}"})

    browser.open("/ui/failing")
    name = browser.link(HOSTILE)
    assert name.is_displayed()
    browser.follow(name)
    assert browser.path == test_page
    titles = [t.get_attribute("textContent") for t in browser.driver.find_elements(By.CSS_SELECTOR, "svg title")]
    assert any(HOSTILE_RUN_ID in (title or "") for title in titles)

    browser.follow(browser.driver.find_element(By.CSS_SELECTOR, "table.history tbody a"))
    assert browser.h1() == f"Run {HOSTILE_RUN_ID}"
    assert HOSTILE in browser.driver.find_element(By.CSS_SELECTOR, "table.tests").text

    for path in ("/ui/failing", "/ui/runs", test_page, browser.path):
        browser.open(path)
        assert browser.alert_text() is None, path
        assert browser.driver.find_elements(By.TAG_NAME, "img") == [], path
        assert browser.driver.find_elements(By.TAG_NAME, "script") == [], path


def test_the_pages_fit_a_375_px_wide_screen_and_wide_tables_scroll_inside_it(browser: Browser, seeded: Seeded) -> None:
    browser.sign_in(seeded.project.read_token)
    browser.driver.set_window_size(375, 812)
    assert browser.driver.execute_script("return window.innerWidth") == 375

    pages = [
        "/ui/",
        "/ui/runs",
        "/ui/flaky",
        "/ui/slowest",
        "/ui/failing",
        "/ui/quarantine",
        "/ui/tests?" + urlencode({"test_id": FAILING}),
    ]
    for path in pages + ["/ui/runs/" + seeded.runs[-1].run_id.replace("/", "%2F")]:
        browser.open(path)
        page_width = browser.driver.execute_script("return document.documentElement.scrollWidth")
        assert page_width <= 375, path
        assert browser.link("Failing").is_displayed(), path

    table = browser.driver.find_element(By.CSS_SELECTOR, ".table-wrap")
    assert browser.driver.execute_script("return arguments[0].scrollWidth > arguments[0].clientWidth", table)
    assert browser.driver.find_element(By.CSS_SELECTOR, "form.signout button").is_displayed()


def test_signing_out_returns_to_sign_in_and_the_pages_ask_again(browser: Browser, seeded: Seeded) -> None:
    browser.sign_in(seeded.project.read_token)

    browser.follow(browser.driver.find_element(By.CSS_SELECTOR, "form.signout button"))

    assert browser.path == "/ui/signin?signed_out=1"
    assert browser.driver.find_element(By.CSS_SELECTOR, "p.notice").text == "You are signed out."
    assert browser.driver.get_cookies() == []
    browser.open("/ui/failing")
    assert browser.path == "/ui/signin?next=%2Fui%2Ffailing"
    assert browser.h1() == "Sign in"


def test_no_request_leaves_this_machine_and_nothing_breaks_the_content_security_policy(
    browser: Browser, seeded: Seeded
) -> None:
    browser.sign_in(seeded.project.read_token)
    for label in ("Runs", "Flaky", "Slowest", "Failing", "Overview"):
        browser.follow(browser.link(label))
    browser.open("/ui/tests?" + urlencode({"test_id": FAILING}))
    browser.open("/ui/runs/" + seeded.runs[-1].run_id.replace("/", "%2F"))

    assert len(browser.requested) >= 10
    assert any(url.endswith("/ui/static/style.css") for url in browser.requested)
    for url in browser.requested:
        parts = urlsplit(url)
        assert parts.scheme == "data" or parts.hostname in LOCAL_HOSTS, url
    assert [line for line in browser.console if "Content Security Policy" in line] == []


def test_a_run_page_shows_each_failures_class_and_since_leads_to_the_run_that_started_the_streak(
    browser: Browser, seeded: Seeded
) -> None:
    browser.sign_in(seeded.project.read_token)
    browser.open("/ui/runs/" + seeded.runs[-1].run_id.replace("/", "%2F"))
    name = FAILING.split("::")[1]
    row = browser.driver.find_element(By.XPATH, f"//table[@class='tests']//tr[.//a[text()='{name}']]")

    badge = row.find_element(By.CSS_SELECTOR, ".badge.verdict")
    since = row.find_element(By.CSS_SELECTOR, ".since a")
    assert badge.text == "failing on main" and badge.is_displayed()
    assert "judged against main" in browser.driver.find_element(By.CSS_SELECTOR, "p.verdict").text
    browser.follow(since)

    assert browser.h1().startswith("Run ") and browser.h1() != f"Run {seeded.runs[-1].run_id}"
    started = browser.driver.find_element(By.XPATH, f"//table[@class='tests']//tr[.//a[text()='{name}']]")
    assert started.find_element(By.CSS_SELECTOR, ".badge").text == "failed"


def test_a_triage_token_quarantines_a_test_from_its_page_and_the_quarantine_page_lists_it(
    browser: Browser, collector: CollectorProcess
) -> None:
    project = new_project(collector)
    test_id = "tests/test_net.py::test_retry[dns]"
    assert project.post_run(a_run("r1", tests=[{"id": test_id, "status": "failed"}])).status_code == 201
    minted = requests.post(f"{collector.url}/tokens", json={"project": project.slug, "scopes": ["triage"],
                                                            "name": "browser-triage"},
                           headers={"Authorization": f"Bearer {collector.admin_token}"}, timeout=30)
    browser.sign_in(minted.json()["token"])
    browser.open("/ui/tests?" + urlencode({"test_id": test_id}))

    browser.driver.find_element(By.ID, "reason").send_keys("flaky DNS on CI, #812")
    browser.follow(browser.driver.find_element(By.CSS_SELECTOR, "form[action='/ui/quarantine/add'] button"))

    assert "quarantined by browser-triage" in browser.driver.find_element(By.CSS_SELECTOR, ".quarantine-state").text
    browser.follow(browser.link("Quarantine"))
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "table.quarantine tbody tr")
    assert [row.find_element(By.TAG_NAME, "th").text for row in rows] == [test_id]
    assert "flaky DNS on CI, #812" in rows[0].text and "browser-triage" in rows[0].text


def test_a_read_token_sees_the_quarantine_but_no_form_to_change_it(browser: Browser, seeded: Seeded) -> None:
    browser.sign_in(seeded.project.read_token)
    browser.open("/ui/tests?" + urlencode({"test_id": FAILING}))

    state = browser.driver.find_element(By.CSS_SELECTOR, ".quarantine-state")

    assert "Not quarantined" in state.text
    assert state.find_elements(By.TAG_NAME, "form") == [] and browser.driver.find_elements(By.ID, "reason") == []
    browser.follow(browser.link("Quarantine"))
    assert browser.driver.find_elements(By.CSS_SELECTOR, "form[action='/ui/quarantine/release']") == []
