"""The API's app factory: routes, error handlers, metrics middleware, one :class:`Server`."""

from __future__ import annotations

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


def create_app(
    settings: Settings,
    dataset: str | None = None,
    cache: ResponseCache | None = None,
    limiter: RateLimiter | None = None,
) -> FastAPI:
    """The API for the store of ``settings`` (see :class:`timbre.api.server.Server`)."""
    server = Server(settings, dataset, cache, limiter)
    app = FastAPI(title="Timbre API", version=__version__, description=DESCRIPTION)
    app.state.server = server
    install_handlers(app)
    app.include_router(routes.router)
    app.include_router(users.router)
    app.add_middleware(MetricsMiddleware, metrics=server.metrics)
    return app
