"""What one ``GET /v1/recommend/user/{id}`` asks of the store: who the person is and the marks
of their rows, once each, on one connection (the key's lookup has its own). Each statement
costs about 0.1-0.3 ms of the one server process (benchmarks/bench_api.py); the answer read
who the person was three times (24 statements uncached, 14 cached) before."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from tests.api.conftest import Live


@contextmanager
def _counted(live: Live) -> Iterator[dict[str, int]]:
    engine = live.server.store.engine
    seen = {"statements": 0, "checkouts": 0}

    def statement(*_: Any) -> None:
        seen["statements"] += 1

    def checkout(*_: Any) -> None:
        seen["checkouts"] += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "checkout", checkout)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "checkout", checkout)


def test_a_users_answer_reads_the_store_once_per_question(live: Live) -> None:
    path = "/v1/recommend/user/hetrec:user:5"
    with live.client() as client:
        assert client.get("/health").status_code == 200  # the engine is built
        with _counted(live) as uncached:
            first = client.get(path, params={"n": 6})
        with _counted(live) as cached:
            again = client.get(path, params={"n": 6})
    assert first.status_code == 200, first.text
    assert (first.headers["x-timbre-cache"], again.headers["x-timbre-cache"]) == ("miss", "hit")
    assert again.content == first.content
    # the key (BEGIN + lookup); the answer: BEGIN, serving marks, the link, the accounts (2),
    # the person's marks, and on a miss their feedback
    assert uncached == {"statements": 9, "checkouts": 2}, uncached
    assert cached == {"statements": 8, "checkouts": 2}, cached
