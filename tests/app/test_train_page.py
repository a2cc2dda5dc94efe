"""AppTest: the Train page trains with progress, updates the registry, and checks the model."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.app.helpers import metric_values, table_with
from timbre.config import load_settings
from timbre.store import Store

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "3_Train.py")


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
    at = AppTest.from_file(PAGE, default_timeout=60).run()
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
    similar = table_with(at, "item", without="because you listened to")
    assert len(similar) == 10 and "Britney Spears" not in similar["item"].tolist()
    recs = table_with(at, "because you listened to")
    assert len(recs) == 10 and recs["because you listened to"].str.len().gt(0).all()


def test_every_family_trains_and_recommends_on_the_page(demo_app_home: Path) -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
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
    at = AppTest.from_file(PAGE, default_timeout=60).run()
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
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at = _train(at, "popularity")
    at.text_input(key="train_similar_query").input("Metalica").run()
    assert not at.exception
    assert any("did you mean 'Metallica'" in e.value for e in at.error)
