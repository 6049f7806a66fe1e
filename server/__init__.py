"""The web server: the Flask app that publishes what the build wrote.

``create_app`` is the one factory: settings (defaults, config file, environment, CLI flags), then
the test dict, then the blueprints. Routes reach the data only through ``store.Store``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from kgpub.settings import Settings

from . import (
    article,
    cachepolicy,
    dumps,
    errors,
    graphstore,
    home,
    observe,
    ontology_docs,
    openapi,
    resources,
    responses,
    search,
    sparql,
    system,
)
from .cache import CacheFront
from .config import make_services, split_config
from .front import SparqlFront

# the paths whose GET answers the response cache serves before Flask
CACHED_PATHS = ("/sparql",)


def create_app(
    settings: Settings | None = None, test_config: Mapping[str, Any] | None = None
) -> Flask:
    settings, flask_config = split_config(settings or Settings.load(), test_config)
    app = Flask(__name__, static_url_path="/-/static")
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        # never the debugger, never a traceback in a response
        DEBUG=False,
        PROPAGATE_EXCEPTIONS=False,
        TRAP_HTTP_EXCEPTIONS=False,
        JSON_SORT_KEYS=False,
    )
    app.config.update(flask_config)
    kgpub = make_services(settings)
    # the cache front reports its hits itself (``observer.cache_hit``): it takes them unwrapped
    bare_store, bare_cache = kgpub.store, kgpub.cache
    # before the fronts and the routes take the store and the cache, so they report what they do
    app.extensions["kgpub.observation"] = observation = observe.observe_services(kgpub)
    app.extensions["kgpub"] = kgpub
    errors.init_app(app)
    responses.init_app(app)
    app.register_blueprint(sparql.bp)
    app.register_blueprint(system.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(search.bp)
    app.register_blueprint(ontology_docs.bp)
    app.register_blueprint(dumps.bp)
    app.register_blueprint(graphstore.bp)
    app.register_blueprint(resources.bp)
    app.register_blueprint(article.bp)
    # in front of Flask: the endpoint's own raw-WSGI path for queries, the shared caches' policy,
    # the counting and logging of every answer, and outermost the cache hits (stored with the
    # policy on them, and counted and logged by the observer themselves)
    app.wsgi_app = SparqlFront(app.wsgi_app, kgpub)  # type: ignore[method-assign]
    app.wsgi_app = cachepolicy.CachePolicy(app.wsgi_app)  # type: ignore[method-assign]
    observer = None
    if observation.active:
        observer = observe.Observer(app.wsgi_app, app.url_map, observation)
        app.wsgi_app = observer  # type: ignore[method-assign]
    if bare_cache is not None:
        app.wsgi_app = CacheFront(  # type: ignore[method-assign]
            app.wsgi_app,
            bare_cache,
            lambda: bare_store.identity,
            CACHED_PATHS,
            observer.cache_hit if observer is not None else None,
        )
    logging.getLogger("kgpub").setLevel(logging.INFO)
    return app
