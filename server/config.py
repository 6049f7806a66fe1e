"""From ``Settings`` to a configured app: what every route reaches through ``services()``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from kgpub.mappings.iris import ONTOLOGY_IRI, Minter

from kgpub.settings import Settings

from .cache import ResponseCache
from .fairness import ClientTable
from .querypage import Example, load_examples, load_prefixes
from .remote import RemoteStore
from .store import EmbeddedStore, Store


@dataclass
class Services:
    settings: Settings
    store: Store
    cache: ResponseCache | None
    minter: Minter
    prefixes: dict[str, str]  # for Turtle output and the query page
    examples: list[Example]  # ontology/cq/*.rq as found at start-up
    node_modules: Path  # where npm ci put the query page's browser assets
    # this worker's handle on the fairness table, found once (``sparql._admit``)
    clients: ClientTable | None = None

    @property
    def local_links(self) -> list[tuple[str, str]]:
        """IRI prefixes served here and the local path each maps to, longest first."""
        pairs = [(self.minter.base, "/"), (ONTOLOGY_IRI, "/ontology")]
        return sorted(pairs, key=lambda pair: -len(pair[0]))


def split_config(
    settings: Settings, test_config: Mapping[str, Any] | None
) -> tuple[Settings, dict[str, Any]]:
    """Keys of ``test_config`` naming a setting change the settings; the rest is Flask config."""
    names = {field.name for field in fields(Settings)}
    overrides = {k: v for k, v in (test_config or {}).items() if k in names}
    flask_config = {k: v for k, v in (test_config or {}).items() if k not in names}
    return (settings.replace(**overrides) if overrides else settings), flask_config


def make_services(settings: Settings) -> Services:
    store = make_store(settings)
    ontology = Path(settings.ontology_path)
    return Services(
        settings=settings,
        store=store,
        cache=ResponseCache(settings.cache_bytes) if settings.cache else None,
        minter=Minter(settings.base_iri),
        prefixes=load_prefixes(ontology / "kgpub.ttl", settings.base_iri),
        examples=load_examples(ontology / "cq"),
        node_modules=(Path(settings.root) / "node_modules").resolve(),
    )


def make_store(settings: Settings) -> Store:
    """The remote SPARQL store when ``backend`` names one, else the build's embedded store.
    Neither is contacted here: each worker connects on its first query."""
    if settings.backend:
        return RemoteStore(
            settings.backend,
            dataset=str(Minter(settings.base_iri).dataset),
            description_graph=str(Minter(settings.base_iri).dataset_graph),
            union_param=settings.backend_union_param,
            refresh=settings.backend_refresh,
            pool_size=settings.threads + 1,
        )
    # the store path is taken as given (relative to the working directory, as the build writes it)
    most = settings.query_timeout / 10
    inline_seconds = min(settings.inline_query_ms / 1000, most)
    # and up to ten times that on the worker's copy of the store in memory
    memory_inline_seconds = min(10 * settings.inline_query_ms / 1000, most)
    return EmbeddedStore(
        Path(settings.store_path),
        pool_size=settings.threads + 1,
        inline_seconds=inline_seconds,
        memory_quads=settings.memory_copy_quads,
        memory_inline_seconds=memory_inline_seconds,
    )


def services(app: Flask | None = None) -> Services:
    return (app or current_app).extensions["kgpub"]
