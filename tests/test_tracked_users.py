"""A Last.fm CSV export's user name does not join the tracked Last.fm users (issue 17): a bulk
fetch would query Last.fm for a name that may be invented. Added or fetched users are tracked;
an older database keeps its tracked users through migration 0008 (tests/test_migrations.py)."""

from __future__ import annotations

from pathlib import Path

from timbre.config import Settings
from timbre.services.collection import live_users
from timbre.sources.demo import SAMPLES_DIR
from timbre.sources.files import read_path
from timbre.sources.lastfm import add_users, tracked_users
from timbre.store import Store


def test_a_csv_export_user_is_not_tracked_an_added_one_is(tmp_path: Path) -> None:
    with Store.open(Settings(home=tmp_path / "home")) as store:
        store.write_batch(read_path(SAMPLES_DIR / "lastfm-presenter.csv", user="presenter"))
        store.write_batch(read_path(SAMPLES_DIR / "my_spotify_data.zip", user="presenter"))
        assert "lastfm:presenter" in set(store.list_users("lastfm:")["key"])
        assert list(tracked_users(store)["key"]) == []
        assert live_users(store) == []  # nor the Spotify export's name
        add_users(store, ["rj"])
        assert list(tracked_users(store)["key"]) == ["lastfm:rj"]
        add_users(store, ["presenter"])  # asked for by name: now tracked, plays kept
        tracked = tracked_users(store).set_index("key")
        assert list(tracked.index) == ["lastfm:presenter", "lastfm:rj"]
        assert tracked.loc["lastfm:presenter", "interactions"] > 0
        # a later CSV import does not untrack
        store.write_batch(read_path(SAMPLES_DIR / "lastfm-presenter.csv", user="presenter"))
        assert len(tracked_users(store)) == 2
