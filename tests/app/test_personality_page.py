"""AppTest: the Personality page scores a questionnaire, saves it, draws the radar and the prior."""

from __future__ import annotations

import re
from pathlib import Path

from tests.app.helpers import metric_values, open_page, plotly_figures, shown
from timbre import personality as pers
from timbre.config import load_settings
from timbre.store import Store

PAGE = "app_pages/personality.py"


def _profiles() -> list[dict[str, object]]:
    with Store.open(load_settings()) as store:
        return store.list_profiles()


def test_answering_the_mini_ipip_saves_a_profile_and_draws_the_radar(
    demo_app_home: Path,
) -> None:
    at = open_page(PAGE, 60)
    assert not at.exception
    assert any("Answer every item" in i.value for i in at.info)
    instrument = pers.get_instrument("mini-ipip")
    at.radio(key="personality_instrument").set_value("mini-ipip").run()
    for item in instrument.items:
        at.radio(key=f"personality_q_{item.code}").set_value(4 if item.keyed > 0 else 2)
    at = at.run()
    # the answers sit in a form: a click on one runs nothing (issue 17: no full rerun per click)
    assert any("0 of 20 answered" in str(p.proto.text) for p in at.get("progress"))
    for item in instrument.items:
        at.radio(key=f"personality_q_{item.code}").set_value(4 if item.keyed > 0 else 2)
    at.button(key="personality_submit").click()
    at = at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("20 of 20 answered" in str(p.proto.text) for p in at.get("progress"))
    profiles = _profiles()
    assert len(profiles) == 1 and profiles[0]["user_key"] == "me"
    assert profiles[0]["instrument"] == "mini-ipip"
    assert all(v == 4.0 for v in profiles[0]["scores"].values())
    values = metric_values(at)
    percentile = profiles[0]["percentiles"]["openness"]
    assert values["Openness"] == [f"{percentile:.1f}"]  # short enough to show in full
    assert any(c.value == "percentile · mean 4.00" for c in at.caption)
    radar = next(f for f in plotly_figures(at) if f["data"][0]["type"] == "scatterpolar")
    assert radar["data"][0]["theta"][:5] == [t.capitalize() for t in pers.TRAITS]
    tables = [t.value for t in at.table]
    columns = ["item", "prior", "driven by (contribution = value x weight)", "evidence"]
    assert len(tables) == 2 and list(tables[0].columns) == columns
    assert re.fullmatch(
        r"\w+ [+-]\d\.\d\d \(value [+-]\d\.\d\d\)(; .*)?", shown(tables[0][columns[2]].iloc[0])
    )
    assert tables[0]["prior"].iloc[0] > tables[1]["prior"].iloc[0]


def test_demo_persona_fills_every_item_and_a_retake_adds_history(demo_app_home: Path) -> None:
    at = open_page(PAGE, 60)
    at.button(key="personality_persona").click()
    at = at.run()
    assert any("50 of 50 answered" in str(p.proto.text) for p in at.get("progress"))
    at.button(key="personality_submit").click()
    at = at.run()
    at.button(key="personality_submit").click()
    at = at.run()
    assert not at.exception
    assert len(_profiles()) == 2
    persona = pers.persona_answers(2, pers.get_instrument("ipip50"))
    assert _profiles()[0]["answers"] == persona


def test_incomplete_answers_name_the_missing_items(demo_app_home: Path) -> None:
    at = open_page(PAGE, 60)
    at.radio(key="personality_instrument").set_value("mini-ipip").run()
    at.radio(key="personality_q_E1").set_value(5).run()
    at.button(key="personality_submit").click()
    at = at.run()
    assert not at.exception
    assert any("unanswered:" in e.value and "O2" in e.value for e in at.error)
    assert _profiles() == []
