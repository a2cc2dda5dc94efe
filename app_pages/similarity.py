"""Similarity: user-user and item-item heatmaps in cluster order, neighbours, a 2-D map,
and friends vs taste."""

from __future__ import annotations

import re
from typing import cast

import streamlit as st

from timbre import plots
from timbre.app.models import choose_dataset, interaction_data
from timbre.app.similarity import (
    NEIGHBOUR_SHRINKAGE,
    neighbours_frame,
    projection,
    render_friends,
    similarity_space,
)
from timbre.app.state import get_store, guard
from timbre.app.widgets import escape_markdown, plotly_text, plotly_texts
from timbre.errors import TimbreError
from timbre.export import csv_text
from timbre.similarity import (
    COLOURINGS,
    LINKAGES,
    PROJECTIONS,
    SPACES,
    SUBSETS,
    Colouring,
    LinkageMethod,
    Projection,
    Subset,
    colour_labels,
    label_counts,
    select,
    similarity_matrix,
)
from timbre.spaces import KINDS, SPACE_TITLES, Kind, SpaceName, activity

SUBSET_TITLES = {
    "top": "most active users / most popular items",
    "neighbours": "one user's or item's nearest neighbours",
    "genre": "a genre",
    "tag": "a tag",
    "list": "a hand-picked list",
}

st.title("Similarity")
st.caption(
    "Who listens alike, and which artists go together: a similarity matrix of a subset of users "
    "or items in a chosen space, ordered by hierarchical clustering so that blocks of taste "
    "show up."
)

store = get_store()
dataset = choose_dataset("similarity")
data = interaction_data(dataset)
flash = st.session_state.pop("similarity_flash", None)
if flash:
    st.success(escape_markdown(flash))

# ----- what to compare ----------------------------------------------------------------------
first, second, third, fourth = st.columns([1, 2, 2, 2])
kind = cast(
    Kind,
    first.radio(
        "Compare",
        KINDS,
        index=KINDS.index("items"),
        format_func=str.capitalize,
        key="similarity_kind",
    ),
)
space_name = cast(
    SpaceName,
    second.selectbox(
        "Space", SPACES, format_func=lambda s: SPACE_TITLES[s], key="similarity_space"
    ),
)
subset = cast(
    Subset,
    third.selectbox(
        "Subset", SUBSETS, format_func=lambda s: SUBSET_TITLES[s], key="similarity_subset"
    ),
)
size = fourth.slider("Size", 10, 300, 40, step=5, key="similarity_size")

most = activity(data, kind).argsort()[::-1][:12]
names = [data.users.id(int(i)) if kind == "users" else data.item_name(int(i)) for i in most]
query: str | None = None
picks: list[str] = []
if subset == "neighbours":
    query = st.text_input(
        "User id" if kind == "users" else "Artist or track",
        value=names[0],
        key=f"similarity_query_{kind}",
    )
elif subset in ("genre", "tag"):
    counts = label_counts(data.item_meta, subset)
    if counts.empty:
        st.warning(escape_markdown(f"No item of {dataset} has a {subset}."))
        st.stop()
    query = st.selectbox(
        subset.capitalize(),
        list(counts.index[:500]),
        format_func=lambda t: f"{t} ({counts[t]:,} items)",
        key=f"similarity_{subset}",
    )
elif subset == "list":
    text = st.text_area(
        "One id or name per line",
        value="\n".join(names),
        key=f"similarity_list_{kind}",
    )
    picks = [line.strip() for line in text.splitlines() if line.strip()]

with st.expander("Clustering", expanded=False):
    left, right = st.columns(2)
    n_clusters = int(
        left.number_input(
            "Clusters", 1, 30, 6, key="similarity_clusters", help="Cut the tree here."
        )
    )
    method = cast(
        LinkageMethod,
        right.selectbox(
            "Linkage",
            LINKAGES,
            key="similarity_linkage",
            help="Average linkage on 1 - similarity; complete gives rounder clusters.",
        ),
    )

space = similarity_space(store, data, kind, space_name)
with guard():
    selection = select(data, space, subset, size, query=query, picks=picks)
matrix = similarity_matrix(data, space, selection, n_clusters, method)

# ----- heatmap ------------------------------------------------------------------------------
run_text = f" (run {matrix.run_id})" if matrix.run_id is not None else ""
st.caption(  # the description names the query, genre or tag
    escape_markdown(
        f"{matrix.description.capitalize()}, {SPACE_TITLES[space_name]}{run_text}; "
        f"{matrix.n_clusters} clusters ({method} linkage), white lines between them."
        + (
            f" Left out {matrix.dropped:,} without a vector in this space."
            if matrix.dropped
            else ""
        )
    )
)
# names come from imports: Plotly must show them as written (a click gives back the shown one)
shown_labels = dict(zip(plotly_texts(matrix.labels), matrix.labels, strict=True))
event = st.plotly_chart(
    plots.similarity_heatmap(
        matrix.values,
        list(shown_labels),
        matrix.clusters,
        title=f"{kind.capitalize()} x {kind} ({space_name})",
        measure=matrix.measure,
        clickable=True,
    ),
    key="similarity_heatmap",
    on_select="rerun",
    selection_mode="points",
)
# a click on a cell selects its row for the neighbour list below
points = (event.get("selection") or {}).get("points") or [] if event else []
clicked = next((shown_labels[p["y"]] for p in points if p.get("y") in shown_labels), None)
if clicked is not None and clicked != st.session_state.get("similarity_clicked"):
    st.session_state["similarity_clicked"] = clicked
    st.session_state["similarity_row"] = clicked
if st.session_state.get("similarity_row") not in matrix.labels:
    st.session_state.pop("similarity_row", None)

left, right = st.columns([3, 2])
with left:
    row = st.selectbox(
        "Nearest neighbours of (or click a cell)", matrix.labels, key="similarity_row"
    )
    position = matrix.labels.index(row)
    st.dataframe(
        neighbours_frame(
            data,
            space,
            int(matrix.indices[position]),
            {int(i) for i in matrix.indices},
            n=10,
            shrinkage=NEIGHBOUR_SHRINKAGE,
        ),
        hide_index=True,
        key="similarity_neighbours",
    )
    support_name = "distinct items" if kind == "users" else "listeners"
    st.caption(
        f"Over all {len(space):,} {kind}; similarity shrunk by support, x n / (n + "
        f"{NEIGHBOUR_SHRINKAGE:g}) with n = {support_name}, so that barely observed ones do "
        "not crowd the list."
    )
plain_name = re.sub(r"[^\w.-]+", "_", dataset)  # an imported name, made a plain file name
with right:
    st.plotly_chart(
        plots.similarity_histogram(
            {"pairs shown": matrix.off_diagonal()},
            title="Similarity of the pairs shown",
            measure=matrix.measure,
        ),
        key="similarity_distribution",
    )
    st.download_button(
        "Download the matrix (CSV)",
        csv_text(matrix.frame()),
        file_name=f"similarity-{plain_name}-{kind}-{space_name}-{len(matrix)}.csv",
        mime="text/csv",
        key="similarity_download",
        icon=":material/download:",
    )

# ----- embedding map ------------------------------------------------------------------------
st.subheader("Embedding map")
left, right = st.columns(2)
projection_method = cast(
    Projection,
    left.radio(
        "Projection",
        PROJECTIONS,
        format_func=lambda m: {"pca": "PCA", "tsne": "t-SNE"}[m],
        horizontal=True,
        key="similarity_projection",
    ),
)
colouring = cast(
    Colouring,
    right.radio("Colour by", COLOURINGS, horizontal=True, key="similarity_colour", index=1),
)
try:
    coords = projection(data, space, matrix, projection_method)
except TimbreError as exc:
    st.warning(escape_markdown(exc))
else:
    colours = colour_labels(data, kind, matrix.indices, colouring, matrix.clusters)
    axes = ("PC 1", "PC 2") if projection_method == "pca" else ("t-SNE 1", "t-SNE 2")
    st.plotly_chart(
        plots.embedding_map(
            coords,
            plotly_texts(matrix.labels),
            plotly_texts(colours),
            title=plotly_text(f"{matrix.description.capitalize()} ({projection_method.upper()})"),
            axis_names=axes,
        ),
        key="similarity_map",
    )

# ----- friends vs taste ---------------------------------------------------------------------
render_friends(store, data)
