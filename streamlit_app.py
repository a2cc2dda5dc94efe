"""Timbre's home page: what is loaded, what to do next, links to every page."""

from __future__ import annotations

import streamlit as st

from timbre.app.state import PAGES, ensure_demo, get_store, init_state, page_exists, stats
from timbre.app.widgets import metric_row, rate_text

st.set_page_config(page_title="Timbre", page_icon=":material/graphic_eq:", layout="wide")
init_state()

st.title("Timbre")
st.caption(
    "A music-recommendation workbench: listening data from Last.fm, Spotify or files, "
    "collaborative-filtering and content models, a Big Five personality prior, live hybrid "
    "tuning with offline metrics, similarity heatmaps and CSV export."
)

store = get_store()
ensure_demo(store)
if st.session_state.get("demo_loaded_now"):
    st.success("This was a first start with an empty store, so the bundled demo data was loaded.")

summary = stats()
st.subheader("What is loaded")
datasets = summary["datasets"]
if not datasets:
    st.info("The store is empty. Load the demo or import your own data on the Data page.")
for name, ds in datasets.items():
    with st.container(border=True):
        st.markdown(f"**{name}** · source `{ds['source']}`")
        metric_row(
            [
                ("Users", f"{ds['users']:,}"),
                ("Items", f"{ds['items']:,}"),
                ("Interactions", f"{ds['interactions']:,}"),
                ("Catalogue match", rate_text(ds.get("catalog_match_rate"))),
            ]
        )
catalog = summary["catalog"]
if catalog["tracks"]:
    st.caption(
        f"Catalogue: {catalog['tracks']:,} Spotify tracks by {catalog['artists']:,} artists with "
        "audio features and genres, linked to imported artists and tracks by name."
    )

st.subheader("Next steps")
for path, label, purpose in PAGES:
    if page_exists(path):
        st.page_link(path, label=f"{label}: {purpose}")
