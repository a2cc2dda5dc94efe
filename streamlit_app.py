"""Timbre's home page: what is loaded, what to do next, links to every page."""

from __future__ import annotations

import streamlit as st

from timbre.app.state import PAGES, ensure_demo, get_store, init_state, page_exists, stats

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
        cols = st.columns(4)
        cols[0].metric("Users", f"{ds['users']:,}")
        cols[1].metric("Items", f"{ds['items']:,}")
        cols[2].metric("Interactions", f"{ds['interactions']:,}")
        rate = ds.get("catalog_match_rate")
        cols[3].metric("Catalogue match", "n/a" if rate is None else f"{rate:.1%}")
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
