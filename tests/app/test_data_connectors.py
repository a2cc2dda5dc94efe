"""AppTest: the Data page's Last.fm and Spotify sections against the loopback fakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import app_test, metric_values, shown, table_with
from tests.fakes.lastfm import FakeLastfm, make_user
from tests.fakes.spotify import FakeSpotify
from timbre.config import load_settings
from timbre.store import Store

PAGE = "app_pages/data.py"
KEY = "app-test-lastfm-key-91c2d7e4f0"
REDIRECT = "http://127.0.0.1:8501/Data"


@pytest.fixture
def small_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with one small data set (the demo would make every page run slower)."""
    from tests.test_store import listening_batch

    home = tmp_path / "home"
    monkeypatch.setenv("TIMBRE_HOME", str(home))
    monkeypatch.delenv("TIMBRE_DATABASE_URL", raising=False)
    with Store.open(load_settings()) as store:
        store.write_batch(listening_batch())
    return home


@pytest.fixture
def lastfm_fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLastfm]:
    users = [make_user("alice", 120), make_user("bob", 60)]
    with FakeLastfm(users, api_key=KEY, workdir=tmp_path) as fake:
        monkeypatch.setenv("SSL_CERT_FILE", str(fake.ca_path))
        monkeypatch.setenv("TIMBRE_LASTFM_API_ROOT", fake.url)
        monkeypatch.delenv("LASTFM_API_KEY", raising=False)
        yield fake


@pytest.fixture
def spotify_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSpotify]:
    with FakeSpotify() as fake:
        monkeypatch.setenv("SPOTIFY_CLIENT_ID", fake.client_id)
        monkeypatch.setenv("SPOTIFY_REDIRECT_URI", REDIRECT)
        monkeypatch.setenv("TIMBRE_SPOTIFY_API_ROOT", fake.api_root)
        monkeypatch.setenv("TIMBRE_SPOTIFY_ACCOUNTS_ROOT", fake.accounts_root)
        yield fake


def _texts(at: AppTest) -> str:
    """Everything the page shows as text (to prove a secret is not among it)."""
    parts: list[str] = []
    for kind in ("markdown", "caption", "text", "success", "info", "warning", "error", "code"):
        parts += [str(e.value) for e in at.get(kind)]
    parts += [frame.value.to_csv() for frame in at.dataframe]
    parts += [str(m.value) for m in at.metric]
    return "\n".join(parts)


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# --- Last.fm ----------------------------------------------------------------------------------
def test_lastfm_users_are_added_fetched_logged_and_removed_after_confirmation(
    small_home: Path, lastfm_fake: FakeLastfm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LASTFM_API_KEY", KEY)
    at = _run(app_test(PAGE, 60))
    assert metric_values(at)["Tracked Last.fm users"] == ["0"]
    assert not _has(at, "data_lastfm_api_key")  # the key came from the environment

    at.text_input(key="data_lastfm_add_names").input("alice, bob ghost")
    at.button(key="data_lastfm_add").click()
    _run(at)
    said = [shown(s.value) for s in at.success]
    assert any("Tracking lastfm:alice, lastfm:bob, lastfm:ghost" in s for s in said), said
    assert table_with(at, "user", "interactions", "status")["user"].tolist() == [
        "lastfm:alice",
        "lastfm:bob",
        "lastfm:ghost",
    ]

    at.number_input(key="data_lastfm_rate").set_value(100.0)
    at.button(key="data_lastfm_fetch").click()
    _run(at)
    assert any("Fetched 3 user(s): 2 ok, 0 partial, 1 failed" in shown(s.value) for s in at.success)
    results = table_with(at, "status", "new rows", "why").set_index("user")
    assert results.loc["lastfm:alice", "status"] == "ok"
    assert results.loc["lastfm:alice", "new rows"] > 0
    assert results.loc["lastfm:ghost", "why"] == "no such Last.fm user (error 6: user not found)"
    assert metric_values(at)["Last fetch ok / partial / failed"] == ["2 / 0 / 1"]
    assert int(metric_values(at)["Scrobbles stored"][0].replace(",", "")) == 180
    log = table_with(at, "user_key", "kinds", "duration_s")
    assert sorted(log["status"]) == ["failed", "ok", "ok"]
    # the statistics at the top include the fetched data sets
    datasets = table_with(at, "data set", "users")
    assert {"lastfm-scrobbles", "lastfm-artists"} <= set(datasets["data set"])

    at.multiselect(key="data_lastfm_log_status").set_value(["failed"])
    _run(at)
    assert table_with(at, "user_key", "kinds", "duration_s")["user_key"].tolist() == [
        "lastfm:ghost"
    ]

    at.selectbox(key="data_lastfm_remove_user").set_value("lastfm:ghost")
    at.button(key="data_lastfm_remove").click()
    _run(at)
    assert "Remove **lastfm:ghost**?" in shown(at.warning[0].value)
    at.button(key="data_lastfm_remove_cancel").click()
    _run(at)
    assert len(table_with(at, "user", "interactions", "status")) == 3
    at.selectbox(key="data_lastfm_remove_user").set_value("lastfm:alice")
    at.button(key="data_lastfm_remove").click()
    _run(at)
    at.button(key="data_lastfm_remove_confirm").click()
    _run(at)
    assert any("Removed lastfm:alice" in shown(s.value) for s in at.success)
    assert table_with(at, "user", "interactions", "status")["user"].tolist() == [
        "lastfm:bob",
        "lastfm:ghost",
    ]
    with Store.open(load_settings()) as store:
        assert "lastfm:alice" not in set(store.list_users("lastfm:")["key"])
        assert "lastfm:alice" not in set(store.list_fetch_logs()["user_key"])
    assert KEY not in _texts(at)


def _has(at: AppTest, key: str) -> bool:
    return any(getattr(w, "key", None) == key for w in at.text_input)


def test_a_typed_api_key_stays_in_a_password_field_and_is_never_shown(
    small_home: Path, lastfm_fake: FakeLastfm
) -> None:
    at = _run(app_test(PAGE, 60))
    field = at.text_input(key="data_lastfm_api_key")
    assert field.proto.type == field.proto.PASSWORD
    at.text_input(key="data_lastfm_add_names").input("bob")
    at.button(key="data_lastfm_add").click()
    _run(at)
    at.button(key="data_lastfm_fetch").click()
    _run(at)
    assert any("API key is needed" in e.value for e in at.error)
    assert lastfm_fake.requests == []

    at.text_input(key="data_lastfm_api_key").input(KEY)
    at.multiselect(key="data_lastfm_kinds").set_value(["top-artists", "history"])
    at.number_input(key="data_lastfm_rate").set_value(100.0)
    at.button(key="data_lastfm_fetch").click()
    _run(at)
    assert any("1 ok" in shown(s.value) for s in at.success), [s.value for s in at.success]
    assert not at.error
    assert KEY not in _texts(at)


def test_a_wrong_key_is_reported_per_user_in_words(
    small_home: Path, lastfm_fake: FakeLastfm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LASTFM_API_KEY", "a-wrong-key-0000000000")
    at = _run(app_test(PAGE, 60))
    at.text_input(key="data_lastfm_add_names").input("alice bob")
    at.button(key="data_lastfm_add").click()
    _run(at)
    at.button(key="data_lastfm_fetch").click()
    _run(at)
    why = table_with(at, "status", "new rows", "why")
    assert why["status"].tolist() == ["failed", "failed"]
    assert why["why"].str.contains("refused the API key").all()
    assert "a-wrong-key-0000000000" not in _texts(at)


# --- Spotify ----------------------------------------------------------------------------------
def _connect_link(at: AppTest) -> str:
    at.button(key="data_spotify_connect").click()
    _run(at)
    return str(at.link_button(key="data_spotify_open").proto.url)


def test_spotify_connect_by_pasting_the_address_then_fetch_and_see_what_was_stored(
    small_home: Path, spotify_fake: FakeSpotify
) -> None:
    at = _run(app_test(PAGE, 60))
    url = _connect_link(at)
    assert url.startswith(spotify_fake.accounts_root + "authorize?")
    redirected = spotify_fake.consent(url)
    at.text_input(key="data_spotify_redirect_url").input(redirected)
    at.button(key="data_spotify_finish").click()
    _run(at)
    assert any("Connected to Spotify" in shown(s.value) for s in at.success)
    token: dict[str, Any] = at.session_state["data_spotify_token"]
    assert token["access_token"] in spotify_fake.access_tokens

    at.multiselect(key="data_spotify_kinds").set_value(
        ["top-tracks", "top-artists", "recent", "saved", "audio-features"]
    )
    at.button(key="data_spotify_fetch").click()
    _run(at)
    assert any("Last Spotify fetch" in t.value and "partial" in t.value for t in at.text)
    assert any("refused audio features (403)" in w.value for w in at.warning)
    values = metric_values(at)
    assert int(values["saved fetched"][0].replace(",", "")) > 0
    assert any("spotify-tracks" in c.value for c in at.caption)
    with Store.open(load_settings()) as store:
        names = {d["name"] for d in store.list_datasets()}
        assert {"spotify-tracks", "spotify-artists", "spotify-plays"} <= names
        logs = store.list_fetch_logs()
        assert logs.loc[0, "user_key"] == "spotify:user:tess.listener"
    texts = _texts(at)
    assert all(secret not in texts for secret in spotify_fake.issued)

    at.button(key="data_spotify_disconnect").click()
    _run(at)
    assert "data_spotify_token" not in at.session_state
    assert at.button(key="data_spotify_connect")


def test_coming_back_from_spotify_connects_the_new_session_once(
    small_home: Path, spotify_fake: FakeSpotify
) -> None:
    at = _run(app_test(PAGE, 60))
    redirected = spotify_fake.consent(_connect_link(at))
    query = {k: v[0] for k, v in parse_qs(urlsplit(redirected).query).items()}

    back = _run(app_test(PAGE, 60, query))
    assert any("Connected to Spotify" in s.value for s in back.success)
    assert back.session_state["data_spotify_token"]["access_token"] in spotify_fake.access_tokens

    replay = _run(app_test(PAGE, 60, query))
    assert any("state mismatch" in e.value for e in replay.error)
    assert "data_spotify_token" not in replay.session_state


def test_without_a_client_id_the_section_says_what_to_do(
    small_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPOTIFY_CLIENT_ID", raising=False)
    at = _run(app_test(PAGE, 60))
    assert any("client id" in i.value for i in at.info)
    assert not at.error
