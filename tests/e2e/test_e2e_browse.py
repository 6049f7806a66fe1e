"""People's ways through the site in headless Chromium, against a real ``kgpub serve``:

- home -> search "Noboa" -> Daniel Noboa's page -> the sentence in the article -> the query page;
- the query editor (YASGUI): run an example and a query, read the table, follow an IRI to its
  page here; open a shared link and the address of an answer in the page;
- the same with scripts off: the plain form answers in the page, its IRIs link here too.

Screenshots of every step go to ``tests/artifacts/browse/<journey>/`` (git-ignored). Needs
Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package; skipped without them.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest
import requests

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

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


def chromium(profile: Path, *, scripts: bool = True) -> WebDriver:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs chromium and chromium-driver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if not scripts:
        # the content setting a user changes in the browser's site settings: 2 = blocked
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    return driver


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    driver = chromium(tmp_path / "profile")
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture()
def browser_without_scripts(tmp_path: Path) -> Iterator[WebDriver]:
    driver = chromium(tmp_path / "profile", scripts=False)
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
    """Numbered screenshots of one journey, in a folder of its own."""

    def __init__(self, driver: WebDriver, journey: str) -> None:
        self.driver = driver
        self.number = 0
        self.folder = ARTIFACTS / journey
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()

    def shot(self, name: str) -> None:
        self.number += 1
        self.driver.save_screenshot(str(self.folder / f"{self.number:02d}-{name}.png"))

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
    steps = Steps(browser, "home-to-evidence")

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


PERSONS_QUERY = (
    "PREFIX kgo: <https://w3id.org/kgpub/ontology#>\n"
    "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
    "SELECT ?person ?name WHERE { ?person a kgo:Person ; rdfs:label ?name }\n"
    "ORDER BY ?name"
)
NOBOA = BASE + "id/daniel-noboa"
EXAMPLE = "CQ05-countries-either-side"  # its expected answer is the .csv beside it


def endpoint_answer(site: str, query: str) -> list[tuple[str, str]]:
    """(IRI, label) rows as the endpoint itself answers, to hold the pages' tables against."""
    response = requests.post(
        site + "/sparql",
        data={"query": query},
        headers={"Accept": "application/sparql-results+json"},
        timeout=10,
    )
    response.raise_for_status()
    bindings = response.json()["results"]["bindings"]
    return [(row["person"]["value"], row["name"]["value"]) for row in bindings]


def table_rows(table: WebElement) -> list[list[str]]:
    return [
        # textContent: the editor's table may clip long cells on screen
        [
            " ".join(cell.get_attribute("textContent").split())
            for cell in row.find_elements(By.TAG_NAME, "td")
        ]
        for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]


def assert_shows(rows: list[list[str]], expected: list[tuple[str, str]]) -> None:
    """Each row shows the person's IRI and the quoted label, in the endpoint's order."""
    assert len(rows) == len(expected), rows
    for (iri, label), row in zip(expected, rows, strict=True):
        person, name = row[-2:]
        assert person.strip("<>") == iri
        assert name.startswith(f'"{label}"'), (name, label)


def follow_to_noboa(browser: WebDriver, steps: Steps, link: WebElement, site: str) -> None:
    """The IRI's link opens its page on this server, in the same tab."""
    assert link.get_attribute("href") == site + "/id/daniel-noboa"
    assert link.get_attribute("target") in (None, "", "_self")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    link.click()
    steps.wait(ec.title_contains("Daniel Noboa"), "Daniel Noboa's page")
    # the IRI redirects (303) to its HTML document
    assert urlsplit(browser.current_url).path.removesuffix(".html") == "/id/daniel-noboa"
    assert text_of(browser.find_element(By.TAG_NAME, "h1")) == "Daniel Noboa"
    steps.shot("resource")


def run_in_editor(browser: WebDriver, steps: Steps) -> WebElement:
    """Press the editor's run button; the table of the new answer."""
    table = "#yasgui .yasr table.dataTable"
    earlier = browser.find_elements(By.CSS_SELECTOR, table)
    browser.find_element(By.CSS_SELECTOR, "#yasgui .yasqe_queryButton").click()
    if earlier:
        steps.wait(ec.staleness_of(earlier[0]), "the previous answer to go")
    steps.wait(
        lambda d: d.find_elements(By.CSS_SELECTOR, table + " tbody td"), "the table of results"
    )
    return browser.find_element(By.CSS_SELECTOR, table)


def editor_text(browser: WebDriver, editor: WebElement) -> str:
    return browser.execute_script("return arguments[0].CodeMirror.getValue()", editor)


def test_query_editor_runs_a_query_and_links_to_our_pages(browser: WebDriver, site: str) -> None:
    steps = Steps(browser, "query-editor")
    expected = endpoint_answer(site, PERSONS_QUERY)
    assert (NOBOA, "Daniel Noboa") in expected

    # 1. with scripts on, the editor takes the plain form's place
    browser.get(site + "/sparql")
    editor = steps.wait(
        lambda d: d.find_element(By.CSS_SELECTOR, "#yasgui .CodeMirror"), "the query editor"
    )
    assert isinstance(editor, WebElement)
    assert not browser.find_element(By.ID, "plain-form").is_displayed()

    # 2. an example from the list fills the editor, without leaving the page, and runs as it is
    example = browser.find_element(By.CSS_SELECTOR, f"a[data-example='{EXAMPLE}']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", example)
    example.click()
    source = (PROJECT / "ontology" / "cq" / f"{EXAMPLE}.rq").read_text(encoding="utf-8")
    steps.wait(lambda d: editor_text(d, editor) == source, "the example in the editor")
    assert urlsplit(browser.current_url).query == ""
    table = run_in_editor(browser, steps)
    with open(PROJECT / "ontology" / "cq" / f"{EXAMPLE}.csv", encoding="utf-8") as answer:
        answer_rows = list(csv.DictReader(answer))
    assert [row[1:] for row in table_rows(table)] == [
        [f'"{row["country"]}"@en', row["sentence"]] for row in answer_rows
    ]
    steps.shot("example")

    # 3. a query of one's own in the editor (through its CodeMirror instance, as typing would)
    browser.execute_script("arguments[0].CodeMirror.setValue(arguments[1])", editor, PERSONS_QUERY)
    table = run_in_editor(browser, steps)
    headers = [text_of(th) for th in table.find_elements(By.TAG_NAME, "th")]
    assert headers[-2:] == ["person", "name"]
    assert_shows(table_rows(table), expected)
    summary = text_of(browser.find_element(By.CSS_SELECTOR, "#yasgui .yasr_response_chip"))
    assert summary.startswith(f"{len(expected)} results")
    steps.shot("results")
    assert severe_errors(browser) == []

    # 4. the table's IRIs are links to our pages, not to the published host
    links = table.find_elements(By.CSS_SELECTOR, "a.iri")
    assert len(links) == len(expected)
    assert all(link.get_attribute("href").startswith(site + "/id/") for link in links)
    noboa = next(link for link in links if text_of(link) == NOBOA)
    follow_to_noboa(browser, steps, noboa, site)
    assert severe_errors(browser) == []


def test_query_editor_opens_shared_links_and_query_addresses(browser: WebDriver, site: str) -> None:
    steps = Steps(browser, "query-editor-links")
    expected = endpoint_answer(site, PERSONS_QUERY)

    # 1. the editor's share button gives a link to this page with the query in its fragment
    browser.get(site + "/sparql")
    editor = steps.wait(
        lambda d: d.find_element(By.CSS_SELECTOR, "#yasgui .CodeMirror"), "the query editor"
    )
    browser.execute_script("arguments[0].CodeMirror.setValue(arguments[1])", editor, PERSONS_QUERY)
    browser.find_element(By.CSS_SELECTOR, "#yasgui .yasqe_share").click()
    share = steps.wait(
        lambda d: d.find_element(By.CSS_SELECTOR, "#yasgui .yasqe_sharePopup input"), "the link"
    )
    assert isinstance(share, WebElement)
    link = share.get_attribute("value")
    assert link.startswith(site + "/sparql#query=")
    steps.shot("share")

    # 2. whoever opens it gets that query in the editor, and its answer
    browser.get("about:blank")
    browser.get(link)
    table = steps.wait(
        lambda d: d.find_element(By.CSS_SELECTOR, "#yasgui .yasr table.dataTable"),
        "the shared query's answer",
    )
    assert isinstance(table, WebElement)
    editor = browser.find_element(By.CSS_SELECTOR, "#yasgui .CodeMirror")
    assert editor_text(browser, editor) == PERSONS_QUERY
    assert_shows(table_rows(table), expected)
    steps.shot("shared")

    # 3. the address of an answer in the page (the plain form's, format=html) opens the editor
    # on the same query, whose answer the editor reads as SPARQL results, not as this page
    browser.get(f"{site}/sparql?format=html&query={quote(PERSONS_QUERY)}")
    assert_shows(table_rows(browser.find_element(By.CSS_SELECTOR, "#results table")), expected)
    table = steps.wait(
        lambda d: d.find_element(By.CSS_SELECTOR, "#yasgui .yasr table.dataTable"),
        "the editor's answer",
    )
    assert isinstance(table, WebElement)
    assert_shows(table_rows(table), expected)
    assert editor_text(browser, browser.find_element(By.CSS_SELECTOR, "#yasgui .CodeMirror")) == (
        PERSONS_QUERY
    )
    steps.shot("addressed")
    assert severe_errors(browser) == []


def test_query_form_without_scripts_answers_in_the_page(
    browser_without_scripts: WebDriver, site: str
) -> None:
    browser = browser_without_scripts
    steps = Steps(browser, "query-form-without-scripts")
    expected = endpoint_answer(site, PERSONS_QUERY)

    # 1. no scripts: no editor, the plain form instead, answering "as a table on this page"
    browser.get(site + "/sparql")
    form = browser.find_element(By.ID, "plain-form")
    assert form.is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "#yasgui *") == []
    answer_as = Select(form.find_element(By.ID, "format")).first_selected_option
    assert text_of(answer_as) == "a table on this page"
    box = form.find_element(By.ID, "query")
    box.clear()
    box.send_keys(PERSONS_QUERY)
    steps.shot("form")

    # 2. Run query: the same page, with the answer under the form, which keeps the query
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    table = steps.wait(
        lambda d: d.find_element(By.CSS_SELECTOR, "#results table"), "the table of results"
    )
    assert isinstance(table, WebElement)
    assert urlsplit(browser.current_url).path == "/sparql"
    headers = [text_of(th) for th in table.find_elements(By.TAG_NAME, "th")]
    assert headers == ["?person", "?name"]
    assert_shows(table_rows(table), expected)
    count = text_of(browser.find_element(By.CSS_SELECTOR, "#results > p"))
    assert count == f"{len(expected)} rows"
    kept = browser.find_element(By.ID, "query").get_attribute("value")
    assert kept.split() == PERSONS_QUERY.split()
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", table)
    steps.shot("results")

    # 3. ... whose IRIs link to our pages
    links = table.find_elements(By.TAG_NAME, "a")
    assert [text_of(link) for link in links] == [iri for iri, _ in expected]
    noboa = next(link for link in links if text_of(link) == NOBOA)
    follow_to_noboa(browser, steps, noboa, site)
