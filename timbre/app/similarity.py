"""The Similarity page's helpers: cached spaces and projections, the training offer, friends."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd
import streamlit as st

from timbre import plots
from timbre.app.access import require_write, write_gate
from timbre.app.models import trained_model
from timbre.app.state import dataset_version, get_settings, get_store, guard, stop, store_url
from timbre.app.widgets import escape_markdown, metric_row, progress_bar
from timbre.interactions import InteractionData
from timbre.models import MODELS
from timbre.services.runs import factor_run, train_run
from timbre.similarity import (
    SPACES,
    FriendsVsTaste,
    Projection,
    SimilarityMatrix,
    friend_index_pairs,
    friends_vs_taste,
    project,
)
from timbre.spaces import FACTOR_SPACES, SPACE_TITLES, Kind, SpaceName, VectorSpace
from timbre.spaces import space as vector_space
from timbre.store import Store

#: Shrinkage of the neighbour lists (the factor models' ``similar_shrinkage`` default).
NEIGHBOUR_SHRINKAGE = 10.0


def factor_model(store: Store, data: InteractionData, space: str, key: str) -> Any:
    """The newest model of a factor space trained on ``data`` and its run id, else offer to
    train one with the default parameters (then rerun) and stop the page.

    Returns ``(None, None)`` for spaces that need no model.
    """
    if space not in FACTOR_SPACES:
        return None, None
    run = factor_run(store, data, space)
    if run is not None:
        return trained_model(run, data), int(run["id"])
    title = MODELS[space].title
    article = "an" if space == "als" else "a"
    st.info(
        f"The {space.upper()} space uses the factors of a trained {title} model, and none is "
        f"trained on the current data of {escape_markdown(data.dataset)}. Train {article} "
        f"{space.upper()} model "
        "first: here with the default parameters (ALS takes about a second on the demo), or on the "
        "Train page with your own."
    )
    allowed = write_gate("train a model")
    if st.button(
        f"Train {space.upper()} with default parameters",
        key=key,
        type="primary",
        disabled=not allowed,
    ):
        progress = progress_bar(f"Training {title}...")
        with guard():
            require_write("train a model")
            result = train_run(store, get_settings(), data, space, None, progress, activate=False)
        st.session_state["similarity_flash"] = (
            f"Run {result.run_id}: {title} trained in {result.fit_seconds:.2f} s "
            "(the active model of the data set is unchanged)."
        )
        st.rerun()
    stop()


@st.cache_resource(show_spinner=False, max_entries=8)
def _space(
    fingerprint: str, kind: Kind, name: SpaceName, run_id: int | None, _data: Any, _model: Any
) -> VectorSpace:
    return vector_space(_data, kind, name, _model, run_id)


def similarity_space(
    store: Store,
    data: InteractionData,
    kind: Kind,
    name: SpaceName,
    key: str = "similarity_train",
) -> VectorSpace:
    """A space, built once per data fingerprint, kind, space and model run."""
    model, run_id = factor_model(store, data, name, key)
    with guard(), st.spinner(f"Building the {name} space..."):
        return _space(data.fingerprint, kind, name, run_id, data, model)
    stop()


@st.cache_data(show_spinner=False, max_entries=16)
def _projection(
    fingerprint: str,
    kind: str,
    space: str,
    run_id: int | None,
    indices: bytes,
    method: Projection,
    _space_value: Any,
    _similarity: Any,
) -> np.ndarray:
    rows = np.frombuffer(indices, dtype=np.int64)
    return project(_space_value, rows, method, random_state=0, similarity=_similarity)


def projection(
    data: InteractionData, space: VectorSpace, matrix: SimilarityMatrix, method: Projection
) -> np.ndarray:
    """2-D coordinates of the matrix's rows (cached: t-SNE takes a moment)."""
    with st.spinner(f"Projecting with {method.upper()}..."):
        return _projection(
            data.fingerprint,
            space.kind,
            space.name,
            space.run_id,
            np.ascontiguousarray(matrix.indices, dtype=np.int64).tobytes(),
            method,
            space,
            matrix.values,
        )


def neighbours_frame(
    data: InteractionData,
    space: VectorSpace,
    index: int,
    shown: set[int],
    n: int = 10,
    shrinkage: float = NEIGHBOUR_SHRINKAGE,
) -> pd.DataFrame:
    """The nearest users or items of one row over the whole data set, for display."""
    indices, scores = space.nearest(index, n, shrinkage)
    users = space.kind == "users"
    vocab = data.users if users else data.items
    return pd.DataFrame(
        {
            "rank": range(1, len(indices) + 1),
            "name": [vocab.id(int(i)) if users else data.item_name(int(i)) for i in indices],
            "similarity": [round(float(s), 4) for s in scores],
            "in the heatmap": [int(i) in shown for i in indices],
            "id": [vocab.id(int(i)) for i in indices],
        }
    )


@st.cache_data(show_spinner=False, max_entries=8)
def _friends(url: str, version: str, dataset: str) -> pd.DataFrame:
    return get_store().friend_pairs(dataset)


def friend_pairs(data: InteractionData) -> tuple[np.ndarray, int]:
    """The data set's undirected friend pairs as user indices (cached per its revision)."""
    with guard():
        frame = _friends(store_url(), dataset_version(data.dataset), data.dataset)
        return friend_index_pairs(data, frame)
    stop()


@st.cache_resource(show_spinner=False, max_entries=8)
def _friends_result(
    fingerprint: str,
    space: str,
    run_id: int | None,
    permutations: int,
    _space_value: Any,
    _pairs: Any,
) -> FriendsVsTaste:
    return friends_vs_taste(_space_value, _pairs, permutations=permutations, seed=0)


def render_friends(store: Store, data: InteractionData) -> None:
    """The friends-vs-taste section: friend pairs against random pairs, with a p-value."""
    pairs, _ = friend_pairs(data)
    st.subheader("Friends vs taste")
    if len(pairs) == 0:
        st.caption(
            f"{escape_markdown(data.dataset)} has no friend graph (HetRec's user_friends), so "
            "nothing to compare."
        )
        return
    st.caption(
        f"{escape_markdown(data.dataset)} has {len(pairs):,} friend pairs. Do friends listen "
        "alike? Their "
        "similarity against as many random pairs of users who are not friends (seeded), "
        "with a two-sided permutation test of the difference of means (pair labels shuffled "
        "2,000 times)."
    )
    left, right = st.columns([2, 1])
    space_name = cast(
        SpaceName,
        left.selectbox(
            "Space",
            SPACES,
            format_func=lambda s: SPACE_TITLES[s],
            key="similarity_friends_space",
        ),
    )
    run = right.button("Compare friends with random pairs", key="similarity_friends_run")
    wanted = (data.fingerprint, space_name)
    if run:
        st.session_state["similarity_friends_shown"] = wanted
    elif st.session_state.get("similarity_friends_shown") != wanted:
        return
    space = similarity_space(store, data, "users", space_name, key="similarity_friends_train")
    with guard(), st.spinner("Comparing friend pairs with random pairs..."):
        result = _friends_result(data.fingerprint, space_name, space.run_id, 2000, space, pairs)
    metric_row(
        [
            ("Friend pairs", f"{result.pairs:,}"),
            ("Friends: mean", f"{result.friend_mean:.4f}"),
            ("Random pairs: mean", f"{result.random_mean:.4f}"),
            ("Difference", f"{result.difference:+.4f}"),
            ("Permutation p", f"{result.p_value:.2g}"),
        ]
    )
    st.caption(result.summary() + ".")
    if result.skipped:
        st.caption(f"{result.skipped:,} friend pairs left out: a user has no vector in this space.")
    st.plotly_chart(
        plots.similarity_histogram(
            {"friends": result.friend_similarity, "random pairs": result.random_similarity},
            title=f"Friend pairs vs random pairs ({SPACE_TITLES[space_name]})",
            measure=space.measure,
        ),
        key="similarity_friends_chart",
    )
