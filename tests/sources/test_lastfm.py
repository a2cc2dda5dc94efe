"""Live Last.fm against a loopback fake: the real pylast client, HTTPS, faults on demand."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.fakes.lastfm import FakeLastfm, FakeUser, make_user
from timbre.errors import DataError, SourceError
from timbre.export import csv_text
from timbre.sources.lastfm import (
    KINDS,
    LastfmClient,
    LastfmFetcher,
    LastfmOptions,
    add_users,
    check_username,
    parse_kinds,
    tracked_users,
)
from timbre.sources.live import FetchProgress, RateLimiter, RetryPolicy
from timbre.store import TABLES, Store
from timbre.store.sql import BOOKKEEPING

KEY = "test-lastfm-key-7f3a9c0e5b11"
FAST = RetryPolicy(attempts=4, base_delay=0.002, max_delay=0.01)


def _users() -> list[FakeUser]:
    users = [
        make_user("alice", 260),
        make_user("bob", 140),
        make_user("dave", 60),
        make_user("erin", 90),
        make_user("carol", 80),
    ]
    users[-1].private = True
    return users


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLastfm]:
    with FakeLastfm(_users(), api_key=KEY, workdir=tmp_path, slow_seconds=0.5) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
        yield server


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    with Store.open(sqlite_url) as store:
        yield store


def options(fake: FakeLastfm, **changes: Any) -> LastfmOptions:
    values: dict[str, Any] = {
        "api_root": fake.url,
        "rate": 500.0,
        "workers": 3,
        "timeout": 0.25,
        "retry": FAST,
        "page_size": 50,
        "history_chunk_pages": 2,
        "tag_artists": 6,
        "tag_tracks": 6,
    }
    values.update(changes)
    return LastfmOptions(**values)


def fetch(
    store: Store, fake: FakeLastfm, names: list[str], kinds: tuple[str, ...] = KINDS, **changes: Any
) -> list[Any]:
    with LastfmClient(KEY, options(fake, **changes)) as client:
        return LastfmFetcher(store, client).fetch_users(names, kinds)


def stored(store: Store, dataset: str, user: str) -> pd.DataFrame:
    if dataset not in {d["name"] for d in store.list_datasets()}:
        return pd.DataFrame(columns=["user_key", "item_key", "event", "weight", "timestamp"])
    frame, _items = store.load_dataset(dataset)
    return frame[frame["user_key"] == f"lastfm:{user}"]


def scrobble_times(user: FakeUser) -> list[pd.Timestamp]:
    return sorted(pd.Timestamp(uts, unit="s", tz="UTC") for uts, *_ in user.scrobbles)


# --- one user ---------------------------------------------------------------------------------
def test_a_user_lands_in_four_data_sets_with_tags_and_an_ok_log(
    sqlite_store: Store, fake: FakeLastfm
) -> None:
    [result] = fetch(sqlite_store, fake, ["alice"])
    assert result.status == "ok", result.error
    alice = fake.users["alice"]
    assert len(stored(sqlite_store, "lastfm-artists", "alice")) == len(alice.top_artists)
    assert len(stored(sqlite_store, "lastfm-albums", "alice")) == len(alice.top_albums)
    tracks = stored(sqlite_store, "lastfm-tracks", "alice")
    assert (tracks["event"] == "top").sum() == len(alice.top_tracks)
    assert (tracks["event"] == "love").sum() == len(alice.loved)
    history = stored(sqlite_store, "lastfm-scrobbles", "alice")
    assert sorted(history["timestamp"]) == scrobble_times(alice)
    # the top artist's play count is its number of scrobbles
    artists = stored(sqlite_store, "lastfm-artists", "alice")
    assert artists["weight"].max() == alice.top_artists[0][1]
    # tags landed on the strongest artists, lower-cased
    _, items = sqlite_store.load_dataset("lastfm-artists")
    tagged = items[items["tags"].map(len) > 0]
    assert len(tagged) > 0
    assert all(tag == tag.lower() for tags in tagged["tags"] for tag in tags)
    logs = sqlite_store.list_fetch_logs()
    assert logs.loc[0, ["user_key", "source", "status", "rows"]].tolist() == [
        "lastfm:alice",
        "lastfm",
        "ok",
        result.rows,
    ]
    assert logs.loc[0, "kinds"] == ",".join(KINDS)
    assert logs.loc[0, "duration_s"] > 0


def test_names_with_accents_and_ampersands_survive_and_now_playing_is_not_a_scrobble(
    sqlite_store: Store, fake: FakeLastfm
) -> None:
    zoe = FakeUser(
        "zoe",
        top_artists=[("Sigur Rós", 3), ("Simon & Garfunkel", 1)],
        scrobbles=[
            (1_700_000_300, "Hoppípolla", "Sigur Rós", "Takk..."),
            (1_700_000_200, "Sæglópur", "Sigur Rós", "Takk..."),
            (1_700_000_100, "Mrs. Robinson", "Simon & Garfunkel", "Bookends"),
        ],
        now_playing=("Glósóli", "Sigur Rós"),
    )
    fake.users["zoe"] = zoe
    [result] = fetch(sqlite_store, fake, ["zoe"], ("top-artists", "history"))
    assert result.status == "ok", result.error
    _, items = sqlite_store.load_dataset("lastfm-artists")
    assert set(items["name"]) == {"Sigur Rós", "Simon & Garfunkel"}
    plays, tracks = sqlite_store.load_dataset("lastfm-scrobbles")
    assert len(plays) == 3  # "Glósóli" is playing now: not a finished scrobble
    assert "Glósóli" not in set(tracks["name"])
    assert set(tracks["artist"]) == {"Sigur Rós", "Simon & Garfunkel"}


# --- many users, faults, idempotency ------------------------------------------------------------
def test_bulk_fetch_with_injected_faults_logs_each_user_and_a_rerun_adds_nothing(
    store: Store, fake: FakeLastfm
) -> None:
    names = ["alice", "bob", "dave", "erin", "carol", "ghost"]
    fake.fault_rate = 0.2
    many = RetryPolicy(attempts=10, base_delay=0.002, max_delay=0.01)
    results = fetch(store, fake, names, retry=many)
    status = {r.user: r.status for r in results}
    assert status == {
        "alice": "ok",
        "bob": "ok",
        "dave": "ok",
        "erin": "ok",
        "carol": "partial",  # top lists kept, history private
        "ghost": "failed",
    }
    by_name = {r.user: r for r in results}
    assert "private" in by_name["carol"].error and "error 17" in by_name["carol"].error
    assert by_name["ghost"].error == "no such Last.fm user (error 6: user not found)"
    faults = [r.fault for r in fake.requests if r.fault]
    assert len(faults) >= 5 and len(set(faults)) >= 3, faults
    assert sum(r.retries for r in results) >= len(faults) - 2  # each fault cost a retry
    logs = store.list_fetch_logs()
    assert sorted(zip(logs["user_key"], logs["status"], strict=True)) == sorted(
        (r.user_key, r.status) for r in results
    )
    assert dict(zip(logs["user_key"], logs["rows"], strict=True)) == {
        r.user_key: r.rows for r in results
    }
    # what is stored is exactly what the service holds: nothing lost to faults, nothing doubled
    for name in ("alice", "bob", "dave", "erin"):
        user = fake.users[name]
        assert sorted(stored(store, "lastfm-scrobbles", name)["timestamp"]) == scrobble_times(user)
        assert len(stored(store, "lastfm-artists", name)) == len(user.top_artists)
    assert len(stored(store, "lastfm-scrobbles", "carol")) == 0
    assert len(stored(store, "lastfm-artists", "carol")) == len(fake.users["carol"].top_artists)

    before = store.content_digest()
    counts = store.table_counts()
    again = fetch(store, fake, names, retry=many)
    assert [r.status for r in again] == [status[n] for n in names]
    assert all(r.rows == 0 for r in again), [r.as_dict() for r in again]
    after = store.content_digest()
    assert {t: d for t, d in after.items() if t != "fetch_logs"} == {
        t: d for t, d in before.items() if t != "fetch_logs"
    }
    assert store.table_counts()["fetch_logs"] == counts["fetch_logs"] + len(names)


def test_the_shared_rate_limit_holds_at_the_server(sqlite_store: Store, fake: FakeLastfm) -> None:
    rate = 30.0
    fetch(
        sqlite_store,
        fake,
        ["alice", "bob", "dave", "erin"],
        ("top-artists", "top-tracks", "history", "tags"),
        rate=rate,
        workers=4,
        tag_artists=2,
        tag_tracks=2,
    )
    arrivals = sorted(r.at for r in fake.requests)
    assert len(arrivals) >= 40
    # no second holds more than `rate` requests, give or take a few delayed by the server's
    # TLS handshakes (4 unthrottled workers send several hundred per second here)
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert busiest <= rate + 3, busiest
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - 1) / rate - 0.1


def test_rate_limiter_spaces_requests_by_its_interval() -> None:
    now = [0.0]
    went: list[float] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = RateLimiter(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.acquire()
        went.append(now[0])
    assert went == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(0)


def test_a_slot_is_taken_when_the_request_goes_not_when_it_was_asked_for() -> None:
    """Issue 16.8: a thread that reserved a slot and woke late went out together with the
    thread that reserved the next one (8 requests in one second at --rate 5)."""
    now = [0.0]
    went: list[float] = []
    asleep, may_wake = threading.Event(), threading.Event()

    def sleep(seconds: float) -> None:
        if threading.current_thread().name == "late" and not asleep.is_set():
            asleep.set()
            assert may_wake.wait(5)  # wakes late: the clock was moved on meanwhile
            return
        now[0] += seconds

    limiter = RateLimiter(4.0, clock=lambda: now[0], sleep=sleep)
    limiter.acquire()
    went.append(now[0])
    now[0] = 0.1
    late = threading.Thread(target=lambda: (limiter.acquire(), went.append(now[0])), name="late")
    late.start()
    assert asleep.wait(5)
    now[0] = 0.4
    limiter.acquire()  # goes while the late thread still sleeps
    went.append(now[0])
    now[0] = 0.5
    may_wake.set()
    late.join(5)
    gaps = [b - a for a, b in zip(sorted(went), sorted(went)[1:], strict=False)]
    assert len(went) == 3 and min(gaps) >= 0.25 - 1e-9, went


# --- retries ----------------------------------------------------------------------------------
def test_every_transient_fault_is_retried_with_growing_jittered_backoff(
    sqlite_store: Store, fake: FakeLastfm
) -> None:
    transient = ("29", "8", "11", "16", "500", "503", "slow", "malformed", "reset")
    for fault in transient:
        fake.fail(fault, method="user.getTopArtists", user="alice")
    slept: list[float] = []
    policy = RetryPolicy(attempts=10, base_delay=0.001, max_delay=0.2, jitter=0.5)
    with LastfmClient(
        KEY, options(fake, retry=policy), sleep=slept.append, rng=random.Random(3)
    ) as client:
        result = LastfmFetcher(sqlite_store, client).fetch_user("alice", ["top-artists"])
    assert result.status == "ok", result.error
    assert result.retries == len(transient)
    seen = [r.fault for r in fake.requests_for("user.getTopArtists", "alice")]
    assert seen == [*transient, None]
    for attempt, delay in enumerate(slept, start=1):
        full = min(0.2, 0.001 * 2 ** (attempt - 1))
        assert full * 0.5 <= delay <= full
    assert len(stored(sqlite_store, "lastfm-artists", "alice")) == len(
        fake.users["alice"].top_artists
    )


def test_a_kind_that_keeps_failing_gives_up_and_the_others_are_kept(
    sqlite_store: Store, fake: FakeLastfm
) -> None:
    fake.fail("503", times=100, method="user.getTopAlbums", user="alice")
    [result] = fetch(sqlite_store, fake, ["alice"], ("top-artists", "top-albums", "loved"))
    assert result.status == "partial"
    assert result.errors == {
        "top-albums": "top albums of alice, page 1: gave up after 4 attempts "
        "(Last.fm answered HTTP 503)"
    }
    assert len(fake.requests_for("user.getTopAlbums", "alice")) == FAST.attempts
    assert len(stored(sqlite_store, "lastfm-artists", "alice")) > 0
    assert (stored(sqlite_store, "lastfm-tracks", "alice")["event"] == "love").sum() == 5
    log = sqlite_store.list_fetch_logs().iloc[0]
    assert log["status"] == "partial" and "top-albums: top albums of alice" in log["error"]


def test_permanent_errors_are_not_retried_and_say_what_happened(
    sqlite_store: Store, fake: FakeLastfm
) -> None:
    results = fetch(sqlite_store, fake, ["ghost", "carol"], ("top-artists", "history", "tags"))
    ghost, carol = results
    assert ghost.status == "failed" and "no such Last.fm user" in ghost.error
    assert len(fake.requests_for(user="ghost")) == 1  # one getInfo, no retry
    assert carol.status == "partial"
    assert carol.errors["history"].startswith("this user's listening history is private")
    assert len(fake.requests_for("user.getRecentTracks", "carol")) == 1
    assert "tags" not in carol.fetched  # the fetch ended at the private history
    assert sqlite_store.list_users("lastfm:ghost")["key"].tolist() == []


def test_a_refused_key_ends_every_users_fetch_without_retrying(
    sqlite_store: Store, fake: FakeLastfm
) -> None:
    wrong = "wrong-lastfm-key-3e5a77c9d1"
    with LastfmClient(wrong, options(fake, workers=1)) as client:
        results = LastfmFetcher(sqlite_store, client).fetch_users(["alice", "bob", "dave"])
    assert [r.status for r in results] == ["failed"] * 3
    assert all("refused the API key (error 10" in r.error for r in results)
    assert len(fake.requests) == 1  # the first refusal stops the run
    assert sqlite_store.table_counts()["interactions"] == 0
    errors = sqlite_store.list_fetch_logs()["error"].tolist()
    assert len(errors) == 3 and not any(wrong in e for e in errors)


def test_bad_names_and_kinds_are_refused_before_anything_is_fetched(
    sqlite_store: Store, fake: FakeLastfm
) -> None:
    with pytest.raises(DataError, match=r"not a Last\.fm user name"):
        fetch(sqlite_store, fake, ["alice", "x"])
    with pytest.raises(DataError, match=r"unknown Last\.fm kind"):
        parse_kinds("top-tracks,playlists")
    assert parse_kinds("history, top-artists") == ("top-artists", "history")
    assert check_username("lastfm:RJ") == "RJ"
    assert fake.requests == []
    with pytest.raises(SourceError, match=r"no Last\.fm API key"):
        LastfmClient("  ")
    with pytest.raises(SourceError, match="https"):
        LastfmClient(KEY, LastfmOptions(api_root="http://127.0.0.1:1/2.0/"))


# --- cut-off fetches --------------------------------------------------------------------------
def test_a_cut_off_history_keeps_a_complete_prefix_and_the_next_fetch_resumes(
    store: Store, fake: FakeLastfm
) -> None:
    alice = fake.users["alice"]  # 260 scrobbles: pages 1 (newest) .. 6 (oldest) of 50
    fake.fail("500", times=100, method="user.getRecentTracks", user="alice", page=3)
    [cut] = fetch(store, fake, ["alice"], ("history",))
    assert cut.status == "partial"
    assert "history of alice, page 3: gave up" in cut.errors["history"]
    kept = sorted(stored(store, "lastfm-scrobbles", "alice")["timestamp"])
    # pages 6, 5 and 4 were read before page 3 failed: the 110 oldest scrobbles, no hole
    assert kept == scrobble_times(alice)[:110]

    fake.clear_faults()
    [resumed] = fetch(store, fake, ["alice"], ("history",))
    assert resumed.status == "ok", resumed.error
    assert sorted(stored(store, "lastfm-scrobbles", "alice")["timestamp"]) == scrobble_times(alice)
    last = fake.requests_for("user.getRecentTracks", "alice")[-1]
    assert int(last.params["from"]) == int(kept[-1].timestamp())  # resumed from the newest kept
    assert resumed.fetched["history"] == 150 + 1  # the rest, and the newest kept one again


def test_cancelling_stops_every_user_keeps_what_was_written_and_logs_them(
    sqlite_store: Store, fake: FakeLastfm
) -> None:
    names = ["alice", "bob", "dave", "erin"]
    with LastfmClient(KEY, options(fake, rate=60.0, workers=2)) as client:

        def progress(event: FetchProgress) -> None:
            if event.stage == "history" and event.fraction > 0.5:
                client.cancel.set()

        results = LastfmFetcher(sqlite_store, client).fetch_users(names, KINDS, progress)
    assert all(r.status in ("partial", "failed") for r in results)
    assert any("cancelled" in (r.error or "") for r in results)
    assert len(sqlite_store.list_fetch_logs()) == len(names)
    # whatever history was kept is a complete prefix of the user's scrobbles
    for name in names:
        kept = sorted(stored(sqlite_store, "lastfm-scrobbles", name)["timestamp"])
        assert kept == scrobble_times(fake.users[name])[: len(kept)]


# --- tags -------------------------------------------------------------------------------------
def test_tags_are_fetched_once_per_item_across_users_and_runs(
    sqlite_store: Store, fake: FakeLastfm
) -> None:
    names = ["alice", "bob", "dave", "erin"]
    # a generous timeout: a request retried after a slow answer (a loaded machine) is asked twice
    first = fetch(sqlite_store, fake, names, ("top-artists", "tags"), workers=4, timeout=10.0)
    assert all(r.status == "ok" for r in first), [r.error for r in first]
    asked = [r.params["artist"] for r in fake.requests_for("artist.getTopTags")]
    assert asked and len(asked) == len(set(asked))
    fake.requests.clear()
    fetch(sqlite_store, fake, names, ("top-artists", "tags"), workers=4, timeout=10.0)
    again = [r.params["artist"] for r in fake.requests_for("artist.getTopTags")]
    assert set(again) <= {"Fake Artist 29"}  # only what Last.fm has no tags for is asked again


# --- tracked users and removal -----------------------------------------------------------------
def _rows(store: Store) -> dict[str, set[tuple[Any, ...]]]:
    with store.engine.connect() as conn:
        return {
            t.name: {
                tuple(repr(v) if isinstance(v, dict) else v for v in row)
                for row in conn.execute(
                    sa.select(*[c for c in t.columns if (t.name, c.name) not in BOOKKEEPING])
                )
            }
            for t in TABLES
        }


def test_removing_a_user_deletes_exactly_their_rows(store: Store, fake: FakeLastfm) -> None:
    from tests.test_store import listening_batch

    store.write_batch(listening_batch())
    add_users(store, ["alice", "bob", "Frank"])
    fetch(store, fake, ["alice", "bob"], ("top-artists", "loved", "history"))
    store.add_profile("lastfm:alice", "mini-ipip", {"q1": 3}, {"O": 3.0}, {"O": 50.0})
    users = tracked_users(store)
    assert users["key"].tolist() == ["lastfm:alice", "lastfm:bob", "lastfm:frank"]
    assert users.set_index("key").loc["lastfm:frank", "interactions"] == 0
    assert users.set_index("key").loc["lastfm:alice", "status"] == "ok"
    before = _rows(store)
    with store.engine.connect() as conn:
        alice_id = conn.execute(sa.text("SELECT id FROM users WHERE key = 'lastfm:alice'")).scalar()

    removed = store.remove_user("lastfm:alice")

    after = _rows(store)
    gone = {t: before[t] - after[t] for t in before}
    assert all(not (after[t] - before[t]) for t in after)  # nothing new, nothing changed
    columns = {t.name: [c.name for c in t.columns] for t in TABLES}

    def col(table: str, row: tuple[Any, ...], name: str) -> Any:
        return row[columns[table].index(name)]

    assert gone["interactions"] == {
        r for r in before["interactions"] if col("interactions", r, "user_id") == alice_id
    }
    assert gone["fetch_logs"] == {
        r for r in before["fetch_logs"] if col("fetch_logs", r, "user_key") == "lastfm:alice"
    }
    assert len(gone["personality_profiles"]) == 1 and len(gone["users"]) == 1
    assert not gone["items"] and not gone["item_tags"] and not gone["datasets"]
    assert removed["interactions"] == len(gone["interactions"]) > 0
    assert tracked_users(store)["key"].tolist() == ["lastfm:bob", "lastfm:frank"]
    with pytest.raises(DataError, match="no user"):
        store.remove_user("lastfm:alice")


def test_removing_the_last_user_of_a_data_set_removes_the_empty_data_set(
    sqlite_store: Store, fake: FakeLastfm
) -> None:
    fetch(sqlite_store, fake, ["dave"], ("top-artists",))
    assert [d["name"] for d in sqlite_store.list_datasets()] == ["lastfm-artists"]
    assert sqlite_store.remove_user("lastfm:dave")["datasets"] == 1
    assert sqlite_store.list_datasets() == []


# --- secrets ----------------------------------------------------------------------------------
def test_the_api_key_never_reaches_logs_the_database_or_exports(
    sqlite_store: Store,
    sqlite_url: str,
    fake: FakeLastfm,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # a misbehaving server that repeats the key in its error texts, once and for good
    fake.fail("echo-key", times=2, method="user.getTopArtists", user="alice")
    fake.fail("echo-key", times=100, method="user.getTopAlbums", user="bob")
    results = fetch(sqlite_store, fake, ["alice", "bob", "ghost"])
    assert results[0].status == "ok"
    assert results[1].status == "partial"
    assert "Operation failed for key ***" in results[1].errors["top-albums"]
    wrong = "another-secret-key-5d1c2b"
    with LastfmClient(wrong, options(fake)) as client:
        LastfmFetcher(sqlite_store, client).fetch_users(["alice"])

    assert "Operation failed for key" in caplog.text  # the texts were logged, masked
    for secret in (KEY, wrong):
        assert secret not in caplog.text
        logs = sqlite_store.list_fetch_logs()
        assert secret not in logs.astype(str).to_csv()
        assert secret not in csv_text(logs)
        for dataset in sqlite_store.list_datasets():
            frame, items = sqlite_store.load_dataset(dataset["name"])
            assert secret not in csv_text(frame) + csv_text(items.astype(str))
    sqlite_store.close()
    database = Path(sa.make_url(sqlite_url).database or "")
    files = [p for p in database.parent.iterdir() if p.name.startswith(database.name)]
    assert files
    for path in files:
        data = path.read_bytes()
        assert KEY.encode() not in data and wrong.encode() not in data


# --- the CLI ----------------------------------------------------------------------------------
def test_cli_tracks_fetches_logs_and_removes_users_without_showing_the_key(
    tmp_path: Path,
    fake: FakeLastfm,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from timbre.cli import main

    monkeypatch.setenv("LASTFM_API_KEY", KEY)
    monkeypatch.setenv("TIMBRE_LASTFM_API_ROOT", fake.url)
    monkeypatch.delenv("TIMBRE_DATABASE_URL", raising=False)
    home = str(tmp_path / "home")
    output: list[str] = []

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--home", home, *argv])
        out, err = capsys.readouterr()
        output.extend([out, err])
        return code, out, err

    code, out, _ = run("users", "add", "alice", "Bob", "ghost")
    assert code == 0 and "lastfm:alice, lastfm:bob, lastfm:ghost" in out
    code, out, _ = run("users", "list", "--json")
    assert [(u["key"], u["status"]) for u in json.loads(out)] == [
        ("lastfm:alice", None),
        ("lastfm:bob", None),
        ("lastfm:ghost", None),
    ]
    code, out, err = run(
        "fetch", "lastfm", "--kinds", "top-artists,history", "--rate", "200", "--json"
    )
    assert code == 1  # one user failed: cron can tell
    payload = json.loads(out)
    assert payload["summary"]["ok"] == 2 and payload["summary"]["failed"] == 1
    assert "1 of 3 user(s) did not complete" in err
    code, out, err = run("fetch", "lastfm", "alice", "--kinds", "history", "--rate", "200")
    assert code == 0, err
    assert "lastfm:alice: ok, 0 new rows" in out
    code, out, _ = run("logs", "--json")
    logs = json.loads(out)
    assert logs[0]["user_key"] == "lastfm:alice" and logs[0]["status"] == "ok"
    first = {r["user_key"]: r for r in logs[1:]}
    assert {k: r["status"] for k, r in first.items()} == {
        "lastfm:alice": "ok",
        "lastfm:bob": "ok",
        "lastfm:ghost": "failed",
    }
    assert first["lastfm:ghost"]["error"] == "no such Last.fm user (error 6: user not found)"
    code, out, _ = run("logs", "--status", "failed", "--source", "lastfm")
    assert "lastfm:ghost" in out and "lastfm:alice" not in out
    code, _, err = run("users", "remove", "ghost")
    assert code == 1 and "add --yes" in err
    code, out, _ = run("users", "remove", "ghost", "--yes")
    assert code == 0 and "removed lastfm:ghost" in out and "fetch_logs" in out
    code, out, _ = run("users", "list")
    assert "lastfm:ghost" not in out and "lastfm:alice" in out
    code, _, err = run("fetch", "lastfm", "not a name")
    assert code == 1 and "not a Last.fm user name" in err
    monkeypatch.delenv("LASTFM_API_KEY")
    code, _, err = run("fetch", "lastfm", "--rate", "200")
    assert code == 1 and err.startswith("timbre: error: no Last.fm API key")
    assert all(KEY not in text for text in output)
