"""Safe by default: row cap flagged, timeouts that stop the work, CORS, gzip, the cache."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
import rdflib
from flask import Flask
from flask.testing import FlaskClient

ALL = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"
ALL_TRIPLES = "CONSTRUCT WHERE { ?s ?p ?o }"
SRX = "{http://www.w3.org/2005/sparql-results#}"


def get(client: FlaskClient, query: str, accept: str | None = None):
    headers = {"Accept": accept} if accept else {}
    return client.get("/sparql", query_string={"query": query}, headers=headers)


class TestRowCap:
    def test_json(self, capped_app: Flask) -> None:
        response = get(capped_app.test_client(), ALL)
        assert response.headers["X-Result-Truncated"] == "true"
        document = json.loads(response.data)
        assert len(document["results"]["bindings"]) == 3
        assert document["head"]["vars"] == ["s", "p", "o"]
        assert document["head"]["link"] == ["http://localhost/-/limits"]

    def test_xml(self, capped_app: Flask) -> None:
        response = get(capped_app.test_client(), ALL, "application/sparql-results+xml")
        root = ET.fromstring(response.data)
        assert len(root.findall(f"{SRX}results/{SRX}result")) == 3
        assert root.find(f"{SRX}head/{SRX}link").get("href") == "http://localhost/-/limits"

    def test_csv(self, capped_app: Flask) -> None:
        response = get(capped_app.test_client(), ALL, "text/csv")
        assert response.headers["X-Result-Truncated"] == "true"
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
        assert len(rows) == 1 + 3  # a literal's line break does not count as a row

    def test_tsv(self, capped_app: Flask) -> None:
        response = get(capped_app.test_client(), ALL, "text/tab-separated-values")
        assert response.headers["X-Result-Truncated"] == "true"
        assert len(response.get_data(as_text=True).splitlines()) == 1 + 3

    @pytest.mark.parametrize(
        ("accept", "fmt"),
        [
            ("text/turtle", "turtle"),
            ("application/n-triples", "nt"),
            ("application/ld+json", "json-ld"),
        ],
    )
    def test_graphs(self, capped_app: Flask, accept: str, fmt: str) -> None:
        response = get(capped_app.test_client(), ALL_TRIPLES, accept)
        assert response.headers["X-Result-Truncated"] == "true"
        assert len(rdflib.Graph().parse(data=response.data, format=fmt)) == 3
        if fmt != "json-ld":
            assert response.data.startswith(b"# truncated")

    def test_under_the_cap_is_not_flagged(self, capped_app: Flask) -> None:
        response = get(capped_app.test_client(), "SELECT * { ?s ?p ?o } LIMIT 3")
        assert response.headers["X-Result-Truncated"] == "false"
        assert "link" not in json.loads(response.data)["head"]
        assert len(json.loads(response.data)["results"]["bindings"]) == 3

    def test_a_limit_above_the_cap_is_capped(self, capped_app: Flask) -> None:
        response = get(capped_app.test_client(), "SELECT * { ?s ?p ?o } LIMIT 5")
        assert response.headers["X-Result-Truncated"] == "true"
        assert len(json.loads(response.data)["results"]["bindings"]) == 3

    def test_no_cap_by_default_on_small_data(self, client: FlaskClient) -> None:
        response = get(client, ALL)
        assert response.headers["X-Result-Truncated"] == "false"
        assert len(json.loads(response.data)["results"]["bindings"]) == 36


class TestTimeout:
    def test_heavy_query_is_stopped_with_503(self, slow_app: Flask, heavy_query: str) -> None:
        started = time.monotonic()
        response = get(slow_app.test_client(), heavy_query)
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert "1 s limit" in response.get_data(as_text=True)
        assert elapsed < 3

    def test_others_are_served_meanwhile(self, slow_app: Flask, heavy_query: str) -> None:
        heavy: dict[str, int] = {}

        def run_heavy() -> None:
            heavy["status"] = get(slow_app.test_client(), heavy_query).status_code

        # two idle query processes, so the quick query does not wait for one to start
        warm = [threading.Thread(target=get, args=(slow_app.test_client(), "ASK {}")) for _ in "ab"]
        for thread in warm:
            thread.start()
        for thread in warm:
            thread.join()
        thread = threading.Thread(target=run_heavy)
        thread.start()
        time.sleep(0.2)
        started = time.monotonic()
        response = get(slow_app.test_client(), "ASK { ?s ?p ?o }")
        quick = time.monotonic() - started
        thread.join()
        assert response.status_code == 200
        assert quick < 0.8, quick  # well within the heavy query's 1 s
        assert heavy["status"] == 503

    def test_the_work_really_stops(self, slow_app: Flask, heavy_query: str) -> None:
        """The killed process is gone: no query process keeps burning a CPU afterwards."""
        get(slow_app.test_client(), heavy_query)
        time.sleep(0.3)
        busy = []
        for pid in _children(os.getpid()):
            if _cpu_seconds(pid) is not None:
                before = _cpu_seconds(pid)
                time.sleep(0.3)
                after = _cpu_seconds(pid)
                if before is not None and after is not None and after - before > 0.2:
                    busy.append(pid)
        assert busy == []


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        pytest.skip("needs /proc")


def _cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TestHttp:
    def test_cors(self, client: FlaskClient) -> None:
        response = get(client, "ASK {}")
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "X-Result-Truncated" in response.headers["Access-Control-Expose-Headers"]
        assert "Access-Control-Allow-Credentials" not in response.headers

    def test_cors_preflight(self, client: FlaskClient) -> None:
        response = client.options(
            "/sparql",
            headers={
                "Origin": "https://example.org",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert response.status_code == 204
        assert response.data == b"" and "Content-Type" not in response.headers
        assert {"GET", "POST"} <= set(response.headers["Allow"].replace(" ", "").split(","))
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert "content-type" in response.headers["Access-Control-Allow-Headers"]

    def test_gzip(self, client: FlaskClient) -> None:
        plain = get(client, ALL)
        response = client.get(
            "/sparql", query_string={"query": ALL}, headers={"Accept-Encoding": "gzip, br"}
        )
        assert response.headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in response.headers["Vary"]
        assert gzip.decompress(response.data) == plain.data
        assert "Content-Encoding" not in plain.headers

    def test_gzip_refused_with_q0(self, client: FlaskClient) -> None:
        response = client.get(
            "/sparql", query_string={"query": ALL}, headers={"Accept-Encoding": "gzip;q=0"}
        )
        assert "Content-Encoding" not in response.headers

    def test_ping(self, client: FlaskClient) -> None:
        assert client.get("/-/ping").data == b"ok"

    def test_limits_page(self, client: FlaskClient) -> None:
        limits = client.get("/-/limits").get_json()
        assert limits["max_rows"] == 10_000 and limits["query_timeout_seconds"] == 10


class TestCache:
    def test_repeated_query_is_a_hit(self, cached_app: Flask) -> None:
        cache = cached_app.extensions["kgpub"].cache
        client = cached_app.test_client()
        query = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o } # cache test"
        first = get(client, query)
        hits = cache.hits
        second = get(client, query)
        assert cache.hits == hits + 1
        assert second.data == first.data
        assert second.headers["Content-Type"] == first.headers["Content-Type"]
        # another format of the same query is another entry
        third = get(client, query, "text/csv")
        assert third.mimetype == "text/csv"

    def test_post_is_cached_too(self, cached_app: Flask) -> None:
        cache = cached_app.extensions["kgpub"].cache
        client = cached_app.test_client()
        query = "ASK { ?s ?p ?o } # post cache test"
        client.post("/sparql", data={"query": query})
        hits = cache.hits
        client.post("/sparql", data={"query": query})
        assert cache.hits == hits + 1

    def test_gzip_is_stored_separately(self, cached_app: Flask) -> None:
        client = cached_app.test_client()
        # in order: the answers of the first run (from disk) and the next (from memory) compared
        query = {"query": ALL + " ORDER BY ?s ?p ?o # gzip cache test"}
        plain = client.get("/sparql", query_string=query)
        for _ in range(2):
            packed = client.get("/sparql", query_string=query, headers={"Accept-Encoding": "gzip"})
            assert gzip.decompress(packed.data) == plain.data
        assert client.get("/sparql", query_string=query).data == plain.data

    def test_errors_are_not_cached(self, cached_app: Flask) -> None:
        cache = cached_app.extensions["kgpub"].cache
        size = len(cache)
        get(cached_app.test_client(), "SELECT nonsense")
        assert len(cache) == size

    def test_cache_is_bounded(self) -> None:
        from kgpub.server.cache import CachedResponse, ResponseCache

        cache = ResponseCache(max_bytes=20_000)
        for i in range(100):
            cache.put(("k", str(i)), CachedResponse("200 OK", [], b"x" * 1000))
        assert cache.bytes <= 20_000
        assert cache.get(("k", "99")) is not None and cache.get(("k", "0")) is None
        cache.put(("big",), CachedResponse("200 OK", [], b"x" * 10_000))
        assert cache.get(("big",)) is None  # one entry may not take the whole cache

    def test_off(self, client: FlaskClient, app: Flask) -> None:
        assert app.extensions["kgpub"].cache is None
        assert get(client, "ASK {}").status_code == 200


CROSS = "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"  # 36^3 rows: tens of megabytes


class TestResponseBytes:
    def test_a_whole_answer_over_the_cap_is_an_error_before_any_byte(
        self, app_factory: Callable[..., Flask]
    ) -> None:
        client = app_factory(max_response_bytes=500).test_client()
        for query, accept in ((ALL, None), (ALL_TRIPLES, "text/turtle")):
            response = get(client, query, accept)
            assert response.status_code == 422
            assert response.mimetype == "text/plain"
            text = response.get_data(as_text=True)
            assert "larger than 500 bytes" in text and "LIMIT" in text
            assert "http" not in text  # none of the answer's terms leaked into the error

    def test_under_the_cap_is_whole(self, app_factory: Callable[..., Flask]) -> None:
        client = app_factory(max_response_bytes=500).test_client()
        response = get(client, "SELECT * { ?s ?p ?o } LIMIT 1")
        assert response.status_code == 200
        assert len(json.loads(response.data)["results"]["bindings"]) == 1

    def test_a_streamed_answer_passing_the_cap_fails_before_its_end(
        self, app_factory: Callable[..., Flask]
    ) -> None:
        """Past the first megabyte an answer is streamed; past the cap the stream fails, so the
        server cuts the response off (the end-to-end test shows what a client gets)."""
        from kgpub.server.pool import QueryFailed

        cap = 1_500_000
        app = app_factory(max_rows=0, max_response_bytes=cap)
        response = app.test_client().get("/sparql", query_string={"query": CROSS}, buffered=False)
        assert response.status_code == 200  # the head went out before the cap was passed
        received = 0
        with pytest.raises(QueryFailed) as failed:
            for chunk in response.response:
                received += len(chunk)
        response.close()
        assert failed.value.kind == "too_large"
        assert 1_000_000 <= received <= cap

    def test_the_query_page_says_so(self, app_factory: Callable[..., Flask]) -> None:
        client = app_factory(max_response_bytes=500).test_client()
        page = {"query": ALL, "format": "html"}
        response = client.get("/sparql", query_string=page, headers={"Accept": "text/html"})
        assert response.status_code == 422
        assert "larger than 500 bytes" in response.get_data(as_text=True)


class TestLimitsPage:
    def test_every_limit_with_its_value(self, app_factory: Callable[..., Flask]) -> None:
        app = app_factory(
            max_response_bytes=123_456,
            max_header_bytes=9_999,
            max_concurrent_requests=7,
            client_query_seconds=42.5,
            client_concurrent_queries=3,
        )
        limits = app.test_client().get("/-/limits").get_json()
        expected = {
            "query_timeout": 10.0,
            "max_rows": 10_000,
            "max_response_bytes": 123_456,
            "max_body_bytes": 1_000_000,
            "max_url_bytes": 8_192,
            "max_header_bytes": 9_999,
            "max_concurrent_requests": 7,
            "client_query_seconds": 42.5,
            "client_concurrent_queries": 3,
        }
        listed = {row["setting"]: row for row in limits["limits"]}
        assert set(listed) == set(expected)
        for name, value in expected.items():
            assert listed[name]["value"] == value
            assert listed[name]["unit"] and listed[name]["beyond"]
            assert limits.get(name, limits.get(f"{name}_seconds")) == value
        assert "431" in listed["max_header_bytes"]["beyond"]
        assert "429" in listed["client_query_seconds"]["beyond"]
        assert "peer address" in limits["client_address"]


class TestChunkedBody:
    """A body without Content-Length (chunked) is read to its end, never cut at the limit."""

    def post_chunked(self, client: FlaskClient, body: bytes):
        return client.post(
            "/sparql",
            input_stream=io.BytesIO(body),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Transfer-Encoding": "chunked",
            },
        )

    def test_over_the_limit_is_413(self, client: FlaskClient) -> None:
        response = self.post_chunked(client, b"query=ASK%7B%7D%23" + b"a" * 1_100_000)
        assert response.status_code == 413
        assert "larger than 1000000 bytes" in response.get_data(as_text=True)

    def test_within_the_limit_runs(self, client: FlaskClient) -> None:
        response = self.post_chunked(client, b"query=ASK%7B%7D%23" + b"a" * 1000)
        assert response.status_code == 200 and json.loads(response.data)["boolean"] is True
