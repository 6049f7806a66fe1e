"""A person's way through the site in headless Chromium, against a real ``kgpub serve``:
home -> search "Noboa" -> Daniel Noboa's page -> the sentence in the article -> the query page.

Screenshots of every step go to ``tests/artifacts/browse/`` (git-ignored). Needs Debian's
``chromium`` and ``chromium-driver`` and the ``selenium`` package; skipped without them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROJECT = Path(__file__).parents[2]
ARTIFACTS = PROJECT / "tests" / "artifacts" / "browse"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
)
WAIT_SECONDS = 20
BASE = "https://w3id.org/kgpub/"


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs chromium and chromium-driver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture()
def site(built: Path, server_factory: Callable[..., object]) -> str:
    """``kgpub serve`` on the real build, with the project's ontology folder (example queries)
    and the query editor's assets."""
    server = server_factory(built / "store", "--root", str(PROJECT))
    return server.url  # type: ignore[attr-defined]


class Steps:
    """Numbered screenshots of one journey."""

    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver
        self.number = 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for old in ARTIFACTS.glob("*.png"):
            old.unlink()

    def shot(self, name: str) -> None:
        self.number += 1
        self.driver.save_screenshot(str(ARTIFACTS / f"{self.number:02d}-{name}.png"))

    def wait(self, condition: Callable[[WebDriver], object], what: str) -> object:
        try:
            return WebDriverWait(self.driver, WAIT_SECONDS).until(condition)
        except TimeoutException:
            self.shot("timeout")
            raise AssertionError(
                f"waited {WAIT_SECONDS} s for {what}; at {self.driver.current_url}"
            ) from None


def text_of(element: WebElement) -> str:
    return " ".join(element.text.split())


def severe_errors(driver: WebDriver) -> list[str]:
    """Console errors, but not the browser's own favicon request."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
    ]


def test_browse_from_home_to_the_evidence_and_the_query_page(browser: WebDriver, site: str) -> None:
    steps = Steps(browser)

    # 1. the home page says what the dataset is
    browser.get(site + "/")
    heading = text_of(browser.find_element(By.TAG_NAME, "h1"))
    assert heading.startswith("Knowledge graph of news articles")
    assert browser.title.startswith(heading)
    stats = text_of(browser.find_element(By.CSS_SELECTOR, "ul.stats"))
    assert "triples" in stats and "facts" in stats
    article_link = browser.find_element(By.CSS_SELECTOR, "ul.articles a")
    assert text_of(article_link) == "Ecuador's Security Crisis: A Call for Global Cooperation"
    assert (
        browser.find_element(By.LINK_TEXT, "SPARQL endpoint")
        .get_attribute("href")
        .endswith("/sparql")
    )
    steps.shot("home")

    # 2. typing in the search box suggests matches as you type
    box = browser.find_element(By.ID, "home-q")
    box.send_keys("Nob")
    suggestions = browser.find_element(By.ID, "home-q-suggestions")
    steps.wait(lambda d: suggestions.is_displayed(), "the suggestions")
    options = suggestions.find_elements(By.CSS_SELECTOR, "[role=option]")
    assert text_of(options[0]).startswith("Daniel Noboa")
    assert box.get_attribute("aria-expanded") == "true"
    steps.shot("suggestions")
    assert severe_errors(browser) == []

    # 3. ... and Enter submits the plain form: the results page
    box.send_keys("oa", Keys.ENTER)
    steps.wait(ec.title_contains("Search: Noboa"), "the results page")
    assert urlsplit(browser.current_url).path == "/search"
    results = browser.find_elements(By.CSS_SELECTOR, "ol.results > li > a")
    assert [text_of(r) for r in results][:2] == ["Daniel Noboa", "Noboa administration"]
    assert "Noboa" in text_of(browser.find_element(By.ID, "result-count"))
    steps.shot("results")
    assert severe_errors(browser) == []

    # 4. the resource page
    results[0].click()
    steps.wait(ec.title_contains("Daniel Noboa"), "Daniel Noboa's page")
    assert text_of(browser.find_element(By.TAG_NAME, "h1")) == "Daniel Noboa"
    evidence = browser.find_element(By.CSS_SELECTOR, ".evidence")
    quote_text = text_of(evidence.find_element(By.TAG_NAME, "q"))
    sentence_link = evidence.find_element(By.PARTIAL_LINK_TEXT, "sentence")
    sentence_id = urlsplit(sentence_link.get_attribute("href")).fragment
    assert sentence_id
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", evidence)
    steps.shot("resource")

    # 5. the sentence in the article, anchored and highlighted
    sentence_link.click()
    steps.wait(lambda d: urlsplit(d.current_url).fragment == sentence_id, "the sentence's anchor")
    steps.wait(ec.title_contains("Ecuador's Security Crisis"), "the article page")
    article_path = unquote(urlsplit(browser.current_url).path).removesuffix(".html")
    assert article_path == "/article/ecuador-security-crisis"
    target = browser.execute_script("return document.querySelector(':target')")
    assert target is not None and target.get_attribute("id") == sentence_id
    sentence = text_of(target)
    assert quote_text and quote_text in sentence
    assert "Noboa" in sentence
    background = target.value_of_css_property("background-color")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent"), "the sentence is not marked"
    steps.shot("sentence")

    # 6. the query page, from the site's menu
    browser.find_element(By.CSS_SELECTOR, "header.site nav").find_element(
        By.LINK_TEXT, "SPARQL"
    ).click()
    steps.wait(ec.title_contains("SPARQL"), "the query page")
    assert urlsplit(browser.current_url).path == "/sparql"
    assert text_of(browser.find_element(By.TAG_NAME, "h1")) == "SPARQL query"
    steps.shot("query-page")

    # 7. ... which answers what the sentence states
    sentence_iri = f"{BASE}{article_path.strip('/')}/{sentence_id}"
    query = (
        "PREFIX prov: <http://www.w3.org/ns/prov#>\n"
        "SELECT ?s ?p ?o WHERE {\n"
        f"  ?fact prov:wasDerivedFrom <{sentence_iri}> .\n"
        "  GRAPH ?fact { ?s ?p ?o }\n}"
    )
    browser.get(f"{site}/sparql?format=html&query={quote(query)}")
    table = steps.wait(
        lambda d: d.find_element(By.CSS_SELECTOR, "#results table"), "the table of results"
    )
    assert isinstance(table, WebElement)
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", table)
    cells = [text_of(cell) for cell in table.find_elements(By.TAG_NAME, "td")]
    links = table.find_elements(By.CSS_SELECTOR, "a[href*='daniel-noboa']")
    assert table.is_displayed() and links and links[0].is_displayed()
    assert len(cells) >= 3
    steps.shot("query-answer")
