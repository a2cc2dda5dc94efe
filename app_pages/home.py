"""Home: what is loaded, what to do next."""

from __future__ import annotations

import streamlit as st

from timbre.app.navigation import PAGES, page_link
from timbre.app.state import shared, stats
from timbre.app.widgets import metric_row, rate_text

st.title("Timbre")
st.caption(
    "A music-recommendation workbench: listening data from Last.fm, Spotify or files, "
    "collaborative-filtering and content models, a Big Five personality prior, live hybrid "
    "tuning with offline metrics, similarity heatmaps and CSV export."
)
if shared().demo_loaded_now:
    st.success("This was a first start with an empty store, so the bundled demo data was loaded.")

summary = stats()
st.subheader("What is loaded")
datasets = summary["datasets"]
if not datasets:
    st.info("The store is empty. Load the demo or import your own data on the Data page.")
for name, ds in datasets.items():
    with st.container(border=True):
        st.text(f"{name} · source {ds['source']}")
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
for entry in PAGES[1:]:
    page_link(entry.path)
