"""Tune: hybrid weights on sliders; the list, its contributions and offline metrics follow."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import streamlit as st

from timbre import hybrid, plots
from timbre import personality as pers
from timbre.app.hybrid import (
    PANEL_SAMPLE,
    active_schedule,
    list_filters,
    listener_or_last,
    panel_for,
    persona_z,
    plausibility_table,
    prior_note,
    require_engine,
)
from timbre.app.state import bound, get_store, shared
from timbre.app.widgets import escape_markdown, plotly_texts, text_table
from timbre.app.you import flash, reaction_buttons
from timbre.errors import DataError, ParameterError
from timbre.evaluation import ILD_SPACE, metric_label
from timbre.hybrid.plausibility import TITLE as PLAUSIBILITY_TITLE
from timbre.spaces import SPACE_TITLES

st.title("Tune")
flash()
st.caption(
    f"Move the weights: the top list, its per-component contributions and the offline metrics "
    f"({PANEL_SAMPLE} held-out users of a fixed 80/20 split, K = 10) follow. The personality "
    "effect is small in the literature (|r| about .1); give it weight mainly for listeners "
    "without history."
)
data, run, engine = require_engine("tune")
state = shared()
st.caption(escape_markdown(f"CF component: run {run['id']} ({run['model']}) on {data.dataset}."))

who, pick = st.columns([1, 3])
kind = who.radio("Recommend for", ("a listener", "a persona"), key="tune_who")
person: str | None = None  # whose reactions the list takes (a persona has none)
if kind == "a listener":
    user_id = pick.text_input(
        "Listener id (a data set's listener, or a person: me, a Last.fm name)",
        value=str(data.users.id(0)),
        key="tune_user",
    )
    (components, mapped, person), error = listener_or_last(engine, user_id, "tune_listener")
    if error:  # a typo: the weights and the last valid listener's list stay
        pick.error(escape_markdown(f"{error}. The list below is still {person}'s."))
    if mapped is not None:
        pick.text(mapped.text())
    label = person
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
panel = panel_for(data, run)
filters = list_filters("tune")
st.toggle(
    "Cold-start schedule",
    help="On: listeners with little history (and every persona) get the schedule's weights "
    "(the table under the list). Off: everyone gets the sliders' weights, to tune by hand.",
    **bound("tune_schedule_on", "schedule_on"),
)
schedule = active_schedule()
st.caption(escape_markdown(f"{prior_note().capitalize()}; {filters.text()}."))


def schedule_note(history: int) -> None:
    """Which weights the schedule sets for this listener (a persona has no history), and that
    the sliders then do not apply."""
    chosen, rule = hybrid.schedule_weights(history, state.tune_weights, schedule)
    if rule == hybrid.CHOSEN:
        return
    st.info(
        escape_markdown(
            f"Cold start ({rule}): the schedule sets the weights, not the sliders: "
            f"{chosen.text()}. Switch the cold-start schedule off above to tune by hand."
        )
    )


def apply_preset() -> None:
    weights = hybrid.preset(st.session_state["tune_preset"])
    state.tune_weights = weights
    for knob in hybrid.KNOBS:
        st.session_state[f"tune_w_{knob}"] = float(getattr(weights, knob))


p_left, p_right = st.columns([3, 1])
p_left.selectbox("Preset", list(hybrid.PRESETS), key="tune_preset")
p_right.button("Apply preset", on_click=apply_preset, key="tune_apply_preset")


def show_metrics(metrics: dict[str, Any]) -> None:
    def shown(name: str, digits: int) -> str:
        return f"{metrics[name]:.{digits}f} ± {metrics[name + '_ci95']:.{digits}f}"

    st.caption(
        f"Offline metrics, {len(panel.users)} held-out users (mean ± half-width of its 95% "
        "interval)"
    )
    st.caption(
        "The personality weight cannot move these metrics: none of the held-out listeners has "
        "a questionnaire profile, so their prior is zero. The plausibility check below is what "
        "the data allows instead."
    )
    # one tile per row: two side by side in this column cut "0.2214 ± 0.0123" to "0.2214 ± …"
    a = b = st.container()
    a.metric("NDCG@10", shown("ndcg", 4))
    b.metric("Recall@10", shown("recall", 4))
    a.metric(
        metric_label("diversity"),
        shown("diversity", 3),
        help=f"Intra-list diversity: mean 1 - similarity within a list, {SPACE_TITLES[ILD_SPACE]}"
        " (0..1).",
    )
    b.metric("Novelty", shown("novelty", 2), help="Mean self-information, bits.")
    a.metric(
        "Coverage",
        f"{metrics['coverage']:.2%}",
        help="Share of the items with at least one train listener that are in any list.",
    )


def show_tradeoff(weights: hybrid.Weights, metrics: dict[str, Any]) -> None:
    """The diversity and novelty trade-off curves, on request: 12 more evaluations for each
    cf / content / personality mix (cached per mix), so a slider move stays quick."""
    if not st.toggle(
        "Trade-off curves (about 6 times the work of the metrics, once per weight mix)",
        key="tune_show_tradeoff",
    ):
        return
    key = (weights.cf, weights.content, weights.personality, schedule, prior_note())
    curves = st.session_state.setdefault("tune_curves", {})
    if key not in curves:
        curves[key] = panel.tradeoff(weights, schedule=schedule)  # once per weight mix
        while len(curves) > 8:  # keep the session small: the oldest mixes go first
            curves.pop(next(iter(curves)))
    figure = plots.tradeoff_plot(curves[key], metrics, diversity_label=metric_label("diversity"))
    st.plotly_chart(figure, key="tune_tradeoff")


def show_plausibility(weights: hybrid.Weights) -> None:
    """The bundled personas as profile-only listeners, scored against the tags their traits
    predict: a plausibility check of the prior, on request (not accuracy)."""
    if not st.toggle(PLAUSIBILITY_TITLE, key="tune_show_plausibility"):
        return
    st.caption(
        "Not accuracy: the five bundled real personas ranked as listeners without history "
        "(these weights, schedule and filters); 'list share' is the share of each top 10 "
        "carrying a tag its traits predict (the lexicon tags of the attributes its prior "
        "favours), 'no-profile share' the same for a listener without a profile. Partly "
        "circular (tag-described items are scored by the same lexicon): it shows the prior "
        "reaches the list in the direction of the literature's coefficients, not that people "
        "with these traits like it."
    )
    table = plausibility_table(engine, weights, filters, schedule)
    st.dataframe(table, hide_index=True, key="tune_plausibility")


def react(frame: pd.DataFrame) -> None:
    """Like / Skip / Block under the list; each is saved and the next list reacts to it."""
    if person is None:
        st.caption(
            "Like / Skip / Block are for a listener or a person: a persona has no one to save "
            "them for."
        )
    elif len(frame):
        with st.expander("React to this list (like / skip / block)"):
            reaction_buttons(get_store(), person, frame, "tune")


@st.fragment
def live() -> None:
    """Sliders and everything that follows them (re-run alone when a slider moves); how long
    the last run took is kept in ``tune_live_ms`` (benchmarks/bench_tune.py reads it)."""
    started = time.perf_counter()
    body()
    st.session_state["tune_live_ms"] = (time.perf_counter() - started) * 1000


def body() -> None:
    """The fragment's work: sliders, list, metrics (and the trade-off curves on request)."""
    columns = st.columns(len(hybrid.KNOBS))
    for column, knob in zip(columns, hybrid.KNOBS, strict=True):
        key = f"tune_w_{knob}"
        # set through the Session State API on every run, not only seeded: after a run that
        # stopped before the sliders, the browser has forgotten them and would show 0.00
        st.session_state[key] = st.session_state.get(key, float(getattr(state.tune_weights, knob)))
        column.slider(knob, 0.0, 1.0, step=0.05, key=key)
    try:
        weights = hybrid.Weights(**{k: st.session_state[f"tune_w_{k}"] for k in hybrid.KNOBS})
    except ParameterError as exc:
        st.warning(escape_markdown(exc))
        return
    state.tune_weights = weights
    try:
        ranking = engine.rank(
            components, weights, 10, filters, schedule=schedule, normalized=normalized
        )
    except DataError as exc:
        st.error(escape_markdown(exc))
        return
    frame = hybrid.ranking_frame(data, ranking, label)
    left, right = st.columns([3, 2])
    with left:
        schedule_note(components.history)
        for note in ranking.notes:
            st.caption(escape_markdown(note))
        bars = frame.assign(item_name=plotly_texts(frame["item_name"]))  # names as written
        st.plotly_chart(plots.contribution_bars(bars), key="tune_bars")
        # a table, not a grid: the "because" text wraps instead of being cut off
        listed = frame[["rank", "item_name", "score", "because"]].round({"score": 3})
        text_table(listed.set_index("rank"))
        react(frame)
    with right:
        metrics = panel.measure(weights, schedule)
        show_metrics(metrics)
        show_tradeoff(weights, metrics)
        show_plausibility(weights)
    if st.button("Use these weights on the Recommend page", key="tune_use"):
        state.weights, state.weights_from_tune = weights, True
        st.success("Weights saved for the Recommend page.")


live()

with st.expander("Cold-start schedule (users with little history get these weights)"):
    if "tune_schedule_editor" not in st.session_state:  # the editor's edits start from here
        st.session_state["tune_schedule_base"] = hybrid.schedule_frame(state.schedule)
    edited = st.data_editor(
        st.session_state["tune_schedule_base"], hide_index=True, key="tune_schedule_editor"
    )
    try:
        state.schedule = hybrid.schedule_from_frame(edited)
    except DataError as exc:
        st.error(escape_markdown(exc))  # may echo an edited cell
with st.expander("Normalisation and diversity space"):
    st.radio(
        "Normalisation of each component before weighting",
        hybrid.NORMALIZATIONS,
        horizontal=True,
        **bound("tune_normalization", "normalization"),
    )
    st.radio(
        "Similarity space of the diversity bonus (MMR)",
        hybrid.MMR_SPACES,
        format_func=lambda s: SPACE_TITLES[s],
        horizontal=True,
        **bound("tune_space", "space"),
    )
