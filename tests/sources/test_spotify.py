"""Live Spotify against a loopback fake: the real spotipy client, PKCE, faults on demand."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.fakes.spotify import FakeSpotify
from timbre.errors import SourceError
from timbre.export import csv_text
from timbre.sources.live import RetryPolicy
from timbre.sources.spotify import (
    DEFAULT_KINDS,
    KINDS,
    MappingTokenCache,
    PendingAuthorizations,
    SpotifyClient,
    SpotifyFetcher,
    SpotifyOptions,
    check_redirect_uri,
    finish_authorization,
    parse_kinds,
    start_authorization,
)
from timbre.store import Store

FAST = RetryPolicy(attempts=4, base_delay=0.002, max_delay=0.01)
REDIRECT = "http://127.0.0.1:8501/Data"


@pytest.fixture
def fake() -> Iterator[FakeSpotify]:
    with FakeSpotify(slow_seconds=0.5) as server:
        yield server


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    with Store.open(sqlite_url) as store:
        yield store


def options(fake: FakeSpotify, **changes: Any) -> SpotifyOptions:
    values: dict[str, Any] = {
        "client_id": fake.client_id,
        "redirect_uri": REDIRECT,
        "api_root": fake.api_root,
        "accounts_root": fake.accounts_root,
        "rate": 500.0,
        "timeout": 0.25,
        "retry": FAST,
    }
    values.update(changes)
    return SpotifyOptions(**values)


def connect(fake: FakeSpotify, session: dict[str, Any], **changes: Any) -> MappingTokenCache:
    """Sign in as a user who clicks "Agree"; the token lands in ``session``."""
    opts = options(fake, **changes)
    pending = start_authorization(opts)
    cache = MappingTokenCache(session)
    finish_authorization(opts, pending, fake.consent(pending.url), cache)
    return cache


def fetch(
    store: Store, fake: FakeSpotify, cache: MappingTokenCache, kinds: Any = DEFAULT_KINDS, **kw: Any
) -> Any:
    sleep = kw.pop("sleep", None)
    with SpotifyClient(options(fake, **kw), cache, sleep=sleep) as client:
        return SpotifyFetcher(store, client).fetch(kinds)


def rows(store: Store, dataset: str) -> pd.DataFrame:
    frame, _ = store.load_dataset(dataset)
    return frame


# --- sign-in ----------------------------------------------------------------------------------
def test_pkce_sign_in_keeps_the_token_in_the_session_mapping_only(
    fake: FakeSpotify, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # spotipy's default cache would write ./.cache here
    opts = options(fake)
    pending = start_authorization(opts)
    assert pending.url.startswith(fake.accounts_root + "authorize?")
    assert "code_challenge_method=S256" in pending.url and f"state={pending.state}" in pending.url
    assert pending.code_verifier not in pending.url and pending.code_verifier not in repr(pending)
    session: dict[str, Any] = {}
    finish_authorization(opts, pending, fake.consent(pending.url), MappingTokenCache(session))
    token = session["spotify_token"]
    assert token["access_token"] in fake.access_tokens
    assert set(token["scope"].split()) >= {"user-top-read", "user-read-recently-played"}
    assert list(tmp_path.iterdir()) == []  # no token file anywhere


def test_a_sign_in_link_works_once_and_only_for_its_own_state(fake: FakeSpotify) -> None:
    opts = options(fake)
    registry = PendingAuthorizations()
    first, second = start_authorization(opts), start_authorization(opts)
    registry.add(first)
    registry.add(second)
    redirected = fake.consent(second.url)
    with pytest.raises(SourceError, match="state mismatch"):
        finish_authorization(opts, first, redirected, MappingTokenCache({}))
    assert registry.pop("made-up-state") is None
    session: dict[str, Any] = {}
    finish_authorization(opts, registry.pop(second.state), redirected, MappingTokenCache(session))
    assert "spotify_token" in session
    assert registry.pop(second.state) is None  # used
    expired = PendingAuthorizations(ttl=0.0)
    expired.add(first)
    assert expired.pop(first.state) is None


def test_a_refusal_or_a_pasted_address_without_code_is_a_plain_message(fake: FakeSpotify) -> None:
    opts = options(fake)
    pending = start_authorization(opts)
    fake.deny = True
    with pytest.raises(SourceError, match=r"did not authorise Timbre \(access_denied\)"):
        finish_authorization(opts, pending, fake.consent(pending.url), MappingTokenCache({}))
    with pytest.raises(SourceError, match="no \\?code="):
        finish_authorization(opts, pending, REDIRECT + "?state=x", MappingTokenCache({}))
    fake.deny = False
    # a code exchanged with another verifier is refused by the accounts service
    other = start_authorization(opts)
    forged = type(pending)(pending.state, pending.url, other.code_verifier, other.code_challenge)
    with pytest.raises(SourceError, match="refused the sign-in code"):
        finish_authorization(opts, forged, fake.consent(pending.url), MappingTokenCache({}))


def test_redirect_uris_that_spotify_refuses_are_refused_here() -> None:
    assert check_redirect_uri("https://timbre.example.org/Data")
    for bad in ("http://localhost:8501/Data", "http://example.org/cb", "http://127.0.0.1/cb"):
        with pytest.raises(SourceError, match=r"127\.0\.0\.1:PORT"):
            check_redirect_uri(bad)
    with pytest.raises(SourceError, match="no Spotify client id"):
        SpotifyOptions(client_id="")
    with pytest.raises(SourceError, match="not connected"):
        SpotifyClient(SpotifyOptions(client_id="x"), MappingTokenCache({}))


# --- fetching ---------------------------------------------------------------------------------
def test_fetch_stores_top_lists_recent_plays_and_saved_tracks_idempotently(
    sqlite_store: Store, fake: FakeSpotify
) -> None:
    cache = connect(fake, {})
    result = fetch(sqlite_store, fake, cache)
    assert result.status == "ok", result.error
    assert result.user_key == "spotify:user:tess.listener" and result.user == "Tess"
    account = fake.account
    top_ids = {t for ids in account.top_tracks.values() for t in ids}
    tracks = rows(sqlite_store, "spotify-tracks")
    top = tracks[tracks["event"] == "top"]
    assert set(top["item_key"]) == {f"spotify:track:{t}" for t in top_ids}
    # a track first in all three ranges would weigh 3; weights are rank-based and positive
    assert top["weight"].min() > 0 and top["weight"].max() <= 3
    saved = tracks[tracks["event"] == "love"]
    assert set(saved["item_key"]) == {f"spotify:track:{t}" for _at, t in account.saved}
    plays = rows(sqlite_store, "spotify-plays")
    assert len(plays) == len(account.recent) and plays["timestamp"].notna().all()
    artists, items = sqlite_store.load_dataset("spotify-artists")
    assert len(artists) == len({a for ids in account.top_artists.values() for a in ids})
    assert items["tags"].map(len).min() > 0  # Spotify's genres kept as tags
    assert "Sigur Rós" in set(items["name"])
    # paging: 120 saved entries in pages of 50 came as 3 requests
    assert len(fake.api_requests("me/tracks")) == 3

    digest = sqlite_store.content_digest()
    again = fetch(sqlite_store, fake, cache)
    assert again.status == "ok" and again.rows == 0
    recent = fake.api_requests("recently-played")[-1]
    newest = max(ms for ms, _t in account.recent)
    assert recent.query["after"] == str(newest)  # only plays newer than the stored ones
    assert {t: d for t, d in sqlite_store.content_digest().items() if t != "fetch_logs"} == {
        t: d for t, d in digest.items() if t != "fetch_logs"
    }
    logs = sqlite_store.list_fetch_logs()
    assert logs["status"].tolist() == ["ok", "ok"] and logs["source"].eq("spotify").all()


def test_a_429_waits_as_long_as_retry_after_says(sqlite_store: Store, fake: FakeSpotify) -> None:
    cache = connect(fake, {})
    fake.fail("429", path="me/tracks", retry_after=1)
    result = fetch(sqlite_store, fake, cache, ("saved",))
    assert result.status == "ok" and result.retries == 1
    limited, retried = fake.api_requests("me/tracks")[:2]
    assert limited.fault == "429"
    assert retried.at - limited.at >= 1.0  # measured at the server
    waits: list[float] = []
    fake.fail("429", path="me/tracks", retry_after=500)
    late = fetch(sqlite_store, fake, cache, ("saved",), sleep=waits.append)
    assert late.status == "failed" and "asks to wait 500 s" in late.error and waits == []


def test_transient_faults_are_retried_and_a_lasting_one_gives_up(
    sqlite_store: Store, fake: FakeSpotify
) -> None:
    cache = connect(fake, {})
    for fault in ("500", "503", "malformed", "slow", "reset"):
        fake.fail(fault, path="me/top/artists")
    result = fetch(sqlite_store, fake, cache, ("top-artists",), retry=RetryPolicy(8, 0.001, 0.01))
    assert result.status == "ok" and result.retries == 5
    fake.fail("502", times=50, path="me/top/tracks")
    result = fetch(sqlite_store, fake, cache, ("top-tracks", "saved"))
    assert result.status == "partial"
    assert "gave up after 4 attempts (Spotify answered HTTP 502)" in result.errors["top-tracks"]
    assert result.written.get("saved") is not None


def test_refused_audio_features_are_reported_and_the_rest_is_kept(
    sqlite_store: Store, fake: FakeSpotify
) -> None:
    cache = connect(fake, {})
    result = fetch(sqlite_store, fake, cache, KINDS)
    assert result.status == "partial"
    assert set(result.errors) == {"audio-features"}
    assert "refused audio features (403)" in result.errors["audio-features"]
    assert "catalogue" in result.errors["audio-features"]
    assert sqlite_store.table_counts()["item_features"] == 0
    assert len(rows(sqlite_store, "spotify-tracks")) > 0
    assert "403" in sqlite_store.list_fetch_logs()["error"].iloc[0]

    fake.audio_features_allowed = True  # an app registered before 27 Nov 2024
    allowed = fetch(sqlite_store, fake, cache, ("top-tracks", "audio-features"))
    assert allowed.status == "ok", allowed.error
    assert sqlite_store.table_counts()["item_features"] == allowed.fetched["audio-features"] > 0
    _, items = sqlite_store.load_dataset("spotify-tracks")
    assert items["danceability"].notna().sum() >= allowed.fetched["audio-features"] - 5


def test_an_expired_token_is_renewed_and_a_revoked_one_says_connect_again(
    sqlite_store: Store, fake: FakeSpotify
) -> None:
    session: dict[str, Any] = {}
    cache = connect(fake, session)
    old = session["spotify_token"]["access_token"]
    fake.expire_tokens()
    session["spotify_token"]["expires_at"] = 0
    renewed = fetch(sqlite_store, fake, cache, ("recent",))
    assert renewed.status == "ok" and session["spotify_token"]["access_token"] != old
    fake.expire_tokens()
    fake.refresh_tokens.clear()
    session["spotify_token"]["expires_at"] = 0
    revoked = fetch(sqlite_store, fake, cache, ("recent", "saved"))
    assert revoked.status == "failed"
    assert "connect again" in revoked.error
    # a token the API refuses (401) ends the fetch too, without retries
    session["spotify_token"]["expires_at"] = 10**10
    session["spotify_token"]["access_token"] = "revoked-elsewhere-token"
    refused = fetch(sqlite_store, fake, cache, ("recent",))
    assert refused.status == "failed" and "(401)" in refused.error and refused.retries == 0


def test_kinds_are_checked() -> None:
    assert parse_kinds(None) == DEFAULT_KINDS
    assert "audio-features" not in DEFAULT_KINDS
    assert parse_kinds("saved,recent") == ("recent", "saved")
    with pytest.raises(Exception, match="unknown Spotify kind"):
        parse_kinds("podcasts")


def test_tokens_and_verifiers_never_reach_logs_or_the_database(
    sqlite_store: Store, sqlite_url: str, fake: FakeSpotify, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    session: dict[str, Any] = {}
    opts = options(fake)
    pending = start_authorization(opts)
    redirected = fake.consent(pending.url)
    cache = MappingTokenCache(session)
    finish_authorization(opts, pending, redirected, cache)
    fake.fail("500", path="me/top/tracks")
    fetch(sqlite_store, fake, cache, KINDS)
    fake.expire_tokens()
    session["spotify_token"]["expires_at"] = 0
    fetch(sqlite_store, fake, cache, ("recent",))  # renews: new tokens
    assert "Bearer ***" in caplog.text  # spotipy logged its headers, masked
    code = redirected.split("code=")[1].split("&")[0]
    secrets = [*fake.issued, pending.code_verifier, code]
    assert len(fake.issued) == 4
    logs = sqlite_store.list_fetch_logs()
    exported = csv_text(logs) + "".join(
        csv_text(sqlite_store.load_dataset(d["name"])[0]) for d in sqlite_store.list_datasets()
    )
    sqlite_store.close()
    database = Path(sa.make_url(sqlite_url).database or "")
    stored = b"".join(
        p.read_bytes() for p in database.parent.iterdir() if p.name.startswith(database.name)
    )
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in exported
        assert secret.encode() not in stored
    assert not any(name.startswith(".cache") for name in os.listdir("."))


# --- the CLI ----------------------------------------------------------------------------------
def test_cli_signs_in_by_pasting_the_address_and_fetches(
    tmp_path: Path,
    fake: FakeSpotify,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    import timbre.cli.common
    from timbre.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", fake.client_id)
    monkeypatch.setenv("SPOTIFY_REDIRECT_URI", REDIRECT)
    monkeypatch.setenv("TIMBRE_SPOTIFY_API_ROOT", fake.api_root)
    monkeypatch.setenv("TIMBRE_SPOTIFY_ACCOUNTS_ROOT", fake.accounts_root)
    monkeypatch.delenv("TIMBRE_DATABASE_URL", raising=False)
    prompts: list[str] = []

    def person(prompt: str) -> str:  # opens the link, clicks "Agree", pastes the address
        prompts.append(prompt)
        link = next(line for line in prompt.splitlines() if line.startswith("http"))
        return fake.consent(link)

    monkeypatch.setattr(timbre.cli.common, "ask", person)
    code = main(["--home", str(tmp_path / "home"), "fetch", "spotify", "--rate", "200", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    [user] = json.loads(out)["users"]
    assert user["user_key"] == "spotify:user:tess.listener" and user["status"] == "ok"
    assert REDIRECT in prompts[0]
    for secret in fake.issued:
        assert secret not in out + err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]  # no token file
    code = main(["--home", str(tmp_path / "home"), "users", "list"])
    assert "spotify:user:tess.listener" in capsys.readouterr().out
