"""Data: load the demo, import exports and files, fetch Last.fm and Spotify, see statistics."""

from __future__ import annotations

from typing import Any, cast

import pandas as pd
import streamlit as st

from timbre import plots
from timbre.app.access import require_write, write_gate
from timbre.app.connectors import lastfm_section, spotify_section
from timbre.app.imports import (
    clear_upload_box,
    import_uploads,
    parse_column_map,
    show_upload_files,
    upload_box_key,
)
from timbre.app.state import bump_data_version, dataset_charts, get_store, guard, stats
from timbre.app.widgets import (
    escape_markdown,
    metric_row,
    plotly_texts,
    progress_bar,
    rate_text,
)
from timbre.sources.demo import load_demo
from timbre.sources.files import FORMATS, Format

st.title("Data")
store = get_store()


def show_files(files: list[dict[str, Any]], key: str) -> None:
    """What each file of an upload gave (Spotify exports): a table, names shown as text."""
    st.dataframe(
        pd.DataFrame(
            {
                "file": [f["name"] for f in files],
                "history": [f["shape"] or "-" for f in files],
                "rows": [f["rows"] for f in files],
                "plays imported": [f["plays"] for f in files],
                "duplicates": [f["duplicates"] for f in files],
                "other rows dropped": [f["dropped"] for f in files],
                "note": [f["skipped"] or "" for f in files],
            }
        ),
        hide_index=True,
        key=key,
    )


def show_report(report_dict: dict[str, Any], key: str = "data_report") -> None:
    """Render one import report: counts, drops per reason, catalogue match, files."""
    metric_row(
        [
            ("Rows read", f"{report_dict['rows_read']:,}"),
            ("Accepted", f"{report_dict['accepted']:,}"),
            ("Dropped", f"{report_dict['dropped_total']:,}"),
            ("Catalogue match", rate_text(report_dict.get("catalog_match_rate"))),
        ]
    )
    dropped = report_dict.get("dropped") or {}
    if dropped:
        st.text("\n".join(f"dropped {n:,}: {reason}" for reason, n in dropped.items()))
    for warning in report_dict.get("warnings") or []:
        st.warning(escape_markdown(warning))  # names files: shown as written
    files = report_dict.get("files")
    if files:
        show_files(files, f"{key}_files")  # names every skipped file with the reason
        return
    for name in report_dict.get("skipped_files") or []:
        st.text(f"Skipped file: {name}")


def render_statistics(summary: dict[str, Any]) -> None:
    """Totals, the per-data-set table and the four charts."""
    datasets = summary["datasets"]
    metric_row(
        [
            ("Users", f"{summary['users']:,}"),
            ("Artists", f"{summary['items'].get('artist', 0):,}"),
            ("Tracks", f"{summary['items'].get('track', 0):,}"),
            ("Interactions", f"{summary['interactions']:,}"),
        ]
    )

    st.dataframe(
        pd.DataFrame([{"data set": name, **ds} for name, ds in datasets.items()]),
        hide_index=True,
        key="data_datasets_table",
        column_config={
            "catalog_match_rate": st.column_config.NumberColumn("item match", format="percent"),
            "interactions_match_rate": st.column_config.NumberColumn(
                "play match", format="percent"
            ),
        },
    )

    names = list(datasets)
    chosen = st.selectbox("Data set", names, key="data_stats_dataset")
    charts = dataset_charts(chosen)
    left, right = st.columns(2)
    # names, genres and data set names come from imports: Plotly must show them as written
    top = charts.top.assign(name=plotly_texts(charts.top["name"]))
    left.plotly_chart(plots.plays_per_user_histogram(charts.plays), key="data_plays_chart")
    right.plotly_chart(plots.top_items_bar(top, "Most played"), key="data_top_chart")
    left2, right2 = st.columns(2)
    genres = charts.genres
    if len(genres):
        genres = genres.assign(genre=plotly_texts(genres["genre"]))
        left2.plotly_chart(plots.genre_mix_bar(genres), key="data_genre_chart")
    else:
        left2.info("No catalogue genres matched this data set's items.")
    shown = dict(zip(plotly_texts(datasets), datasets.values(), strict=True))
    right2.plotly_chart(plots.match_rate_bar(shown), key="data_match_chart")


# --- Statistics ------------------------------------------------------------------------------
st.subheader("Statistics")
summary = stats()
datasets = summary["datasets"]
if not datasets:
    st.info("No data yet: import a file below or load the bundled demo.")
else:
    render_statistics(summary)

# --- Import ----------------------------------------------------------------------------------
st.subheader("Import your data")
st.caption(
    "Spotify account exports (`StreamingHistory_music_*.json`, extended history "
    "`Streaming_History_Audio_*.json` / `endsong_*.json`, or the downloaded `.zip`), Last.fm "
    "scrobble CSV exports (three common layouts), a generic interactions CSV, the HetRec "
    "folder's files, or the Spotify catalogue CSV. Everything is imported in one transaction: "
    "all or nothing."
)
can_import = write_gate("import")
with st.form("data_import_form"):
    uploads = st.file_uploader(
        "Files",
        accept_multiple_files=True,
        key=upload_box_key("data_uploads"),
        type=["csv", "tsv", "txt", "json", "zip", "gz", "dat"],
        disabled=not can_import,
    )
    c1, c2, c3 = st.columns(3)
    fmt = c1.selectbox("Format", ["auto-detect", *FORMATS], key="data_format")
    user = c2.text_input(
        "User name (personal exports)",
        key="data_user",
        help="Whose listening this is; guessed from the file name if empty.",
    )
    dataset = c3.text_input(
        "Data set name", key="data_dataset", help="Optional; each format has a sensible default."
    )
    c4, c5 = st.columns(2)
    min_play = c4.number_input(
        "Spotify: drop plays shorter than (s)",
        min_value=0.0,
        value=30.0,
        step=5.0,
        key="data_min_play",
    )
    column_map = c5.text_input(
        "Interactions CSV column mapping",
        key="data_columns",
        placeholder="user=listener, item=artist, weight=plays",
    )
    submitted = st.form_submit_button("Import", key="data_import_submit", disabled=not can_import)
if submitted:
    progress = progress_bar("Importing...")
    with guard():
        result = import_uploads(
            store,
            uploads or [],
            None if fmt == "auto-detect" else cast(Format, fmt),
            dataset=dataset.strip() or None,
            user=user.strip() or None,
            min_play_ms=int(min_play * 1000),
            columns=parse_column_map(column_map),
            progress=progress,
        )
    bump_data_version()
    clear_upload_box("data_uploads")  # the next import starts from an empty box
    st.session_state["data_last_report"] = [r.as_dict() for r in result.reports]
    st.session_state["data_last_files"] = result.files
    names = ", ".join(sorted({repr(r.dataset) for r in result.reports}))
    st.session_state["data_flash"] = f"Imported into data set {names}."
    st.rerun()  # so the statistics above include what was just imported

if st.session_state.get("data_flash"):
    st.success(escape_markdown(st.session_state.pop("data_flash")))

if st.session_state.get("data_last_files"):
    show_upload_files(st.session_state["data_last_files"], "data_upload_files")
for number, report_dict in enumerate(st.session_state.get("data_last_report") or []):
    with st.container(border=True):
        st.text(f"Import report · {report_dict['source']} -> {report_dict['dataset']}")
        show_report(report_dict, f"data_report_{number}")


# --- Live connectors -------------------------------------------------------------------------
lastfm_section(store)
spotify_section(store)

# --- Demo ------------------------------------------------------------------------------------
with st.expander("Bundled demo data", expanded=False):
    st.write(
        "HetRec 2011 Last.fm 2K (1,892 users, 17,632 artists, 92,834 play counts, tags, friends) "
        "and a 28k-track Spotify catalogue with audio features and genres. Loading is idempotent."
    )
    can_reload = write_gate("reload the demo")
    if st.button("Load or refresh the demo", key="data_load_demo", disabled=not can_reload):
        with guard():
            require_write("reload the demo")
        with st.status("Loading the demo...", expanded=True) as status:
            progress = progress_bar("Loading...")
            with guard():
                reports = load_demo(store, progress=progress)
            status.update(label="Demo loaded", state="complete")
        bump_data_version()
        st.session_state["data_last_report"] = [r.as_dict() for r in reports]
        st.session_state["data_last_files"] = []
        st.session_state["data_flash"] = "Demo loaded (nothing is duplicated on a reload)."
        st.rerun()
