"""AppTest: the You page, one person end to end (import, list, skip, undo, forget), Spotify
sign-in against the loopback fake, and seed artists."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import app_test, open_page, shown, table_with
from tests.fakes.spotify import FakeSpotify
from tests.test_people import _scrobbles
from timbre.config import load_settings
from timbre.services.people import account_keys, feedback_of
from timbre.store import Store

PAGE = "pages/you.py"
TIMEOUT = 120


def _texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def _names(at: AppTest) -> list[str]:
    return list(table_with(at, "rank", "item_name", "feedback")["item_name"])


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_person_imports_skips_undoes_and_is_forgotten(als_home: Path, tmp_path: Path) -> None:
    at = _run(open_page(PAGE, TIMEOUT))
    assert "With no history and no questionnaire, you get popular items." in [
        c.value for c in at.caption
    ]
    popular = _names(at)
    assert len(popular) == 10

    csv = _scrobbles(tmp_path / "scrobbles.csv")
    at.file_uploader(key="you_uploads").upload(csv.name, csv.read_bytes(), "text/csv")
    at.button(key="you_import").click()
    started = time.perf_counter()
    _run(at)
    took = time.perf_counter() - started
    line = "me: 50 of 55 plays mapped onto 6 items of the model (1 account: lastfm:me)"
    assert line in _texts(at), _texts(at)
    assert "Some Unknown Band - Nothing" in list(table_with(at, "name", "plays")["name"])
    before = _names(at)
    assert len(before) == 10 and before != popular
    print(f"import -> list: {took:.1f} s")

    at.button(key="you_skip_1").click()
    _run(at)
    after = _names(at)
    assert before[0] not in after and len(after) == 10
    assert f"skipped: {before[0]}" in _texts(at)
    assert any(f"you skipped {before[0]}" in c.value for c in at.caption)
    with Store.open(load_settings()) as store:
        reactions = feedback_of(store, account_keys(store, "me"))
        assert len(reactions.skipped) == 1 and not reactions.liked and not reactions.blocked

    at.button(key="you_undo_skip_0").click()
    _run(at)
    assert _names(at) == before
    assert not any(t.startswith("skipped: ") for t in _texts(at))

    assert at.button(key="you_forget").disabled
    at.checkbox(key="you_forget_confirm").check()
    _run(at)
    at.button(key="you_forget").click()
    _run(at)
    # st.success shows the message Markdown-escaped (the person is user text)
    assert any("deleted 55 interactions, 2 users" in s.value for s in at.success)
    with Store.open(load_settings()) as store:
        assert account_keys(store, "me") == []
        assert store.latest_profile("me") is None
    assert _names(at) == popular


def test_a_last_fm_name_and_a_persona_questionnaire_make_the_list(
    als_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.lastfm import FakeLastfm, make_user

    key = "app-test-lastfm-key-5be0c1a9d2"
    with FakeLastfm([make_user("alice", 120)], api_key=key, workdir=tmp_path) as fake:
        monkeypatch.setenv("SSL_CERT_FILE", str(fake.ca_path))
        monkeypatch.setenv("TIMBRE_LASTFM_API_ROOT", fake.url)
        monkeypatch.delenv("LASTFM_API_KEY", raising=False)
        at = _run(open_page(PAGE, TIMEOUT))
        at.text_input(key="you_lastfm_name").input("alice")
        at.text_input(key="you_lastfm_key").input(key)
        at.button(key="you_lastfm_connect").click()
        _run(at)
    assert not at.error, [e.value for e in at.error]
    line = next(t for t in _texts(at) if t.startswith("me: "))
    assert "lastfm:alice" in line and " 0 of " not in line, line
    with Store.open(load_settings()) as store:
        assert "lastfm:alice" in account_keys(store, "me")
    assert len(_names(at)) == 10
    assert any(c.value.startswith("Built from ") for c in at.caption)

    at.button(key="you_persona_fill").click()
    _run(at)
    at.button(key="you_ipip_submit").click()
    _run(at)
    with Store.open(load_settings()) as store:
        profile = store.latest_profile("me")
    assert profile is not None and profile["instrument"] == "mini-ipip"
    assert any("your questionnaire" in c.value for c in at.caption)
    assert any(t.startswith("Saved profile (mini-ipip") for t in _texts(at))


# --- Spotify ----------------------------------------------------------------------------------
SPOTIFY_KEY = "spotify:user:tess.listener"


@pytest.fixture
def spotify_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSpotify]:
    with FakeSpotify() as fake:
        monkeypatch.setenv("SPOTIFY_CLIENT_ID", fake.client_id)
        monkeypatch.setenv("SPOTIFY_REDIRECT_URI", "http://127.0.0.1:8501/You")
        monkeypatch.setenv("TIMBRE_SPOTIFY_API_ROOT", fake.api_root)
        monkeypatch.setenv("TIMBRE_SPOTIFY_ACCOUNTS_ROOT", fake.accounts_root)
        yield fake


def _as(at: AppTest, person: str) -> AppTest:
    at.text_input(key="you_person").input(person)
    return _run(at)


def _everything(at: AppTest) -> str:
    parts = [str(e.value) for kind in ("caption", "text", "success", "error", "warning")
             for e in at.get(kind)]  # fmt: skip
    return "\n".join(parts + [frame.value.to_csv() for frame in at.dataframe])


def _fetch_and_check(at: AppTest, person: str, fake: FakeSpotify) -> None:
    at.button(key="you_spotify_fetch").click()
    _run(at)
    assert not at.error, [e.value for e in at.error]
    said = [shown(s.value) for s in at.success]  # shown Markdown-escaped
    assert f"Spotify fetch ok: {SPOTIFY_KEY} linked to {person}." in said, said
    with Store.open(load_settings()) as store:
        assert store.person_of(SPOTIFY_KEY) == person
        assert SPOTIFY_KEY in account_keys(store, person)
    line = next(t for t in _texts(at) if t.startswith(f"{person}: "))
    assert SPOTIFY_KEY in line and " 0 of " not in line, line
    assert any(c.value.startswith("Built from ") for c in at.caption)
    assert all(secret not in _everything(at) for secret in fake.issued)


def test_spotify_sign_in_by_pasting_the_address_fetches_and_links_the_account(
    als_home: Path, spotify_fake: FakeSpotify
) -> None:
    at = _as(_run(open_page(PAGE, TIMEOUT)), "tess")
    at.button(key="you_spotify_connect").click()
    _run(at)
    url = str(at.link_button(key="you_spotify_open").proto.url)
    assert url.startswith(spotify_fake.accounts_root + "authorize?")
    at.text_input(key="you_spotify_redirect_url").input(spotify_fake.consent(url))
    at.button(key="you_spotify_finish").click()
    _run(at)
    assert any("Connected to Spotify" in s.value for s in at.success)
    _fetch_and_check(at, "tess", spotify_fake)


def test_coming_back_from_spotify_keeps_the_person_it_was_for(
    als_home: Path, spotify_fake: FakeSpotify
) -> None:
    at = _as(_run(open_page(PAGE, TIMEOUT)), "ada")
    at.button(key="you_spotify_connect").click()
    _run(at)
    redirected = spotify_fake.consent(str(at.link_button(key="you_spotify_open").proto.url))
    query = {k: v[0] for k, v in parse_qs(urlsplit(redirected).query).items()}

    back = _run(app_test(PAGE, TIMEOUT, query))  # a new browser session
    assert back.text_input(key="you_person").value == "ada"
    assert "Connected to Spotify for this browser session." in [s.value for s in back.success]
    assert "code" not in back.query_params
    _fetch_and_check(back, "ada", spotify_fake)

    replay = _run(app_test(PAGE, TIMEOUT, query))  # the code and the state work once
    assert replay.text_input(key="you_person").value == "me"
    assert any("state mismatch" in e.value for e in replay.error)


# --- seed artists -----------------------------------------------------------------------------
def test_seed_artists_make_a_new_persons_list_and_unknown_ones_get_suggestions(
    als_home: Path,
) -> None:
    at = _as(_run(open_page(PAGE, TIMEOUT)), "seedling")
    popular = _names(at)
    at.text_input(key="you_seeds").input("Slayer, Metallca, Metallica")
    _run(at)
    assert "Seed artists: Slayer, Metallica" in _texts(at)
    warnings = [w.value.replace("\\", "") for w in at.warning]
    assert any(
        w.startswith("Seed not used: unknown item: 'Metallca'; did you mean") for w in warnings
    ), warnings
    seeded = _names(at)
    assert len(seeded) == 10 and seeded != popular
    assert not {"Slayer", "Metallica"} & set(seeded)
    assert "Built from your seed artists, with the feedback you gave." in [
        c.value for c in at.caption
    ]
    notes = [c.value.replace("\\", "") for c in at.caption]  # shown Markdown-escaped
    assert "seeds: Slayer, Metallica (counted as liked)" in notes, notes
    because = table_with(at, "item_name", "because")["because"]
    assert because.str.contains("Slayer|Metallica").any()
    with Store.open(load_settings()) as store:
        assert account_keys(store, "seedling") == []  # the seeds are this session's only
