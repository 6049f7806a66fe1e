"""``/dumps/`` and ``/.well-known/void``: the build's files, byte for byte, with HTTP caching and
ranges, and nothing else."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
import rdflib
from flask import Flask
from flask.testing import FlaskClient
from rdflib import RDF, Namespace, URIRef

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
DATASET = URIRef("https://w3id.org/kgpub/dataset")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
VOID = Namespace("http://rdfs.org/ns/void#")


@pytest.fixture(scope="module")
def app(built_app: Flask) -> Flask:
    """The app on the real build (shared with the other server tests)."""
    return built_app


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def manifest(built: Path) -> dict:
    return json.loads((built / "manifest.json").read_text(encoding="utf-8"))


def dump_names(built: Path) -> list[str]:
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    return [entry["file"] for entry in manifest["dumps"]]


def test_listing_shows_every_dump(client: FlaskClient, manifest: dict) -> None:
    response = client.get("/dumps/", headers={"Accept": BROWSER})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.text
    assert manifest["dumps"]
    for entry in manifest["dumps"]:
        assert f'href="/dumps/{entry["file"]}"' in html
        assert entry["sha256"] in html
        assert f"{entry['triples']:,} {entry['statements']}" in html
    for extra in ("SHA256SUMS", "void.ttl"):
        assert f'href="/dumps/{extra}"' in html
    assert manifest["build_id"] in html
    assert 'datetime="' in html


def test_dumps_without_slash_redirect(client: FlaskClient) -> None:
    response = client.get("/dumps")
    assert response.status_code in (301, 308)
    assert response.headers["Location"].endswith("/dumps/")


def test_every_dump_is_the_build_file(client: FlaskClient, built: Path, manifest: dict) -> None:
    for entry in manifest["dumps"]:
        name = entry["file"]
        response = client.get(f"/dumps/{name}", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, name
        data = response.get_data()
        assert data == (built / "dumps" / name).read_bytes(), name
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert int(response.headers["Content-Length"]) == entry["bytes"]
        assert "Content-Encoding" not in response.headers, name
        assert response.headers["Content-Disposition"] == f"attachment; filename={name}"
        assert response.headers["ETag"] == f'"{entry["sha256"]}"'
        assert "Last-Modified" in response.headers
        assert response.headers["Accept-Ranges"] == "bytes"
        if name.endswith(".gz"):
            assert response.mimetype == "application/gzip"
            assert gzip.decompress(data) == (built / "dumps" / name[:-3]).read_bytes()
        else:
            assert response.mimetype == entry["media_type"]


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("kgpub.ttl", "text/turtle"),
        ("kgpub.nt", "application/n-triples"),
        ("kgpub.nq", "application/n-quads"),
        ("kgpub.trig", "application/trig"),
        ("kgpub.jsonld", "application/ld+json"),
        ("kgpub.nq.gz", "application/gzip"),
    ],
)
def test_media_types(client: FlaskClient, name: str, media_type: str) -> None:
    assert client.head(f"/dumps/{name}").mimetype == media_type


def test_checksums_and_description(client: FlaskClient, built: Path, manifest: dict) -> None:
    sums = client.get("/dumps/SHA256SUMS")
    assert sums.status_code == 200
    assert sums.mimetype == "text/plain"
    assert sums.get_data() == (built / "dumps" / "SHA256SUMS").read_bytes()
    listed = dict(line.split("  ")[::-1] for line in sums.text.splitlines())
    assert listed == {entry["file"]: entry["sha256"] for entry in manifest["dumps"]}
    void = client.get("/dumps/void.ttl")
    assert void.mimetype == "text/turtle"
    assert void.get_data() == (built / "dumps" / "void.ttl").read_bytes()


def test_revalidation_is_304(client: FlaskClient) -> None:
    first = client.get("/dumps/kgpub.nt")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get("/dumps/kgpub.nt", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/dumps/kgpub.nt", headers={"If-Modified-Since": modified}).status_code == 304
    changed = client.get("/dumps/kgpub.nt", headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200


def test_ranges(client: FlaskClient, built: Path) -> None:
    whole = (built / "dumps" / "kgpub.ttl.gz").read_bytes()
    part = client.get("/dumps/kgpub.ttl.gz", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206
    assert part.get_data() == whole[:100]
    assert part.headers["Content-Range"] == f"bytes 0-99/{len(whole)}"
    tail = client.get("/dumps/kgpub.ttl.gz", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.get_data() == whole[-10:]
    beyond = client.get("/dumps/kgpub.ttl.gz", headers={"Range": f"bytes={len(whole) + 5}-"})
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(whole)}"
    etag = part.headers["ETag"]
    resumed = client.get("/dumps/kgpub.ttl.gz", headers={"Range": "bytes=100-", "If-Range": etag})
    assert resumed.status_code == 206 and resumed.get_data() == whole[100:]


@pytest.mark.parametrize(
    "path",
    [
        "/dumps/manifest.json",
        "/dumps/..%2Fmanifest.json",
        "/dumps/%2e%2e%2fmanifest.json",
        "/dumps/..%5Cmanifest.json",
        "/dumps/../manifest.json",
        "/dumps/.%2E/store/CURRENT",
        "/dumps/%2Fetc%2Fpasswd",
        "/dumps/kgpub.ttl%00.gz",
        "/dumps/kgpub.TTL",
    ],
)
def test_only_listed_files_are_served(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404, path
    assert b"sha256" not in response.get_data()


def test_a_store_without_a_build_has_no_dumps(app_factory) -> None:
    client = app_factory().test_client()  # the TriG fixture's store: no manifest beside it
    page = client.get("/dumps/", headers={"Accept": BROWSER})
    assert page.status_code == 200
    assert "no dump files" in page.text
    assert client.get("/dumps/kgpub.ttl").status_code == 404
    assert client.get("/.well-known/void").status_code == 404


# --- /.well-known/void


@pytest.mark.parametrize(
    ("accept", "media_type", "rdflib_format"),
    [
        ("", "text/turtle", "turtle"),
        ("*/*", "text/turtle", "turtle"),
        ("text/turtle", "text/turtle", "turtle"),
        ("application/n-triples", "application/n-triples", "nt"),
        ("application/ld+json", "application/ld+json", "json-ld"),
        ("application/rdf+xml", "application/rdf+xml", "xml"),
    ],
)
def test_void_by_negotiation(
    client: FlaskClient, built: Path, accept: str, media_type: str, rdflib_format: str
) -> None:
    response = client.get("/.well-known/void", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.mimetype == media_type
    assert "Accept" in response.headers["Vary"]
    assert "Content-Disposition" not in response.headers or "inline" in str(
        response.headers.get("Content-Disposition")
    )
    graph = rdflib.Graph().parse(data=response.get_data(), format=rdflib_format)
    expected = rdflib.Graph().parse(built / "dumps" / "void.ttl", format="turtle")
    assert graph.isomorphic(expected)
    assert (DATASET, RDF.type, VOID.Dataset) in graph
    assert len(set(graph.objects(DATASET, DCAT.distribution))) == len(dump_names(built))


def test_void_for_browsers_is_the_home_page(client: FlaskClient) -> None:
    response = client.get("/.well-known/void", headers={"Accept": BROWSER})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_void_revalidation(client: FlaskClient) -> None:
    for accept in ("text/turtle", "application/ld+json"):
        first = client.get("/.well-known/void", headers={"Accept": accept})
        again = client.get(
            "/.well-known/void", headers={"Accept": accept, "If-None-Match": first.headers["ETag"]}
        )
        assert again.status_code == 304, accept
    assert client.get("/.well-known/void", headers={"Accept": "image/png"}).status_code == 406
