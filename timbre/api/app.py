"""The API's app factory: routes, error handlers, metrics middleware, one :class:`Server`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from timbre import __version__
from timbre.api import routes, users
from timbre.api.cache import ResponseCache
from timbre.api.errors import install_handlers
from timbre.api.limits import RateLimiter
from timbre.api.metrics import MetricsMiddleware
from timbre.api.server import Server
from timbre.config import Settings

DESCRIPTION = (
    "Timbre's recommendations over HTTP, ranked by the same engine call as the app and the "
    "CLI. Send an API key as `Authorization: Bearer <key>` (`timbre keys create`); write "
    'endpoints need an admin key. Errors are `{"error": {"code", "message"}}`.'
)


#: Threads that run the (synchronous) endpoints at once: ranking holds the GIL most of the
#: time, so more threads than this only queue for it (and thrash on 2 cores).
THREADS = 8


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
    yield


def create_app(
    settings: Settings,
    dataset: str | None = None,
    cache: ResponseCache | None = None,
    limiter: RateLimiter | None = None,
) -> FastAPI:
    """The API for the store of ``settings`` (see :class:`timbre.api.server.Server`)."""
    server = Server(settings, dataset, cache, limiter)
    app = FastAPI(
        title="Timbre API", version=__version__, description=DESCRIPTION, lifespan=_lifespan
    )
    app.state.server = server
    install_handlers(app)
    app.include_router(routes.router)
    app.include_router(users.router)
    app.add_middleware(MetricsMiddleware, metrics=server.metrics)
    return app
