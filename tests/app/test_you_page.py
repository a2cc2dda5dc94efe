"""AppTest: the You page, one person end to end (import, list, skip, undo, forget)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import open_page, table_with
from tests.cli_helpers import run_cli
from tests.test_people import _scrobbles
from timbre.config import load_settings
from timbre.services.people import account_keys, feedback_of
from timbre.store import Store

PAGE = "pages/you.py"
TIMEOUT = 120


@pytest.fixture
def als_home(demo_app_home: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The demo with the default ALS run active (what a presenter has)."""
    code, _, err = run_cli(capsys, "--home", str(demo_app_home), "train", "--model", "als")
    assert code == 0, err
    return demo_app_home


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
