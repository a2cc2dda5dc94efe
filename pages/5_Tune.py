"""Tune: hybrid weights on sliders; the list, its contributions and offline metrics follow."""

from __future__ import annotations

import streamlit as st

from timbre import hybrid, plots
from timbre import personality as pers
from timbre.app.hybrid import (
    chosen_schedule,
    chosen_weights,
    metrics_panel,
    persona_z,
    require_engine,
)
from timbre.app.state import ensure_demo, get_store, guard, init_state
from timbre.errors import DataError

st.set_page_config(page_title="Timbre · Tune", page_icon=":material/graphic_eq:", layout="wide")
init_state()
st.title("Tune")
st.caption(
    "Move the weights: the top list, its per-component contributions and the offline metrics "
    "(300 held-out users of a fixed 80/20 split, K = 10) follow. The personality effect is small "
    "in the literature (|r| about .1); give it weight mainly for listeners without history."
)
ensure_demo(get_store())
data, run, engine = require_engine("tune")
st.caption(f"CF component: run {run['id']} ({run['model']}) on {data.dataset}.")

who, pick = st.columns([1, 3])
kind = who.radio("Recommend for", ("a listener", "a persona"), key="tune_who")
if kind == "a listener":
    user_id = pick.text_input("Listener id", value=str(data.users.id(0)), key="tune_user")
    with guard():
        user = data.find_user(user_id)
    components = engine.components_for_user(user)
    label = data.users.id(user)
else:
    names = pers.personas()["persona"].tolist()
    index = pick.selectbox(
        "Persona (no listening history: cold start)",
        list(range(len(names))),
        format_func=lambda i: names[i],
        key="tune_persona",
    )
    components = engine.components_for_row(None, persona_z(int(index)))
    label = f"persona {index}"
normalized = engine.normalized(components)
panel = metrics_panel(data, run)

KNOBS = ("cf", "content", "personality", "novelty", "diversity")


def apply_preset() -> None:
    weights = hybrid.preset(st.session_state["tune_preset"])
    for knob in KNOBS:
        st.session_state[f"tune_w_{knob}"] = float(getattr(weights, knob))


for knob in KNOBS:
    st.session_state.setdefault(f"tune_w_{knob}", float(getattr(chosen_weights(), knob)))
p_left, p_right = st.columns([3, 1])
p_left.selectbox("Preset", list(hybrid.PRESETS), key="tune_preset")
p_right.button("Apply preset", on_click=apply_preset, key="tune_apply_preset")


@st.fragment
def live() -> None:
    """Sliders and everything that follows them (re-run alone when a slider moves)."""
    columns = st.columns(len(KNOBS))
    for column, knob in zip(columns, KNOBS, strict=True):
        column.slider(knob, 0.0, 1.0, step=0.05, key=f"tune_w_{knob}")
    try:
        weights = hybrid.Weights(**{k: st.session_state[f"tune_w_{k}"] for k in KNOBS})
    except ValueError as exc:
        st.warning(str(exc))
        return
    try:
        ranking = engine.rank(
            components, weights, n=10, schedule=chosen_schedule(), normalized=normalized
        )
    except DataError as exc:
        st.error(str(exc))
        return
    frame = hybrid.ranking_frame(data, ranking, label)
    left, right = st.columns([3, 2])
    with left:
        if ranking.rule != "chosen weights":
            st.info(f"Cold start ({ranking.rule}): the schedule's weights are used.")
        st.plotly_chart(plots.contribution_bars(frame), key="tune_bars")
        st.dataframe(
            frame[["rank", "item_name", "score", "because"]], hide_index=True, key="tune_list"
        )
    with right:
        metrics = panel.measure(weights)
        st.caption("Offline metrics, 300 held-out users")
        a, b = st.columns(2)
        a.metric("NDCG@10", f"{metrics['ndcg']:.4f}")
        b.metric("Recall@10", f"{metrics['recall']:.4f}")
        a.metric("Diversity", f"{metrics['diversity']:.3f}")
        b.metric("Novelty", f"{metrics['novelty']:.2f}")
        a.metric("Coverage", f"{metrics['coverage']:.2%}")
        key = (weights.cf, weights.content, weights.personality)
        curves = st.session_state.setdefault("tune_curves", {})
        if key not in curves:
            curves[key] = panel.tradeoff(weights)  # 12 panel runs: once per weight mix
            while len(curves) > 8:  # keep the session small: the oldest mixes go first
                curves.pop(next(iter(curves)))
        st.plotly_chart(plots.tradeoff_plot(curves[key], metrics), key="tune_tradeoff")
    if st.button("Use these weights on the Recommend page", key="tune_use"):
        st.session_state["hybrid_weights"] = weights.as_dict()
        st.success("Weights saved for the Recommend page.")


live()

with st.expander("Cold-start schedule (users with little history get these weights)"):
    edited = st.data_editor(
        hybrid.schedule_frame(chosen_schedule()), hide_index=True, key="tune_schedule_editor"
    )
    try:
        st.session_state["hybrid_schedule"] = hybrid.schedule_from_frame(edited)
    except DataError as exc:
        st.error(str(exc))
with st.expander("Normalisation and diversity space"):
    st.radio(
        "Normalisation of each component before weighting",
        hybrid.NORMALIZATIONS,
        key="hybrid_normalization",
        horizontal=True,
    )
    st.radio(
        "Similarity space of the diversity bonus",
        hybrid.SPACES,
        key="hybrid_space",
        horizontal=True,
    )
