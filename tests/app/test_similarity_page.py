"""AppTest: the Similarity page's heatmap, neighbours, training offer, map and friends vs taste."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
from streamlit.testing.v1 import AppTest

from tests.app.helpers import metric_values, open_page, plotly_figures, table_with
from timbre.config import load_settings
from timbre.interactions import InteractionData
from timbre.similarity import select, similarity_matrix
from timbre.spaces import build_space
from timbre.store import Store

PAGE = "app_pages/similarity.py"


def _page() -> AppTest:
    at = open_page(PAGE, 60)
    assert not at.exception, at.exception
    return at


def _heatmap(at: AppTest) -> dict[str, Any]:
    heatmaps = [f for f in plotly_figures(at) if f["data"][0]["type"] == "heatmap"]
    assert len(heatmaps) == 1
    return heatmaps[0]


def _matrix(z: Any) -> np.ndarray:
    """A heatmap's z from its spec: nested lists or a typed array with a shape."""
    if isinstance(z, dict) and "bdata" in z:
        flat = np.frombuffer(base64.b64decode(z["bdata"]), dtype=np.dtype(z["dtype"]))
        shape = [int(n) for n in str(z.get("shape", len(flat))).split(",")]
        return flat.reshape(shape)
    return np.asarray(z, dtype=float)


def test_default_heatmap_holds_the_most_popular_artists_in_cluster_order(
    demo_app_home: Path, demo_data: InteractionData
) -> None:
    at = _page()
    assert not at.error, [e.value for e in at.error]
    space = build_space(demo_data, "items", "interactions")
    expected = similarity_matrix(demo_data, space, select(demo_data, space, "top", 40), 6)
    spec = _heatmap(at)
    trace = spec["data"][0]
    assert list(trace["x"]) == list(expected.labels) == list(trace["y"])
    assert {"Britney Spears", "Lady Gaga", "Rihanna"} <= set(trace["y"])
    z = _matrix(trace["z"])
    assert z.shape == (40, 40)
    assert np.allclose(z, expected.values) and np.allclose(z, z.T)
    assert len(spec["layout"]["shapes"]) == 2 * (expected.n_clusters - 1)
    assert any(c.value.startswith("The 40 most popular items (listeners)") for c in at.caption)
    # neighbours of the first row over the whole catalogue
    neighbours = table_with(at, "in the heatmap")
    first = int(expected.indices[0])
    near, _ = space.nearest(first, 10, shrinkage=10.0)
    assert neighbours["id"].tolist() == [demo_data.items.id(int(i)) for i in near]
    assert at.get("download_button")[0].proto.label == "Download the matrix (CSV)"


def test_choosing_a_row_lists_its_nearest_neighbours(demo_app_home: Path) -> None:
    at = _page()
    at.selectbox(key="similarity_subset").set_value("neighbours").run()
    at.text_input(key="similarity_query_items").input("Metallica").run()
    at.slider(key="similarity_size").set_value(10).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    labels = list(_heatmap(at)["data"][0]["y"])
    assert len(labels) == 10 and "Metallica" in labels
    at.selectbox(key="similarity_row").set_value("Metallica").run()
    neighbours = table_with(at, "in the heatmap")
    assert "Metallica" not in neighbours["name"].tolist()
    assert {"Iron Maiden", "Megadeth", "Black Sabbath", "Slayer"} & set(neighbours["name"])
    assert neighbours["in the heatmap"].sum() >= 5


def test_factor_space_offers_to_train_a_model_first(demo_app_home: Path) -> None:
    at = _page()
    at.selectbox(key="similarity_space").set_value("als").run()
    assert not at.exception
    assert any("Train an ALS model first" in i.value for i in at.info)
    assert not [f for f in plotly_figures(at) if f["data"][0]["type"] == "heatmap"]
    at.button(key="similarity_train").click()
    at = at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with Store.open(load_settings()) as store:
        runs = store.list_model_runs()
    assert len(runs) == 1 and runs[0]["model"] == "als" and not runs[0]["active"]
    assert any(f"Run {runs[0]['id']}: ALS" in s.value for s in at.success)
    assert any(f"ALS factors, cosine (run {runs[0]['id']})" in c.value for c in at.caption)
    assert len(_heatmap(at)["data"][0]["y"]) == 40


def test_an_unknown_user_in_a_hand_picked_list_is_a_message(demo_app_home: Path) -> None:
    at = _page()
    at.radio(key="similarity_kind").set_value("users").run()
    at.selectbox(key="similarity_subset").set_value("list").run()
    at.text_area(key="similarity_list_users").input("hetrec:user:2\n3\nnobody").run()
    assert not at.exception
    assert any("unknown user: 'nobody'" in e.value for e in at.error)
    at.text_area(key="similarity_list_users").input("hetrec:user:2\n3\n4\n5\n6").run()
    assert not at.exception and not at.error
    assert list(_heatmap(at)["data"][0]["y"]) != []
    assert set(_heatmap(at)["data"][0]["y"]) == {f"hetrec:user:{u}" for u in (2, 3, 4, 5, 6)}


def test_tsne_map_coloured_by_cluster(demo_app_home: Path) -> None:
    at = _page()
    at.radio(key="similarity_projection").set_value("tsne").run()
    at.radio(key="similarity_colour").set_value("cluster").run()
    assert not at.exception and not at.error
    scatter = [f for f in plotly_figures(at) if f["data"][0]["type"] == "scatter"]
    assert len(scatter) == 1
    traces = scatter[0]["data"]
    assert all(t["name"].startswith("cluster ") for t in traces)
    assert sum(len(t["text"]) for t in traces) == 40


def test_friends_vs_taste_shows_the_numbers_and_both_distributions(demo_app_home: Path) -> None:
    at = _page()
    assert any("12,717 friend pairs" in c.value for c in at.caption)
    at.button(key="similarity_friends_run").click()
    at = at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    metrics = metric_values(at)
    assert metrics["Friend pairs"] == ["12,717"]
    assert float(metrics["Difference"][0]) > 0.1
    assert float(metrics["Friends: mean"][0]) > 3 * float(metrics["Random pairs: mean"][0])
    assert metrics["Permutation p"] == ["0.0005"]
    overlay = [
        f for f in plotly_figures(at) if len(f["data"]) == 2 and f["data"][0]["type"] == "bar"
    ]
    assert [t["name"] for t in overlay[0]["data"]] == [
        "friends (n = 12,717)",
        "random pairs (n = 12,717)",
    ]
