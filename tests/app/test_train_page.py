"""AppTest: the Train page trains with progress, updates the registry, and checks the model."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.app.helpers import metric_values, open_page, plotly_figures, table_with
from tests.app.helpers import values as plotly_values
from timbre.config import load_settings
from timbre.store import Store

PAGE = "pages/train.py"


def _runs() -> list[dict[str, object]]:
    with Store.open(load_settings()) as store:
        return store.list_model_runs()


def _train(at: AppTest, model: str, **params: object) -> AppTest:
    at.selectbox(key="train_model").set_value(model).run()
    for name, value in params.items():
        widget_key = f"train_param_{model}_{name}"
        matches = [w for w in at.number_input if w.key == widget_key]
        if matches:
            matches[0].set_value(value)
        else:
            at.selectbox(key=widget_key).set_value(value)
    at.button(key="train_submit").click()
    return at.run()


def test_training_a_small_model_updates_the_registry(demo_app_home: Path) -> None:
    at = open_page(PAGE, 60)
    assert not at.exception
    assert metric_values(at)["Interactions"] == ["92,834"]
    assert any("No model trained" in i.value for i in at.info)
    at = _train(at, "als", factors=8, iterations=3)
    assert not at.exception and not at.error, [e.value for e in at.error]
    runs = _runs()
    assert len(runs) == 1 and runs[0]["model"] == "als" and runs[0]["active"]
    assert runs[0]["params"]["factors"] == 8 and runs[0]["params"]["iterations"] == 3
    assert Path(str(runs[0]["artifact_path"])).exists()
    assert any(f"Run {runs[0]['id']}: ALS" in s.value for s in at.success)
    table = table_with(at, "parameters")
    assert table["model"].tolist() == ["als"] and table["active"].tolist() == [True]
    # the sanity check: similar to the most popular artist, recommendations with reasons
    similar = table_with(at, "name", without="because you listened to")
    assert any(c.value.startswith(f"Most similar in run {runs[0]['id']} ") for c in at.caption)
    seed = "Lady Gaga"  # the artist with the most listeners, the default query (shown as text)
    assert any(t.value == seed for t in at.text)
    assert len(similar) == 10 and seed not in similar["name"].tolist()
    assert {"Britney Spears", "Rihanna", "Katy Perry"} & set(similar["name"])
    recs = table_with(at, "because you listened to")
    assert len(recs) == 10 and recs["because you listened to"].str.len().gt(0).all()


def test_every_family_trains_and_recommends_on_the_page(demo_app_home: Path) -> None:
    at = open_page(PAGE, 120)
    small = {
        "als": {"factors": 8, "iterations": 2},
        "bpr": {"factors": 8, "iterations": 5},
        "item-knn": {"K": 20},
        "user-knn": {"k": 10},
        "ease": {"max_items": 500},
        "popularity": {},
        "content": {},
    }
    for model, params in small.items():
        at = _train(at, model, **params)
        assert not at.exception and not at.error, (model, [e.value for e in at.error])
        assert len(table_with(at, "because you listened to")) == 10, model
    assert sorted(r["model"] for r in _runs()) == sorted(small)


def test_switching_active_run_and_deleting_a_run(demo_app_home: Path) -> None:
    at = open_page(PAGE, 60)
    at = _train(at, "popularity")
    at = _train(at, "item-knn", K=10)
    first, second = sorted(r["id"] for r in _runs())
    at.selectbox(key="train_run_select").set_value(first).run()
    at.button(key="train_activate").click()
    at = at.run()
    assert {r["id"]: r["active"] for r in _runs()} == {first: True, second: False}
    at.selectbox(key="train_run_select").set_value(second).run()
    assert at.button(key="train_delete").disabled  # until the deletion is confirmed
    at.checkbox(key="train_delete_confirm").check().run()
    at.button(key="train_delete").click()
    at = at.run()
    assert not at.exception
    assert [r["id"] for r in _runs()] == [first]
    assert any(f"Run {second} and its artifact were deleted" in s.value for s in at.success)


def test_unknown_artist_in_the_sanity_check_is_a_message_not_a_traceback(
    demo_app_home: Path,
) -> None:
    at = open_page(PAGE, 60)
    at = _train(at, "popularity")
    at.text_input(key="train_similar_query").input("Metalica").run()
    assert not at.exception
    assert any("did you mean 'Metallica'" in e.value for e in at.error)


def test_evaluate_section_shows_table_charts_and_records_runs(demo_app_home: Path) -> None:
    at = open_page(PAGE, 120)
    at.multiselect(key="train_eval_models").set_value(["popularity", "item-knn"])
    at.button(key="train_eval_submit").click()
    at = at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = table_with(at, "ndcg", "coverage")
    assert table["model"].tolist() == ["popularity", "item-knn"]
    assert all(" ± " in cell for cell in table["ndcg"])
    means = [float(cell.split(" ± ")[0]) for cell in table["ndcg"]]
    assert means[1] > 2 * means[0]  # item-kNN beats popularity by far on HetRec
    figures = plotly_figures(at)
    bars = next(f for f in figures if f["data"][0]["type"] == "bar")
    assert list(bars["data"][0]["x"]) == ["popularity", "item-knn"]
    scatter = next(f for f in figures if f["data"][0]["type"] == "scattergl")
    assert "better for" in scatter["layout"]["title"]["text"]
    assert any("Wilcoxon p" in c.value for c in at.caption)
    runs = _runs()
    assert sorted(r["model"] for r in runs) == ["item-knn", "popularity"]
    assert all(r["artifact_path"] is None and "ndcg" in r["metrics"] for r in runs)
    # evaluation runs are listed, marked as such with their metrics, but cannot be picked for
    # the sanity check
    listed = table_with(at, "kind", "ndcg@10")
    assert set(listed["kind"]) == {f"evaluation {min(r['id'] for r in runs)}"}
    assert listed["ndcg@10"].notna().all()
    assert any("No model trained" in i.value for i in at.info)
    assert [b.proto.label for b in at.get("download_button")] == [
        "Download the split, per-user values and lists (zip of CSV files)"
    ]


def test_sweep_shows_results_plot_and_records_the_best(demo_app_home: Path) -> None:
    at = open_page(PAGE, 120)
    at.selectbox(key="train_sweep_model").set_value("item-knn")
    at.text_area(key="train_sweep_grid").input("K=5,100")
    at.button(key="train_sweep_submit").click()
    at = at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(s.value.startswith("Chosen on the validation split: K=") for s in at.success)
    both = next(d.value for d in at.dataframe if "split" in d.value.columns)
    assert list(both["split"]) == ["validation (chose it)", "test (measured once)"]
    plot = next(f for f in plotly_figures(at) if f["layout"]["title"]["text"] == "ndcg by K")
    assert sorted(plotly_values(plot["data"][0]["x"])) == [5, 100]
    assert len(_runs()) == 1


def test_a_bad_sweep_grid_is_a_message(demo_app_home: Path) -> None:
    at = open_page(PAGE, 60)
    at.selectbox(key="train_sweep_model").set_value("als")
    at.text_area(key="train_sweep_grid").input("factors=8,lots")
    at.button(key="train_sweep_submit").click()
    at = at.run()
    assert not at.exception
    assert any("'factors' must be a whole number" in e.value for e in at.error)
