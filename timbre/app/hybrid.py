"""The Tune and Recommend pages' engine, metrics panel and shared hybrid settings (cached)."""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import replace

import pandas as pd
import streamlit as st

from timbre import hybrid
from timbre import personality as pers
from timbre.app.access import require_write, write_gate
from timbre.app.models import choose_dataset, interaction_data
from timbre.app.navigation import page_link
from timbre.app.state import bound, get_settings, get_store, guard, shared, stop
from timbre.app.widgets import escape_markdown
from timbre.errors import TimbreError
from timbre.interactions import InteractionData
from timbre.services.engines import PANEL_SAMPLE, engine_for_run, metrics_panel
from timbre.services.people import MappedRow, listener_components
from timbre.services.runs import Run, train_run, usable_run

#: What the session's prior is called in captions and provenance lines.
SHIPPED_PRIOR = "the shipped table"
EDITED_PRIOR = "edited on the Personality page"


def require_engine(prefix: str) -> tuple[InteractionData, Run, hybrid.HybridEngine]:
    """Data set choice, its CF run and engine; without a run: say so, offer to train, stop."""
    store = get_store()
    dataset = choose_dataset(prefix)
    data = interaction_data(dataset)
    run = usable_run(store, data)
    if run is None:
        st.info(
            f"No model is trained on {escape_markdown(dataset)} yet: the CF component needs "
            "one. Train ALS with "
            "its defaults here (under a second on the demo), or choose a model on the Train page."
        )
        allowed = write_gate("train a model")
        if st.button("Train ALS now", type="primary", key=f"{prefix}_train", disabled=not allowed):
            with guard(), st.spinner("Training ALS..."):
                require_write("train a model")
                train_run(store, get_settings(), data, "als")
            st.rerun()
        page_link("app_pages/train.py")
        stop()
    state = shared()
    coefficients = session_coefficients()
    with guard(), st.spinner("Preparing the hybrid engine..."):
        engine = _engine(
            int(run["id"]),
            data.fingerprint,
            state.normalization,
            state.space,
            _profiles_key(),
            pers.coefficients_digest(coefficients),
            run,
            data,
            coefficients,
        )
    # the engine serves from the data the run was trained on (the same when it is not stale)
    return engine.data, run, engine


def _profiles_key() -> str:
    profiles = get_store().list_profiles()
    return f"{len(profiles)}:{profiles[0]['id'] if profiles else 0}"


@st.cache_resource(show_spinner=False, max_entries=4)
def _engine(
    run_id: int,
    fingerprint: str,
    normalization: hybrid.Normalization,
    space: hybrid.MMRSpace,
    profiles_key: str,
    prior_digest: str,
    _run: Run,
    _data: InteractionData,
    _coefficients: pd.DataFrame,
) -> hybrid.HybridEngine:
    return engine_for_run(get_store(), _data, _run, normalization, space, _coefficients)


@st.cache_resource(show_spinner=False, max_entries=2)
def _panel(
    fingerprint: str,
    model: str,
    params_json: str,
    normalization: hybrid.Normalization,
    space: hybrid.MMRSpace,
    prior_digest: str,
    _data: InteractionData,
    _coefficients: pd.DataFrame,
) -> hybrid.MetricsPanel:
    params = json.loads(params_json)
    return metrics_panel(_data, model, params, normalization, space, coefficients=_coefficients)


def panel_for(data: InteractionData, run: Run) -> hybrid.MetricsPanel:
    """A panel for the run's model family and parameters, refitted on a fixed 80/20 split."""
    state = shared()
    coefficients = session_coefficients()
    with guard(), st.spinner("Preparing the live metrics (a model refitted on a split)..."):
        return _panel(
            data.fingerprint,
            str(run["model"]),
            json.dumps(run["params"], sort_keys=True),
            state.normalization,
            state.space,
            pers.coefficients_digest(coefficients),
            data,
            coefficients,
        )
    stop()


def session_coefficients() -> pd.DataFrame:
    """The session's personality coefficient table (the Personality page's edits, else the
    shipped one): every engine, list, export and metric of the session uses it."""
    table = shared().coefficients
    return pers.default_coefficients() if table is None else table


def prior_note() -> str:
    """The provenance line naming the session's prior: which table, and its short SHA-256."""
    table = session_coefficients()
    digest = pers.coefficients_digest(table)
    shipped = digest == pers.coefficients_digest(pers.default_coefficients())
    return f"personality prior: {SHIPPED_PRIOR if shipped else EDITED_PRIOR} (sha256 {digest})"


def active_schedule() -> tuple[hybrid.ScheduleRule, ...] | None:
    """The cold-start schedule the lists use: Tune's edited one, or ``None`` when Tune's switch
    has it off (everyone then gets the chosen weights)."""
    state = shared()
    return state.schedule if state.schedule_on else None


def list_filters(prefix: str, base: hybrid.Filters | None = None) -> hybrid.Filters:
    """The listener floor and "presenter safe" of every list, shared by the pages (seeded from
    :class:`Shared`, defaults ``APP_MIN_LISTENERS`` and on); ``base`` gives the other fields."""
    left, right = st.columns(2)
    left.number_input(
        "Minimum listeners",
        min_value=0,
        step=1,
        help="Items with fewer listeners in the data are left out of every list (the long "
        "tail of artists with one to four listeners otherwise fills cold-start lists).",
        **bound(f"{prefix}_min_listeners", "min_listeners"),
    )
    right.checkbox(
        "Presenter safe",
        help="Hide items whose name holds a word of a small documented blocklist "
        "(timbre/resources/safety/blocklist.txt).",
        **bound(f"{prefix}_presenter_safe", "presenter_safe"),
    )
    state = shared()
    return replace(
        base or hybrid.Filters(),
        min_listeners=int(state.min_listeners),
        presenter_safe=bool(state.presenter_safe),
    )


#: A listener ready to rank: components (feedback applied), the mapping (``None`` for a
#: training row) and the person's key (see :func:`listener_components`).
Listener = tuple[hybrid.Components, MappedRow | None, str]


def listener_or_last(engine: hybrid.HybridEngine, text: str, memory: str) -> tuple[Listener, str]:
    """The listener ``text`` names, remembered in ``st.session_state[memory]``; when it names
    nobody, the last one it named on this data set (else the data set's first listener) and
    the error (``""`` when there is none), so a typo leaves the page as it was."""
    store, dataset = get_store(), engine.data.dataset
    try:
        found = listener_components(store, engine, text)
    except TimbreError as exc:
        error = str(exc)
    else:
        st.session_state[memory] = (dataset, found[2])
        return found, ""
    last = st.session_state.get(memory)
    candidates = [last[1]] if isinstance(last, tuple) and last[0] == dataset else []
    candidates.append(str(engine.data.users.id(0)))
    for query in candidates[:-1]:
        with suppress(TimbreError):  # that person may have been forgotten since
            return listener_components(store, engine, query), error
    with guard():
        return listener_components(store, engine, candidates[-1]), error
    stop()


def plausibility_table(
    engine: hybrid.HybridEngine,
    weights: hybrid.Weights,
    filters: hybrid.Filters,
    schedule: tuple[hybrid.ScheduleRule, ...] | None,
) -> pd.DataFrame:
    """:func:`timbre.hybrid.plausibility.plausibility_check` for the page's settings, kept per
    settings in the session (a slider move that does not change them does not redo it)."""
    from timbre.hybrid.plausibility import plausibility_check

    key = (id(engine), weights, filters, schedule, pers.coefficients_digest(engine.coefficients))
    memo = st.session_state.setdefault("plausibility_memo", {})
    if key not in memo:
        with guard():
            memo.clear()
            memo[key] = plausibility_check(engine, weights, 10, filters, schedule)
    return memo[key]


def persona_z(index: int) -> dict[str, float]:
    """Trait z-scores of a demo persona (a real anonymous IPIP-50 response)."""
    instrument = pers.get_instrument("ipip50")
    return pers.trait_z(pers.score(instrument, pers.persona_answers(index, instrument)))


def settings_caption(run: Run) -> str:
    """Which weights, normalisation and space the lists use, and where the weights came from."""
    state = shared()
    source = "from the Tune page" if state.weights_from_tune else "default preset"
    schedule = "on" if state.schedule_on else "off (the chosen weights for everyone)"
    return (
        f"Weights ({source}): {state.weights.text()}. Normalisation {state.normalization}; "
        f"diversity space {state.space}. CF: run {run['id']} ({run['model']}). "
        f"Cold-start schedule {schedule}; {prior_note()}."
    )


__all__ = [
    "PANEL_SAMPLE",
    "Listener",
    "active_schedule",
    "list_filters",
    "listener_or_last",
    "panel_for",
    "persona_z",
    "plausibility_table",
    "prior_note",
    "require_engine",
    "session_coefficients",
    "settings_caption",
]
