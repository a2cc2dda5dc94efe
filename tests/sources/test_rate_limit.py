"""Issue 16, item 8: no 1-second window at the server holds more than the rate plus 20%, with
several workers, TLS to a loopback fake, and another process loading the CPU."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.lastfm import FakeLastfm, make_user
from timbre.sources.lastfm import LastfmClient, LastfmFetcher, LastfmOptions
from timbre.sources.live import RetryPolicy
from timbre.store import Store

KEY = "test-lastfm-key-rate-5a6b7c8d"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLastfm]:
    users = [make_user(name, 240) for name in ("alice", "bob", "dave", "erin")]
    with FakeLastfm(users, api_key=KEY, workdir=tmp_path) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
        yield server


@pytest.fixture
def cpu_load() -> Iterator[None]:
    """Another process spinning on a core while the test runs."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait(timeout=10)


def busiest_second(arrivals: list[float]) -> int:
    """The most requests in any window ``[t, t + 1 s)`` that starts at an arrival."""
    times = sorted(arrivals)
    return max(sum(1 for u in times if t <= u < t + 1.0) for t in times)


@pytest.mark.parametrize("rate", [5.0, 10.0])
def test_no_second_exceeds_the_rate_by_more_than_a_fifth_under_load(
    fake: FakeLastfm, sqlite_url: str, rate: float, cpu_load: None
) -> None:
    options = LastfmOptions(
        api_root=fake.url,
        rate=rate,
        workers=4,
        timeout=5.0,
        retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02),
        page_size=25,
        history_chunk_pages=2,
    )
    with Store.open(sqlite_url) as store, LastfmClient(KEY, options) as client:
        results = LastfmFetcher(store, client).fetch_users(
            ["alice", "bob", "dave", "erin"], ("top-artists", "history")
        )
    assert all(r.status == "ok" for r in results), [r.error for r in results]
    arrivals = [r.at for r in fake.requests]
    assert len(arrivals) >= 3 * rate
    assert busiest_second(arrivals) <= int(rate * 1.2), sorted(arrivals)
