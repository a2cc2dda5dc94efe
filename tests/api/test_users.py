"""``/v1/users`` and ``/v1/stats``: the multi-user Last.fm collection against the loopback fake
Last.fm (real pylast client, real TLS), through the same services as ``timbre users``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Live, serve
from tests.fakes.lastfm import FakeLastfm, make_user
from timbre.config import Settings

KEY = "api-test-lastfm-key-3f9a0c2b71"


@pytest.fixture
def lastfm_live(
    api_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Live, FakeLastfm]]:
    users = [make_user("alice", 60), make_user("bob", 40), make_user("carol", 30)]
    with FakeLastfm(users, api_key=KEY, workdir=tmp_path) as fake:
        monkeypatch.setenv("SSL_CERT_FILE", str(fake.ca_path))
        settings = Settings(
            home=api_home, secrets={"lastfm_api_key": KEY}, lastfm_api_root=fake.url
        )
        for live in serve(settings):
            yield live, fake


def test_track_fetch_bulk_fetch_list_stats_and_remove(
    lastfm_live: tuple[Live, FakeLastfm],
) -> None:
    live, fake = lastfm_live
    with live.client("admin") as admin:
        added = admin.post("/v1/users", json={"names": ["alice", "bob"]})
        bad = admin.post("/v1/users", json={"names": ["no spaces allowed!"]})
        one = admin.post("/v1/users/alice/fetch", json={"kinds": ["top-artists"]})
        listed = admin.get("/v1/users").json()["users"]
        bulk = admin.post("/v1/users/bulk-fetch", json={"kinds": ["top-artists", "loved"]})
        stats = admin.get("/v1/stats")
        unknown = admin.post("/v1/users/nobody/fetch", json={"kinds": ["top-artists"]})
        removed = admin.delete("/v1/users/bob")
        gone = admin.delete("/v1/users/bob")
        after = admin.get("/v1/users").json()["users"]
    assert added.status_code == 201 and added.json() == {"tracked": ["lastfm:alice", "lastfm:bob"]}
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_data"
    assert one.status_code == 200, one.text
    summary = one.json()["summary"]
    assert summary["ok"] == 1 and summary["new_rows"] > 0
    assert one.json()["users"][0]["user_key"] == "lastfm:alice"
    alice = next(u for u in listed if u["key"] == "lastfm:alice")
    assert alice["status"] == "ok" and alice["interactions"] > 0
    assert next(u for u in listed if u["key"] == "lastfm:bob")["status"] is None
    assert bulk.status_code == 200, bulk.text
    assert [u["user_key"] for u in bulk.json()["users"]] == ["lastfm:alice", "lastfm:bob"]
    assert bulk.json()["summary"]["ok"] == 2
    loved = fake.requests_for("user.getLovedTracks")
    assert {r.params["user"].lower() for r in loved} >= {"alice", "bob"}
    assert stats.status_code == 200 and stats.json()["interactions"] > 0
    failed = unknown.json()
    assert unknown.status_code == 200 and failed["summary"]["failed"] == 1
    assert removed.status_code == 200 and removed.json()["removed"] == "lastfm:bob"
    assert removed.json()["rows"]["interactions"] > 0
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    assert "lastfm:bob" not in {u["key"] for u in after}
