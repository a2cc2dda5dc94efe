"""AppTest, issue 19 items 2-5 and 7 (app side): the default lists respect the listener floor and
the blocklist; one coefficient table per session reaches Tune and Recommend; the personality
weight's note and the plausibility check on Tune; the cold-start schedule shown and switchable;
a repeated group member."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import open_page, shown, table_with
from timbre import personality as pers
from timbre.config import load_settings
from timbre.hybrid.safety import APP_MIN_LISTENERS, blocklisted
from timbre.services.data import load_data
from timbre.sources.demo import DEMO_DATASET
from timbre.store import Store

TUNE, RECOMMEND = "app_pages/tune.py", "app_pages/recommend.py"
PERSONALITY, YOU = "app_pages/personality.py", "app_pages/you.py"
PERSONA = 4  # 'O 90 · C 87 · E 42 · A 1 · N 9': the persona whose list had Shaman and Trouble


def _save_profile(person: str = "me", persona: int = PERSONA) -> None:
    instrument = pers.get_instrument("ipip50")
    answers = pers.persona_answers(persona, instrument)
    scores = pers.score(instrument, answers)
    with Store.open(load_settings()) as store:
        store.add_profile(
            person,
            "ipip50",
            answers,
            dict(scores.means),
            {str(t): v for t, v in pers.percentiles(scores).items()},
        )


def _tune_persona(at: AppTest, index: int) -> AppTest:
    at.radio(key="tune_who").set_value("a persona").run()
    return at.selectbox(key="tune_persona").set_value(index).run()


def _listed(at: AppTest, *columns: str, without: str | None = None) -> list[str]:
    """The item names of the first table with ``columns`` (one has ``item_name``)."""
    return [shown(v) for v in table_with(at, *columns, without=without)["item_name"]]


@pytest.fixture
def floor() -> dict[str, tuple[float, bool]]:
    """Per item name: its fewest listeners among the items of that name, and whether any of
    them is blocklisted (on the demo data set the lists rank)."""
    with Store.open(load_settings()) as store:
        data = load_data(store, DEMO_DATASET)
    frame = pd.DataFrame(
        {
            "name": data.item_meta["name"].astype(str),
            "listeners": data.listeners,
            "blocked": blocklisted(data.item_meta),
        }
    )
    grouped = frame.groupby("name").agg({"listeners": "min", "blocked": "max"})
    return {str(n): (float(r.listeners), bool(r.blocked)) for n, r in grouped.iterrows()}


def _check(names: list[str], floor: dict[str, tuple[float, bool]], where: str) -> None:
    assert names, where
    low = [n for n in names if floor[n][0] < APP_MIN_LISTENERS]
    blocked = [n for n in names if floor[n][1]]
    assert not low and not blocked, (where, low, blocked)


def test_every_default_list_respects_the_listener_floor_and_the_blocklist(
    als_home: Path, floor: dict[str, tuple[float, bool]]
) -> None:
    _save_profile()
    at = open_page(TUNE, 90)
    assert not at.exception
    _check(_listed(at, "item_name", "because", without="item_id"), floor, "Tune, first listener")
    for index in range(len(pers.personas())):
        at = _tune_persona(at, index)
        assert not at.exception
        _check(
            _listed(at, "item_name", "because", without="item_id"), floor, f"Tune, persona {index}"
        )
    assert at.number_input(key="tune_min_listeners").value == APP_MIN_LISTENERS == 5
    assert at.checkbox(key="tune_presenter_safe").value is True
    at = at.switch_page(RECOMMEND).run()
    assert not at.exception
    _check(_listed(at, "rank", "item_name", "score"), floor, "Recommend, first listener")
    at.text_input(key="recommend_user").set_value("me").run()
    _check(_listed(at, "rank", "item_name", "score"), floor, "Recommend, me (cold start)")
    at.radio(key="recommend_mode").set_value("Group").run()
    _check(_listed(at, "rank", "item_name", "score"), floor, "Recommend, group")
    at.radio(key="recommend_mode").set_value("Similar items").run()
    _check(_listed(at, "rank", "item_name", "score"), floor, "Recommend, similar items")
    at = at.switch_page(PERSONALITY).run()
    assert not at.exception
    tables = [t.value for t in at.table]
    assert len(tables) == 2
    for table in tables:
        _check([shown(v) for v in table["item"]], floor, "Personality, favoured")
    at = at.switch_page(YOU).run()
    assert not at.exception
    _check(_listed(at, "rank", "item_name", "score"), floor, "You")


def test_the_floor_is_editable_and_shared_by_the_pages(als_home: Path) -> None:
    at = _tune_persona(open_page(TUNE, 90), PERSONA)
    at.number_input(key="tune_min_listeners").set_value(200).run()
    at.checkbox(key="tune_presenter_safe").uncheck().run()
    assert not at.exception
    with Store.open(load_settings()) as store:
        data = load_data(store, DEMO_DATASET)
    listeners = dict(zip(data.item_meta["name"].astype(str), data.listeners, strict=True))
    assert all(listeners[n] >= 200 for n in _listed(at, "item_name", "because", without="item_id"))
    at = at.switch_page(RECOMMEND).run()
    assert at.number_input(key="recommend_min_listeners").value == 200
    assert at.checkbox(key="recommend_presenter_safe").value is False


def _flipped() -> pd.DataFrame:
    table = pers.default_coefficients()
    return table.assign(coefficient=-table["coefficient"].astype(float))


def test_an_edited_coefficient_table_reaches_tune_and_recommend(als_home: Path) -> None:
    _save_profile()
    at = _tune_persona(open_page(TUNE, 90), PERSONA)
    before = _listed(at, "item_name", "because", without="item_id")
    at = at.switch_page(RECOMMEND).run()
    at.text_input(key="recommend_user").set_value("me").run()
    recommend_before = _listed(at, "rank", "item_name", "score")
    # the Personality page's what-if edit (the editor starts from this session key)
    at = at.switch_page(PERSONALITY)
    at.session_state["personality_coefficients"] = _flipped()
    at = at.run()
    assert not at.exception
    personality_captions = [shown(c.value) for c in at.caption]
    at = _tune_persona(at.switch_page(TUNE).run(), PERSONA)  # Tune forgot the persona
    assert not at.exception
    assert at.radio(key="tune_who").value == "a persona"
    after = _listed(at, "item_name", "because", without="item_id")
    assert after != before
    digest = pers.coefficients_digest(pers.validate_coefficients(_flipped()))
    assert any(f"edited on the Personality page (sha256 {digest})" in c
               for c in personality_captions)  # fmt: skip
    assert any(f"sha256 {digest}" in shown(c.value) for c in at.caption)
    at = at.switch_page(RECOMMEND).run()
    at.text_input(key="recommend_user").set_value("me").run()
    assert not at.exception
    assert _listed(at, "rank", "item_name", "score") != recommend_before
    # the caption (and the export's provenance, built from the same note) names the table
    assert any(f"edited on the Personality page (sha256 {digest})" in shown(c.value)
               for c in at.caption)  # fmt: skip


def test_tune_says_what_the_schedule_sets_and_can_switch_it_off(als_home: Path) -> None:
    at = _tune_persona(open_page(TUNE, 90), PERSONA)
    info = " ".join(shown(i.value) for i in at.info)
    assert "the schedule sets the weights, not the sliders" in info
    assert "cf=0.3, content=0, personality=0.7, novelty=0, diversity=0" in info
    scheduled = _listed(at, "item_name", "because", without="item_id")
    at.slider(key="tune_w_cf").set_value(0.0).run()
    at.slider(key="tune_w_personality").set_value(1.0).run()
    assert (
        _listed(at, "item_name", "because", without="item_id") == scheduled
    )  # the sliders are ignored
    at.toggle(key="tune_schedule_on").set_value(False).run()
    assert not at.exception
    assert not any("the schedule sets" in shown(i.value) for i in at.info)
    by_hand = _listed(at, "item_name", "because", without="item_id")
    assert by_hand != scheduled  # personality alone, as the sliders say


def test_tune_says_the_personality_weight_cannot_move_the_metrics_and_offers_a_check(
    als_home: Path,
) -> None:
    at = open_page(TUNE, 90)
    assert any(
        "The personality weight cannot move these metrics" in shown(c.value) for c in at.caption
    )
    at.toggle(key="tune_show_plausibility").set_value(True).run()
    assert not at.exception
    assert at.toggle(key="tune_show_plausibility").label == "Plausibility check (not accuracy)"
    table = table_with(at, "persona", "predicted tags", "list share", "no-profile share")
    assert table["persona"].tolist() == pers.personas()["persona"].tolist()
    assert any("Not accuracy" in shown(c.value) for c in at.caption)


def test_a_group_with_a_repeated_member_counts_it_once(als_home: Path) -> None:
    at = open_page(RECOMMEND, 90)
    at.radio(key="recommend_mode").set_value("Group").run()
    at.text_input(key="recommend_group").set_value("2, 3, 2").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Each member counts once" in shown(c.value) for c in at.caption)
    members = table_with(at, "item_name", without="rank")
    assert len(members.columns) == 3  # item_name and the two members
