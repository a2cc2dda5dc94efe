"""AppTest: Tune's sliders move the list and the metrics; Recommend's modes and exports."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from tests.app.helpers import metric_values, open_page, plotly_figures, table_with
from timbre.config import load_settings
from timbre.export import csv_text
from timbre.store import Store

TUNE = "pages/tune.py"
RECOMMEND = "pages/recommend.py"


def _start(page: str) -> AppTest:
    """Open the page on a store without a model and train ALS through its button."""
    at = open_page(page, 120)
    assert not at.exception
    assert any("No model is trained" in i.value for i in at.info)
    at.button(key=f"{'tune' if 'tune' in page else 'recommend'}_train").click()
    at = at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with Store.open(load_settings()) as store:
        assert [r["model"] for r in store.list_model_runs()] == ["als"]
    return at


def test_tune_sliders_move_the_list_and_the_metrics(demo_app_home: Path) -> None:
    at = _start(TUNE)
    before = metric_values(at)
    list_before = table_with(at, "item_name", "because")["item_name"].tolist()
    # a table (its "because" cells wrap), not a grid that cuts them off
    assert any("because" in t.value.columns for t in at.table)
    bars = next(f for f in plotly_figures(at) if f["layout"].get("barmode") == "stack")
    assert [t["name"] for t in bars["data"]] == [
        "cf",
        "content",
        "personality",
        "novelty",
        "diversity bonus",
    ]
    at.slider(key="tune_w_diversity").set_value(1.0)
    at.slider(key="tune_w_novelty").set_value(0.5)
    at = at.run()
    assert not at.exception
    after = metric_values(at)
    assert after["ILD (binary)"] != before["ILD (binary)"] and after["NDCG@10"] != before["NDCG@10"]
    assert table_with(at, "item_name", "because")["item_name"].tolist() != list_before
    titles = [f["layout"].get("title", {}).get("text") for f in plotly_figures(at)]
    assert "Trade-off" not in titles  # on request only: a slider move stays quick
    at.toggle(key="tune_show_tradeoff").set_value(True)
    at = at.run()
    tradeoff = next(f for f in plotly_figures(at) if f["layout"]["title"]["text"] == "Trade-off")
    assert len(tradeoff["data"]) == 4  # two curves and the current point on each
    at.button(key="tune_use").click()
    at = at.run()
    assert at.session_state["timbre"].weights.diversity == 1.0


def test_tune_rejects_all_zero_weights_and_serves_a_persona(demo_app_home: Path) -> None:
    at = _start(TUNE)
    for knob in ("cf", "content", "personality", "novelty"):
        at.slider(key=f"tune_w_{knob}").set_value(0.0)
    at = at.run()
    assert any("at least one of the weights" in w.value for w in at.warning)
    at.radio(key="tune_who").set_value("a persona")
    at.slider(key="tune_w_cf").set_value(0.5)
    at = at.run()
    assert not at.exception
    assert any("Cold start (no history" in i.value for i in at.info)
    assert len(table_with(at, "item_name", "because")) == 10


def test_recommend_modes_and_the_all_users_export(demo_app_home: Path) -> None:
    at = _start(RECOMMEND)
    table = table_with(at, "item_name", "diversity_bonus")
    assert len(table) == 10 and table["because"].str.len().gt(0).all()
    at.radio(key="recommend_mode").set_value("Next track")
    at = at.run()
    assert "Iron Maiden" in table_with(at, "item_name", "diversity_bonus")["item_name"].tolist()
    at.radio(key="recommend_mode").set_value("Group")
    at = at.run()
    assert not at.exception and len(table_with(at, "item_name", without="because")) == 10
    at.radio(key="recommend_mode").set_value("One listener")
    at.number_input(key="recommend_all_n").set_value(5)
    at.button(key="recommend_all_build").click()
    at = at.run()
    assert not at.exception
    assert any("9,460 rows ready" in c.value for c in at.caption)


def test_recommend_unknown_listener_is_a_message(demo_app_home: Path) -> None:
    at = _start(RECOMMEND)
    at.text_input(key="recommend_user").input("nobody-here").run()
    assert not at.exception
    assert any("unknown user: 'nobody-here'" in e.value for e in at.error)


def test_the_download_text_round_trips() -> None:
    frame = pd.DataFrame({"user_id": ["u1"], "item_name": ["=cmd()"], "score": [0.5]})
    text = csv_text(frame, comments=["made by a test"])
    back = pd.read_csv(io.StringIO(text), comment="#")
    assert back.loc[0, "item_name"] == "'=cmd()" and back.loc[0, "score"] == 0.5


def test_recommend_similar_items_with_cf_and_content_toggles(demo_app_home: Path) -> None:
    at = _start(RECOMMEND)
    at.radio(key="recommend_mode").set_value("Similar items")
    at = at.run()
    both = table_with(at, "item_name", "diversity_bonus")["item_name"].tolist()
    assert "Metallica" not in both and len(both) == 10
    at.checkbox(key="recommend_similar_cf").uncheck()
    at = at.run()
    content_only = table_with(at, "item_name", "diversity_bonus")["item_name"].tolist()
    assert content_only != both
    at.checkbox(key="recommend_similar_content").uncheck()
    at = at.run()
    assert not at.exception
    assert any("at least one of CF and content" in w.value for w in at.warning)


def test_recommend_keeps_tunes_normalisation_space_and_weights(demo_app_home: Path) -> None:
    """Regression (issue 12): Recommend read Tune's widget keys, which Streamlit deletes once
    the Tune page is not drawn, so the normalisation and space chosen there were lost."""
    at = _start(TUNE)
    at.radio(key="tune_normalization").set_value("zscore")
    at.radio(key="tune_space").set_value("content")
    at = at.run()
    at.slider(key="tune_w_diversity").set_value(0.4)
    at = at.run()
    at.button(key="tune_use").click()
    at = at.run()
    assert not at.exception
    at.switch_page(RECOMMEND)
    at = at.run()
    assert not at.exception and "tune_normalization" not in at.session_state
    for _ in range(2):  # and after a rerun of the Recommend page
        caption = next(c.value for c in at.caption if c.value.startswith("Weights ("))
        assert "from the Tune page" in caption and "diversity=0.4" in caption
        assert "Normalisation zscore" in caption and "diversity space content" in caption
        comments = next(
            b for b in at.get("download_button") if "Download this list" in str(b.proto.label)
        )
        assert comments is not None
        at = at.run()
        assert not at.exception
    state = at.session_state["timbre"]
    assert (state.normalization, state.space, state.weights.diversity) == ("zscore", "content", 0.4)
    # and back on Tune the radios show what was chosen
    at.switch_page(TUNE)
    at = at.run()
    assert at.radio(key="tune_normalization").value == "zscore"
    assert at.radio(key="tune_space").value == "content"


def test_save_this_list_records_it_with_its_run(demo_app_home: Path) -> None:
    at = _start(RECOMMEND)
    at.button(key="recommend_save").click()
    at = at.run()
    assert not at.exception
    # shown as text: the id is escaped (":user:" would be an emoji short code in Markdown)
    assert any(s.value.startswith("Saved 10 items for hetrec") for s in at.success)
    with Store.open(load_settings()) as store:
        saved = store.list_saved_recommendations()
        run_id = store.list_model_runs()[0]["id"]
    assert len(saved) == 10 and {r["run_id"] for r in saved} == {run_id}
    assert saved[0]["components"]["weights"] == at.session_state["timbre"].weights.as_dict()


def test_recommend_reacts_to_a_skip_and_serves_a_person_by_name(demo_app_home: Path) -> None:
    at = _start(RECOMMEND)
    at.text_input(key="recommend_user").set_value("2")
    at = at.run()
    before = table_with(at, "item_name", "because")["item_name"].tolist()
    at.button(key="recommend_skip_1").click()
    at = at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    after = table_with(at, "item_name", "because")["item_name"].tolist()
    assert before[0] not in after and len(after) == len(before)
    assert any(c.value.startswith("you skipped") for c in at.caption)
    with Store.open(load_settings()) as store:
        assert list(store.feedback_of(["hetrec:user:2"])["event"]) == ["skip"]
    at.text_input(key="recommend_user").set_value("nobody-at-all")
    at = at.run()
    assert not at.exception
    assert any("no account or questionnaire profile" in e.value for e in at.error)
