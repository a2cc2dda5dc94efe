"""AppTest: Tune serves a person by name, takes Like / Skip / Block, and survives a typo."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import open_page, shown, table_with
from tests.cli_helpers import run_cli
from tests.test_people import _scrobbles
from timbre import hybrid
from timbre.config import load_settings
from timbre.services.people import account_keys, feedback_of
from timbre.store import Store

PAGE = "pages/tune.py"
TIMEOUT = 120


def _run(at: AppTest) -> AppTest:
    at.run(timeout=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    return at


def _names(at: AppTest) -> list[str]:
    return list(table_with(at, "item_name", "because")["item_name"])


def _weights(at: AppTest) -> list[object]:
    return [at.slider(key=f"tune_w_{knob}").value for knob in hybrid.KNOBS]


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_a_listener_typo_keeps_the_weights_and_the_last_list(als_home: Path) -> None:
    """Regression (issue 17, item 1): an unknown listener stopped the page before the sliders,
    so the browser forgot them and showed 0.00 for every weight once the id was corrected."""
    at = _run(open_page(PAGE, TIMEOUT))
    at.slider(key="tune_w_diversity").set_value(0.3)
    _run(at)
    weights, listed = _weights(at), _names(at)
    good = str(at.text_input(key="tune_user").value)
    assert good == "hetrec:user:10"  # the example: the typo has a letter O for 0
    assert len(listed) == 10 and weights[-1] == 0.3 and not _errors(at)

    at.text_input(key="tune_user").set_value("hetrec:user:1O")
    _run(at)
    assert any("unknown user" in e and "1O" in e for e in _errors(at)), _errors(at)
    assert _weights(at) == weights  # the sliders are still drawn, as they were
    assert _names(at) == listed  # and the last valid listener's list is still there
    assert any(shown(e).endswith("The list below is still hetrec:user:10's.") for e in _errors(at))
    assert at.button(key="tune_use")

    at.text_input(key="tune_user").set_value(good)
    _run(at)
    assert not _errors(at) and _weights(at) == weights and _names(at) == listed
    at.button(key="tune_use").click()
    _run(at)
    assert at.session_state["timbre"].weights.diversity == 0.3


def test_a_skip_on_tune_is_saved_and_the_next_list_drops_the_item(als_home: Path) -> None:
    at = _run(open_page(PAGE, TIMEOUT))
    at.text_input(key="tune_user").set_value("2")
    _run(at)
    before = _names(at)
    at.button(key="tune_skip_1").click()
    _run(at)
    assert not _errors(at), _errors(at)
    after = _names(at)
    assert before[0] not in after and len(after) == len(before)
    assert any(s.value.startswith("Skipped ") for s in at.success)
    with Store.open(load_settings()) as store:
        assert list(store.feedback_of(["hetrec:user:2"])["event"]) == ["skip"]
    at.button(key="tune_block_1").click()
    _run(at)
    assert after[0] not in _names(at)
    with Store.open(load_settings()) as store:
        reactions = feedback_of(store, ["hetrec:user:2"])
    assert len(reactions.skipped) == 1 and len(reactions.blocked) == 1


def test_tune_serves_a_person_by_name_and_personas_get_no_buttons(
    als_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    at = _run(open_page(PAGE, TIMEOUT))
    popular = _names(at)
    csv = _scrobbles(tmp_path / "scrobbles.csv")
    code, _, err = run_cli(capsys, "--home", str(als_home), "import", str(csv), "--user", "me")
    assert code == 0, err

    at.text_input(key="tune_user").set_value("me")
    _run(at)
    assert not _errors(at), _errors(at)
    line = "me: 50 of 55 plays mapped onto 6 items of the model (1 account: lastfm:me)"
    assert line in [t.value for t in at.text]
    mine = _names(at)
    assert len(mine) == 10 and mine != popular
    at.button(key="tune_like_3").click()
    _run(at)
    with Store.open(load_settings()) as store:
        reactions = feedback_of(store, account_keys(store, "me"))
    assert len(reactions.liked) == 1 and mine[2] not in _names(at)  # folded in: it is heard
    assert any(c.value.startswith("you liked") for c in at.caption)

    at.radio(key="tune_who").set_value("a persona")
    _run(at)
    assert len(_names(at)) == 10
    assert not [b for b in at.button if str(b.key).startswith("tune_skip_")]
    assert any("a persona has no one to save them for" in c.value for c in at.caption)
