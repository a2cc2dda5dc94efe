"""The API's tests: the real server (uvicorn) on a free loopback port, an httpx client, keys
made through the service (as ``timbre keys create`` does), a copy of the demo with ALS."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tests.conftest import IN_CI
from timbre.api import create_app
from timbre.api.cache import ResponseCache
from timbre.api.limits import RateLimiter
from timbre.api.server import Server
from timbre.config import Settings
from timbre.services.keys import create_key, revoke_key
from timbre.store import Store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Live:
    """A running API: its address, app, state and keys by role."""

    url: str
    app: FastAPI
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def server(self) -> Server:
        server = self.app.state.server
        assert isinstance(server, Server)
        return server

    def client(self, role: str | None = "read", **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0, **kwargs)  # type: ignore[arg-type]


def serve(
    settings: Settings,
    cache: ResponseCache | None = None,
    limiter: RateLimiter | None = None,
    prepare: Callable[[FastAPI], None] | None = None,
) -> Iterator[Live]:
    """Run the API for ``settings`` in a thread until the generator is closed."""
    app = create_app(settings, cache=cache, limiter=limiter)
    if prepare is not None:
        prepare(app)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    live = Live(f"http://127.0.0.1:{port}", app)
    with Store.open(settings) as store:
        live.keys["read"] = create_key(store, "reader", rate_limit=100_000)[1]
        live.keys["admin"] = create_key(store, "admin", admin=True, rate_limit=100_000)[1]
        revoked_id, live.keys["revoked"] = create_key(store, "old", admin=True)
        revoke_key(store, revoked_id)
    try:
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        live.server.close()


@pytest.fixture(scope="module")
def api_home(demo_als_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the demo with ALS, per test module (the tests write keys, feedback)."""
    home = tmp_path_factory.mktemp("api") / "home"
    shutil.copytree(demo_als_home, home)
    return home


@pytest.fixture(scope="module")
def live(api_home: Path) -> Iterator[Live]:
    """The API on the module's demo copy with the in-process cache."""
    yield from serve(Settings(home=api_home))


def redis_url() -> str:
    """The test Redis server (``TIMBRE_TEST_REDIS_URL``): skipped without one, except in CI."""
    url = os.environ.get("TIMBRE_TEST_REDIS_URL")
    if not url:
        if IN_CI:
            pytest.fail(
                "CI=true but TIMBRE_TEST_REDIS_URL is not set: .ci/run must start Redis with "
                "scripts/start-test-redis.sh"
            )
        pytest.skip(
            "no Redis server: set TIMBRE_TEST_REDIS_URL (e.g. $(bash scripts/start-test-redis.sh))"
        )
    return url
