"""The response cache: in-process and Redis give the same answers, entries expire, and new
interactions for a person miss at once (feedback: see test_recommend)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Live, redis_url, serve
from tests.cli_helpers import run_cli
from timbre.api.cache import MemoryCache, RedisCache, open_cache
from timbre.config import Settings
from timbre.errors import StorageError

REQUESTS = [
    ("/v1/recommend/user/2", {}),
    ("/v1/recommend/user/3", {"weights": "cf=0.5,novelty=0.5", "n": 5}),
    ("/v1/recommend/user/4", {"filters": "min_listeners=20,include_seen=true"}),
    ("/v1/recommend/similar/Metallica", {"n": 4}),
]


@pytest.fixture
def redis_cache() -> Iterator[RedisCache]:
    cache = RedisCache(redis_url(), ttl=600, prefix=f"timbre:test:{uuid.uuid4().hex}:")
    yield cache
    cache.clear()


def _answers(live: Live) -> list[tuple[str, bytes]]:
    out = []
    with live.client() as client:
        for _ in range(2):
            for path, params in REQUESTS:
                answer = client.get(path, params=params)
                assert answer.status_code == 200, answer.text
                out.append((answer.headers["x-timbre-cache"], answer.content))
    return out


def test_redis_and_the_in_process_cache_give_identical_responses(
    api_home: Path, redis_cache: RedisCache
) -> None:
    settings = Settings(home=api_home)
    for memory in serve(settings, cache=MemoryCache()):
        in_process = _answers(memory)
    for shared in serve(settings, cache=redis_cache):
        in_redis = _answers(shared)
    assert in_redis == in_process
    assert [state for state, _ in in_redis] == ["miss"] * 4 + ["hit"] * 4
    stored = list(redis_cache.client.scan_iter(match=redis_cache.prefix + "*"))
    assert len(stored) == 4
    assert 0 < int(redis_cache.client.ttl(stored[0])) <= 600


def test_open_cache_follows_timbre_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIMBRE_REDIS_URL", raising=False)
    assert isinstance(open_cache(), MemoryCache)
    monkeypatch.setenv("TIMBRE_REDIS_URL", redis_url())
    assert isinstance(open_cache(), RedisCache)


def test_an_unreachable_redis_is_a_clear_error_without_the_password() -> None:
    with pytest.raises(StorageError, match="cannot reach the Redis cache") as caught:
        RedisCache("redis://:sekrit-pass@127.0.0.1:1/0")
    assert "sekrit-pass" not in str(caught.value)


def test_memory_entries_expire_after_the_ttl_and_the_oldest_go_first() -> None:
    now = [0.0]
    cache = MemoryCache(ttl=10, max_entries=2, clock=lambda: now[0])
    cache.set("a", b"1")
    cache.set("b", b"2")
    now[0] = 9.9
    assert cache.get("a") == b"1"  # and "a" is now the most recently used
    cache.set("c", b"3")
    assert cache.get("b") is None and cache.get("c") == b"3"
    now[0] = 10.0
    assert cache.get("a") is None and cache.get("c") == b"3"
    now[0] = 19.9
    assert cache.get("c") is None


def _scrobbles(path: Path, artists: list[str]) -> Path:
    lines = ["uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid"]
    moment = 1_647_971_700
    for artist in artists:
        for _ in range(6):
            moment += 300
            lines.append(f"{moment},x,{artist},,Album,,Song of {artist},")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_new_interactions_for_a_person_miss_the_cache_at_once(
    live: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(live.server.settings.home)
    first = _scrobbles(tmp_path / "a.csv", ["Metallica", "Slayer"])
    code, _, err = run_cli(capsys, "--home", home, "import", str(first), "--user", "cachetest",
                           "--dataset", "cachetest-plays")  # fmt: skip
    assert code == 0, err
    path = "/v1/recommend/user/cachetest"
    with live.client() as client:
        before = client.get(path)
        again = client.get(path)
        more = _scrobbles(tmp_path / "b.csv", ["Madonna", "Britney Spears", "Rihanna"])
        code, _, err = run_cli(capsys, "--home", home, "import", str(more), "--user",
                               "cachetest", "--dataset", "cachetest-plays")  # fmt: skip
        assert code == 0, err
        after = client.get(path)
    assert before.status_code == 200, before.text
    assert (before.headers["x-timbre-cache"], again.headers["x-timbre-cache"]) == ("miss", "hit")
    assert after.headers["x-timbre-cache"] == "miss"
    assert after.json()["mapped"]["plays"] > before.json()["mapped"]["plays"]
    assert after.json()["recommendations"] != before.json()["recommendations"]
