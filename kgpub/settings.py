"""Every setting of kgpub in one place, with its default.

A setting is read, in order of precedence, from a command-line flag, an environment variable
(``KGPUB_<NAME>``, upper case), a TOML config file (``--config`` or ``KGPUB_CONFIG``; keys are the
field names) and finally the default below.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

DEFAULT_BASE_IRI = "https://w3id.org/kgpub/"


@dataclass(frozen=True)
class Settings:
    # where the data lives and where builds go
    root: Path = Path(".")
    data_dir: Path | None = None  # default: <root>/data
    ontology_dir: Path | None = None  # default: <root>/ontology
    build_dir: Path = Path("build")
    keep_builds: int = 3  # earlier builds kept next to the current one
    base_iri: str = DEFAULT_BASE_IRI
    # serving
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 0  # 0 = one per core, at least 2
    threads: int = 4
    store: Path | None = None  # default: <build_dir>/current/store
    # limits (safe defaults for the open internet)
    query_timeout: float = 10.0  # seconds of work per SPARQL query
    max_rows: int = 10_000  # result rows per SPARQL response
    max_body_bytes: int = 1_000_000  # request body size
    max_url_bytes: int = 8_192  # request line length
    cache: bool = True  # response cache for the read-only data
    cache_bytes: int = 64_000_000  # memory bound of that cache, per worker
    max_response_bytes: int = 100_000_000  # bytes of one SPARQL answer; a longer one is an error
    max_header_bytes: int = 16_384  # request headers, all together
    max_concurrent_requests: int = 64  # requests in progress per worker; more wait, then 503
    allocator: str = "mimalloc"  # memory allocator of the serving processes: mimalloc or system
    pin_workers: bool = True  # each worker on a core of its own while every core has work
    # a query that took at most this much CPU time in a query process is run again by the web
    # worker itself (capped at a tenth of query_timeout); 0: every query in a query process
    inline_query_ms: float = 100.0
    # and runs them on a copy of the store in its memory, made when it starts, if the store has at
    # most this many quads (each costs about 400 bytes in every worker); 0: always on disk
    memory_copy_quads: int = 2_000_000
    # per-client fairness on /sparql (a client is its address, see trust_forwarded)
    client_query_seconds: float = 60.0  # query time a client may use per minute, then 429
    client_concurrent_queries: int = 4  # queries a client may have running at once, then 429
    trust_forwarded: bool = False  # take the client's address from X-Forwarded-For (behind a proxy)
    # a remote SPARQL store instead of the embedded one
    backend: str = ""  # URL of its SPARQL query endpoint; empty: the build's embedded store
    backend_union_param: str = "union-default-graph"  # sent to ask it for the union default graph
    backend_refresh: float = 5.0  # seconds between checks of which build the remote store holds
    # operations
    access_log: bool = True  # one JSON line per request on stderr
    metrics: bool = True  # /-/metrics in the Prometheus text format

    @classmethod
    def load(
        cls,
        overrides: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        config_file: Path | None = None,
    ) -> Settings:
        """Defaults, then the config file, then the environment, then ``overrides`` (CLI flags)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        config_file = config_file or (
            Path(environ["KGPUB_CONFIG"]) if environ.get("KGPUB_CONFIG") else None
        )
        if config_file is not None:
            with open(config_file, "rb") as fh:
                values.update(tomllib.load(fh))
        for field in fields(cls):
            env_value = environ.get(f"KGPUB_{field.name.upper()}")
            if env_value is not None:
                values[field.name] = env_value
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**{name: _coerce(cls, name, value) for name, value in values.items()})

    @property
    def data_path(self) -> Path:
        return self.data_dir if self.data_dir is not None else self.root / "data"

    @property
    def ontology_path(self) -> Path:
        return self.ontology_dir if self.ontology_dir is not None else self.root / "ontology"

    @property
    def store_path(self) -> Path:
        return self.store if self.store is not None else self.build_dir / "current" / "store"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _coerce(cls: type, name: str, value: Any) -> Any:
    """Turn a string from the environment into the field's type."""
    default = next(f for f in fields(cls) if f.name == name).default
    if not isinstance(value, str):
        return Path(value) if isinstance(default, Path) else value
    if isinstance(default, bool):
        if value.lower() in {"1", "true", "yes", "on"}:
            return True
        if value.lower() in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"setting {name}: expected true or false, got {value!r}")
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    if isinstance(default, Path) or name in {"store", "data_dir", "ontology_dir"}:
        return Path(value)
    return value
