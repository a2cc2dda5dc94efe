"""Recommend: one listener's list with reasons, next-track and group modes, and exports."""

from __future__ import annotations

from dataclasses import replace
from typing import cast

import pandas as pd
import streamlit as st

from timbre import hybrid
from timbre.app.access import can_write, reason, require_write
from timbre.app.hybrid import (
    active_schedule,
    list_filters,
    prior_note,
    require_engine,
    settings_caption,
)
from timbre.app.state import get_store, guard, shared
from timbre.app.widgets import escape_markdown, progress_bar
from timbre.app.you import flash, reaction_buttons
from timbre.export import csv_text, group_line, parquet_bytes, provenance, seeds_line
from timbre.hybrid.engine import Aggregate
from timbre.services import recommendations as lists
from timbre.services.people import listener_profile
from timbre.services.recommendations import rank_listener, save_list

st.title("Recommend")
flash()
data, run, engine = require_engine("recommend")
state = shared()
weights = state.weights
schedule = active_schedule()
st.caption(escape_markdown(settings_caption(run)))
notes = [engine.content_note] if engine.content_note else []
notes += [prior_note(), "cold-start schedule: " + ("on" if schedule else "off")]
SHOWN = [c for c in hybrid.EXPORT_COLUMNS if c not in ("user_id", "item_id")]

mode = st.radio(
    "Mode",
    ("One listener", "Next track", "Group", "Similar items"),
    horizontal=True,
    key="recommend_mode",
)
n = st.slider("How many", 5, 50, 10, key="recommend_n")
shared_filters = list_filters("recommend")
with st.expander("Filters"):
    include = st.text_input("Only items tagged (comma-separated)", key="recommend_include")
    exclude = st.text_input("Never items tagged", key="recommend_exclude")
    heard = st.checkbox("Leave out what was already heard", value=True, key="recommend_heard")
filters = replace(
    shared_filters,
    exclude_seen=heard,
    include_tags=tuple(t.strip() for t in include.split(",") if t.strip()),
    exclude_tags=tuple(t.strip() for t in exclude.split(",") if t.strip()),
)


#: What a mode's list was made from, for the export's provenance: lines and the profile used.
Made = tuple[pd.DataFrame, list[str], dict[str, float] | str | None]


def one_listener() -> Made:
    user_id = st.text_input(
        "Listener id (a data set's listener, or a person: me, a Last.fm name)",
        value=str(data.users.id(0)),
        key="recommend_user",
    )
    with guard():
        made = rank_listener(get_store(), engine, user_id, weights, n, filters, (), schedule)
    if made.mapped is not None:
        st.text(made.mapped.text())
    if made.ranking.rule != hybrid.CHOSEN:
        rule = made.ranking.rule
        st.info(escape_markdown(f"Cold start ({rule}): the schedule's weights are used."))
    for note in made.ranking.notes:
        st.caption(escape_markdown(note))
    lines = [f"listener: {made.person}", *made.ranking.notes]
    if made.mapped is not None:
        lines.append(made.mapped.text())
    return made.frame, lines, listener_profile(get_store(), engine, made.person)


def next_track() -> Made:
    seeds_text = st.text_area(
        "Seed sequence (artists or tracks, one per line, oldest first)",
        "Metallica\nMegadeth",
        key="recommend_seeds",
    )
    with guard():
        sequence = seeds_text.splitlines()
        frame, seeds = lists.next_track(engine, sequence, weights, n, filters, "next-track")
    return frame, [seeds_line(data, seeds)], ""


def similar_items() -> Made:
    query = st.text_input("Artist or track", value="Metallica", key="recommend_similar_item")
    use_cf, use_content = st.columns(2)
    cf_on = use_cf.checkbox("CF similarity", value=True, key="recommend_similar_cf")
    content_on = use_content.checkbox(
        "Content similarity", value=True, key="recommend_similar_content"
    )
    if not (cf_on or content_on):
        st.warning("Switch on at least one of CF and content similarity.")
        st.stop()
    with guard():
        frame, item = lists.similar_items(engine, query, n, cf_on, content_on, filters)
    used = ", ".join(p for p, on in (("cf", cf_on), ("content", content_on)) if on)
    return frame, [f"similar items to {data.items.id(item)} ({used} similarity)"], ""


def group() -> Made:
    members_text = st.text_input(
        "Listener ids (comma-separated)",
        value=", ".join(str(data.users.id(i)) for i in range(3)),
        key="recommend_group",
    )
    aggregate = cast(
        Aggregate,
        st.radio(
            "Aggregation", ("average", "least-misery"), horizontal=True, key="recommend_aggregate"
        ),
    )
    with guard():
        found = [data.find_user(u.strip()) for u in members_text.split(",") if u.strip()]
        members = list(dict.fromkeys(found))  # each member once, in the order first given
        if len(members) < len(found):
            repeated = sorted({data.users.id(m) for m in found if found.count(m) > 1})
            st.caption(
                escape_markdown(
                    f"Each member counts once: {', '.join(map(str, repeated))} was given more "
                    f"than once, so the group has {len(members)} members."
                )
            )
        ranking, per_member = engine.group(members, weights, n, aggregate, filters)
    frame = hybrid.ranking_frame(data, ranking, "group")
    per_member.insert(0, "item_name", frame["item_name"])
    st.caption("Each member's normalised score for the group's items:")
    st.dataframe(per_member, hide_index=True, key="recommend_members")
    return frame, [group_line([data.users.id(u) for u in members], aggregate)], ""


MODES = {
    "One listener": one_listener,
    "Next track": next_track,
    "Group": group,
    "Similar items": similar_items,
}
frame, made_from, profile = MODES[mode]()
revision = get_store().dataset_revision(data.dataset)


def comments_for(lines: list[str], used: dict[str, float] | str | None = "") -> list[str]:
    """The provenance of a download: the page's settings, then what this list was made of."""
    return provenance(
        data.dataset, weights.as_dict(), state.normalization, state.space, run, lines,
        revision=revision, fingerprint=data.fingerprint, filters=filters, profile=used,
    )  # fmt: skip


comments = comments_for([*made_from, *notes], profile)
st.dataframe(frame[SHOWN], hide_index=True, key="recommend_table")
left, right = st.columns(2)
left.download_button(
    "Download this list (CSV)",
    csv_text(frame, comments=comments),
    file_name="timbre-recommendations.csv",
    mime="text/csv",
    key="recommend_download",
)
if mode == "One listener" and right.button(
    "Save this list",
    key="recommend_save",
    disabled=not can_write(),
    help=None if can_write() else reason("save lists"),
):
    with guard():
        require_write("save a list")
        saved = save_list(get_store(), run, frame, weights, state.normalization)
    st.success(
        escape_markdown(f"Saved {saved} items for {frame['user_id'].iloc[0]} with run {run['id']}.")
    )
if mode == "One listener" and len(frame):
    with st.expander("React to this list (like / skip / block)"):
        reaction_buttons(get_store(), str(frame["user_id"].iloc[0]), frame, "recommend")

st.subheader("Export for every listener")
left, right = st.columns(2)
export_n = left.number_input("Items per listener", 1, 200, 50, key="recommend_all_n")
form = right.radio("Format", ("CSV", "Parquet"), horizontal=True, key="recommend_all_format")
if st.button("Build the export", key="recommend_all_build"):
    progress = progress_bar("Ranking...")
    with guard():
        everything = hybrid.batch_frame(
            engine, range(data.n_users), weights, int(export_n), filters, progress,
            schedule=schedule,
        )  # fmt: skip
    if form == "CSV":
        payload = csv_text(everything, comments=comments_for(notes)).encode("utf-8")
        name, mime = "timbre-recommendations-all.csv", "text/csv"
    else:
        payload = parquet_bytes(everything, comments_for(notes))
        name, mime = "timbre-recommendations-all.parquet", "application/octet-stream"
    st.session_state["recommend_all"] = (payload, name, mime, len(everything))
if "recommend_all" in st.session_state:
    payload, name, mime, rows = st.session_state["recommend_all"]
    st.caption(f"{rows:,} rows ready.")
    st.download_button(
        "Download the export", payload, file_name=name, mime=mime, key="recommend_all_download"
    )
