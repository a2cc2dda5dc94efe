"""AppTest: the read-only demo disables every write control with a reason and refuses a forced
write on the server; the presenter unlocks a session with the password (and only with it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from tests.app.helpers import open_page
from timbre.app.imports import import_uploads
from timbre.config import ENV_PRESENTER_HASH, load_settings
from timbre.presenter import ReadOnlyError, hash_password
from timbre.services.people import feedback_of
from timbre.sources.demo import SAMPLES_DIR
from timbre.store import Store

TIMEOUT = 120
PASSWORD = "lab-presenter"
#: Every write control of each page (keys), as a read-only session sees them.
WRITE_CONTROLS = {
    "app_pages/data.py": ["data_import_submit", "data_load_demo", "data_lastfm_add",
                          "data_lastfm_fetch"],
    "app_pages/train.py": ["train_submit", "train_eval_submit", "train_sweep_submit",
                           "train_delete"],
    "app_pages/personality.py": ["personality_submit"],
    "app_pages/recommend.py": ["recommend_save", "recommend_like_1", "recommend_block_10"],
    "app_pages/tune.py": ["tune_like_1", "tune_skip_5"],
    "app_pages/you.py": ["you_lastfm_connect", "you_import", "you_ipip_submit", "you_like_1",
                         "you_forget"],
}  # fmt: skip
#: Controls that only read or only change this session: never disabled.
FREE_CONTROLS = {
    "app_pages/recommend.py": ["recommend_all_build"],
    "app_pages/tune.py": ["tune_apply_preset", "tune_use"],
    "app_pages/personality.py": ["personality_persona"],
}


@pytest.fixture
def exposed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The server listens on every interface, no presenter hash: the read-only demo."""
    monkeypatch.delenv(ENV_PRESENTER_HASH, raising=False)
    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    yield
    config.set_option("server.address", before)


@pytest.fixture
def presenter(monkeypatch: pytest.MonkeyPatch) -> str:
    """A presenter password hash in the environment (few iterations: a quick test)."""
    encoded = hash_password(PASSWORD, iterations=2_000)
    monkeypatch.setenv(ENV_PRESENTER_HASH, encoded)
    return encoded


def _button(at: AppTest, key: str) -> object:
    found = [b for b in at.button if b.key == key]
    assert found, f"no button {key}"
    return found[0]


def _force(widget: object) -> object:
    """What a crafted client message does: act on a widget the browser shows disabled
    (AppTest refuses that, as a browser does; the server must refuse it by itself)."""
    widget.proto.disabled = False  # type: ignore[attr-defined]
    return widget


def _runs() -> list[dict[str, object]]:
    with Store.open(load_settings()) as store:
        return store.list_model_runs()


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


@pytest.mark.parametrize("page", list(WRITE_CONTROLS))
def test_the_read_only_demo_disables_every_write_control(
    als_home: Path, exposed: None, page: str
) -> None:
    at = open_page(page, TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    for key in WRITE_CONTROLS[page]:
        assert _button(at, key).disabled, key  # type: ignore[attr-defined]
    for key in FREE_CONTROLS.get(page, []):
        assert not _button(at, key).disabled, key  # type: ignore[attr-defined]
    reasons = [c.value for c in at.caption if c.value.startswith("Read-only demo: this app is")]
    assert reasons, "no one-line reason on the page"
    assert any("Read-only demo" in c.value for c in at.sidebar.caption)
    assert not [w for w in at.text_input if w.key == "presenter_password"]  # nothing to unlock


def test_a_forged_click_on_a_disabled_control_does_nothing(als_home: Path, exposed: None) -> None:
    at = open_page("app_pages/train.py", TIMEOUT)
    _force(_button(at, "train_submit")).click()  # type: ignore[attr-defined]
    at.run()
    assert not at.exception and len(_runs()) == 1  # Streamlit discards it; nothing trained


@pytest.fixture
def gates_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages that forgot to disable their controls: only the server-side check is left."""
    for module in ("timbre.app.access", "timbre.app.you", "timbre.app.connectors"):
        monkeypatch.setattr(f"{module}.write_gate", lambda action: True)


def test_the_server_refuses_writes_a_page_lets_through(
    als_home: Path, exposed: None, gates_open: None
) -> None:
    at = open_page("app_pages/train.py", TIMEOUT)
    _button(at, "train_submit").click()  # type: ignore[attr-defined]
    at.run()
    assert any("cannot train a model" in e for e in _errors(at)), _errors(at)
    assert len(_runs()) == 1

    at = open_page("app_pages/you.py", TIMEOUT)
    _button(at, "you_like_1").click()  # type: ignore[attr-defined]
    at.run()
    assert any("cannot like, skip or block" in e for e in _errors(at)), _errors(at)
    at.run()  # the refusal stopped the page: draw it whole again
    at.checkbox(key="you_forget_confirm").check().run()
    _button(at, "you_forget").click()  # type: ignore[attr-defined]
    at.run()
    assert any("cannot forget anyone" in e for e in _errors(at)), _errors(at)

    at = open_page("app_pages/data.py", TIMEOUT)
    at.text_input(key="data_lastfm_add_names").input("rj")
    _button(at, "data_lastfm_add").click()  # type: ignore[attr-defined]
    at.run()
    assert any("cannot add users" in e for e in _errors(at)), _errors(at)
    with Store.open(load_settings()) as store:
        assert not feedback_of(store, ["me"])
        assert not len(store.list_users("lastfm:"))
        before = store.stats()["interactions"]

    class Upload:
        name = "my_spotify_data.zip"

        def getvalue(self) -> bytes:
            return (SAMPLES_DIR / "my_spotify_data.zip").read_bytes()

    with Store.open(load_settings()) as store:
        with pytest.raises(ReadOnlyError, match="cannot import"):
            import_uploads(store, [Upload()], user="me")
        assert store.stats()["interactions"] == before


def test_the_presenter_unlocks_with_the_password_only(als_home: Path, presenter: str) -> None:
    at = open_page("app_pages/train.py", TIMEOUT)
    assert not at.exception
    assert _button(at, "train_submit").disabled  # type: ignore[attr-defined]
    assert any("unlock as presenter" in c.value for c in at.caption)

    at.text_input(key="presenter_password").input("lab-presenter ")  # one space too many
    _button(at, "presenter_unlock").click()  # type: ignore[attr-defined]
    at.run()
    assert any("Wrong presenter password" in e.value for e in at.sidebar.error)
    assert _button(at, "train_submit").disabled  # type: ignore[attr-defined]
    _force(_button(at, "train_submit")).click()  # type: ignore[attr-defined]
    at.run()
    assert len(_runs()) == 1

    at.text_input(key="presenter_password").input(PASSWORD)
    _button(at, "presenter_unlock").click()  # type: ignore[attr-defined]
    at.run()
    assert not at.exception and not at.sidebar.error
    assert at.session_state["presenter_password"] == ""  # the password is not kept
    assert PASSWORD not in repr(at._session_state.filtered_state)
    assert any("Unlocked as presenter" in c.value for c in at.sidebar.caption)
    assert not _button(at, "train_submit").disabled  # type: ignore[attr-defined]
    at.selectbox(key="train_model").set_value("popularity").run()
    _button(at, "train_submit").click()  # type: ignore[attr-defined]
    at.run()
    assert not _errors(at), _errors(at)
    assert len(_runs()) == 2

    _button(at, "presenter_lock").click()  # type: ignore[attr-defined]
    at.run()
    assert _button(at, "train_submit").disabled  # type: ignore[attr-defined]


def test_a_new_hash_locks_an_unlocked_session(
    als_home: Path, presenter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page("app_pages/personality.py", TIMEOUT)
    at.text_input(key="presenter_password").input(PASSWORD)
    _button(at, "presenter_unlock").click()  # type: ignore[attr-defined]
    at.run()
    assert not _button(at, "personality_submit").disabled  # type: ignore[attr-defined]
    monkeypatch.setenv(ENV_PRESENTER_HASH, hash_password(PASSWORD, iterations=2_000))
    at.run()
    assert _button(at, "personality_submit").disabled  # type: ignore[attr-defined]


def test_a_malformed_hash_keeps_the_app_read_only(
    als_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_PRESENTER_HASH, PASSWORD)  # the password where the hash belongs
    at = open_page("app_pages/data.py", TIMEOUT)
    assert not at.exception
    assert _button(at, "data_import_submit").disabled  # type: ignore[attr-defined]
    shown = " ".join(e.value for e in at.sidebar.error)
    assert "malformed" in shown and PASSWORD not in shown
    assert not [w for w in at.text_input if w.key == "presenter_password"]


def test_a_personal_install_shows_no_presenter_box(
    als_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_PRESENTER_HASH, raising=False)
    at = open_page("app_pages/train.py", TIMEOUT)
    assert config.get_option("server.address") == "127.0.0.1"
    assert not _button(at, "train_submit").disabled  # type: ignore[attr-defined]
    assert not at.sidebar.caption and not at.sidebar.error
    assert not any("Read-only" in c.value for c in at.caption)


def test_the_read_only_demo_cannot_train_where_a_model_is_missing(
    demo_app_home: Path, exposed: None
) -> None:
    at = open_page("app_pages/tune.py", TIMEOUT)
    assert not at.exception
    assert _button(at, "tune_train").disabled  # type: ignore[attr-defined]
    assert any("cannot train a model" in c.value for c in at.caption)
