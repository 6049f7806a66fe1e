"""Linked data from a real ``kgpub serve`` process on the real build: RDF clients follow the 303s,
raw requests with bad paths get 4xx, and no link on any page is broken."""

from __future__ import annotations

import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import rdflib
import requests
from rdflib import RDFS, URIRef

pytestmark = pytest.mark.e2e

BASE = "https://w3id.org/kgpub/"
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# pages whose links are followed further; other same-origin links are fetched but not expanded
FAMILIES = ("/id/", "/article/", "/fact/", "/graph/", "/dataset")
MAX_FETCHES = 4000
Server = Any  # conftest.Server


@pytest.fixture()
def built_server(built: Path, server_factory: Callable[..., Server]) -> Server:
    """A server on the real build (the session's own server serves the small TriG fixture)."""
    return server_factory(built / "store")


def test_rdflib_follows_the_negotiation(built_server: Server) -> None:
    graph = rdflib.Graph().parse(built_server.url + "/id/daniel-noboa")
    noboa = URIRef(BASE + "id/daniel-noboa")
    assert (noboa, RDFS.label, rdflib.Literal("Daniel Noboa", lang="en")) in graph
    assert (None, None, noboa) in graph


def test_303_then_documents_over_http(built_server: Server) -> None:
    response = requests.get(
        built_server.url + "/id/daniel-noboa", headers={"Accept": FIREFOX}, allow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/id/daniel-noboa.html"
    assert "Accept" in response.headers["Vary"]
    page = requests.get(built_server.url + "/id/daniel-noboa", headers={"Accept": FIREFOX})
    assert page.status_code == 200 and page.url.endswith("/id/daniel-noboa.html")
    assert "Daniel Noboa" in page.text
    tag = page.headers["ETag"]
    again = requests.get(page.url, headers={"If-None-Match": tag, "Accept-Encoding": "gzip"})
    assert again.status_code == 304
    head = requests.head(built_server.url + "/article/ecuador-security-crisis.html")
    assert head.status_code == 200 and head.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "path",
    [
        "/id/../../etc/passwd",
        "/id/%2e%2e/%2e%2e/etc/passwd",
        "/id/a%00b",
        "/id/%ff%fe",
        "/id/caf\u00e9-nowhere",
        "/id/" + "a" * 9000,
    ],
)
def test_raw_bad_paths_are_4xx(server: Server, path: str) -> None:
    """Sent as is, without a client library's normalisation."""
    host, port = urlsplit(server.url).netloc.split(":")
    request = b"GET " + path.encode("utf-8") + b" HTTP/1.1\r\nHost: " + host.encode()
    request += b"\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert status in (400, 404, 414), (path, head)
    assert body.strip()


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {"a": "href", "link": "href", "script": "src", "img": "src"}
        value = dict(attrs).get(names.get(tag, ""))
        if value:
            self.links.append(value)


def test_no_link_is_broken(built_server: Server) -> None:
    session = requests.Session()
    ids = session.get(
        built_server.url + "/sparql",
        params={
            "query": "SELECT DISTINCT ?s WHERE { ?s ?p ?o "
            f'FILTER(STRSTARTS(STR(?s), "{BASE}id/")) }}'
        },
        headers={"Accept": "application/sparql-results+json"},
    ).json()["results"]["bindings"]
    assert len(ids) > 50
    start = ["/article/ecuador-security-crisis"] + [
        "/" + row["s"]["value"].removeprefix(BASE) for row in ids
    ]
    origin = urlsplit(built_server.url).netloc
    seen: set[str] = set()
    broken: list[tuple[str, int, str]] = []
    frontier = [(built_server.url + path, "start") for path in start]

    def fetch(item: tuple[str, str]) -> tuple[str, str, int, str, str]:
        url, parent = item
        response = session.get(url, headers={"Accept": FIREFOX}, timeout=30)
        kind = response.headers.get("Content-Type", "")
        text = response.text if kind.startswith("text/html") else ""
        return url, parent, response.status_code, response.url, text

    with ThreadPoolExecutor(max_workers=6) as pool:
        while frontier and len(seen) < MAX_FETCHES:
            batch = []
            for url, parent in frontier:
                if url not in seen:
                    seen.add(url)
                    batch.append((url, parent))
            frontier = []
            for url, parent, status, final, text in pool.map(fetch, batch):
                if status >= 400:
                    broken.append((url, status, parent))
                    continue
                path = urlsplit(final).path
                if not text or not path.startswith(FAMILIES):
                    continue
                parser = Links()
                parser.feed(text)
                for link in parser.links:
                    target = urljoin(final, link).split("#", 1)[0]
                    parts = urlsplit(target)
                    if parts.netloc == origin:
                        frontier.append((target, final))
    assert not broken, broken[:20]
    assert len(seen) > 500, len(seen)
