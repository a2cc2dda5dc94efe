"""Cached hybrid engines and metrics panels for the Tune and Recommend pages."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from timbre import hybrid
from timbre import personality as pers
from timbre.app.models import interaction_data
from timbre.app.state import get_settings, get_store, guard
from timbre.app.widgets import page_link
from timbre.interactions import InteractionData
from timbre.models.runs import train_run


def usable_run(data: InteractionData) -> dict[str, Any] | None:
    """The data set's active run (or newest) with an artifact trained on this exact data."""
    runs = [
        r
        for r in get_store().list_model_runs()
        if r["dataset"] == data.dataset
        and r["artifact_path"]
        and r["fingerprint"] == data.fingerprint
    ]
    active = [r for r in runs if r["active"]]
    return (active or runs or [None])[0]


def require_engine(prefix: str) -> tuple[InteractionData, dict[str, Any], hybrid.HybridEngine]:
    """Data set choice, its CF run and engine; without a run: say so, offer to train, stop."""
    store = get_store()
    datasets = [d["name"] for d in store.list_datasets()]
    if not datasets:
        st.info("There is no data yet.")
        page_link("pages/1_Data.py", "Load the demo or import data")
        st.stop()
    dataset = st.selectbox("Data set", datasets, key=f"{prefix}_dataset")
    data = interaction_data(dataset)
    run = usable_run(data)
    if run is None:
        st.info(
            f"No model is trained on {dataset} yet: the CF component needs one. Train ALS with "
            "its defaults here (under a second on the demo), or choose a model on the Train page."
        )
        if st.button("Train ALS now", type="primary", key=f"{prefix}_train"):
            with guard(), st.spinner("Training ALS..."):
                train_run(store, get_settings(), data, "als")
            st.rerun()
        page_link("pages/3_Train.py", "Train page")
        st.stop()
    assert run is not None
    normalization = st.session_state.get("hybrid_normalization", "minmax")
    space = st.session_state.get("hybrid_space", "interactions")
    with guard(), st.spinner("Preparing the hybrid engine..."):
        engine = _engine(
            int(run["id"]), data.fingerprint, normalization, space, _profiles_key(), run, data
        )
    return data, run, engine


def _profiles_key() -> str:
    profiles = get_store().list_profiles()
    return f"{len(profiles)}:{profiles[0]['id'] if profiles else 0}"


@st.cache_resource(show_spinner=False, max_entries=4)
def _engine(
    run_id: int,
    fingerprint: str,
    normalization: str,
    space: str,
    profiles_key: str,
    _run: dict[str, Any],
    _data: InteractionData,
) -> hybrid.HybridEngine:
    return hybrid.engine_for_run(get_store(), _data, _run, normalization, space)


@st.cache_resource(show_spinner=False, max_entries=2)
def _panel(
    fingerprint: str,
    model: str,
    params_json: str,
    normalization: str,
    space: str,
    _data: InteractionData,
) -> hybrid.MetricsPanel:
    from timbre.evaluation import make_split
    from timbre.models import create_model

    split = make_split(_data, seed=0)
    model_obj = create_model(model, json.loads(params_json)).fit(split.train)
    engine = hybrid.HybridEngine(split.train, model_obj, None, None, normalization, space)
    return hybrid.MetricsPanel(engine, split, sample=300)


def metrics_panel(data: InteractionData, run: dict[str, Any]) -> hybrid.MetricsPanel:
    """A panel for the run's model family and parameters, refitted on a fixed 80/20 split."""
    with guard(), st.spinner("Preparing the live metrics (a model refitted on a split)..."):
        return _panel(
            data.fingerprint,
            str(run["model"]),
            json.dumps(run["params"], sort_keys=True),
            st.session_state.get("hybrid_normalization", "minmax"),
            st.session_state.get("hybrid_space", "interactions"),
            data,
        )


def chosen_weights() -> hybrid.Weights:
    """The weights carried between pages ("use these weights"), or the default preset."""
    stored = st.session_state.get("hybrid_weights")
    try:
        return hybrid.Weights(**stored) if stored else hybrid.Weights()
    except (TypeError, ValueError):
        return hybrid.Weights()


def chosen_schedule() -> tuple[hybrid.ScheduleRule, ...]:
    """The cold-start schedule as edited on the Tune page (default otherwise)."""
    return st.session_state.get("hybrid_schedule", hybrid.DEFAULT_SCHEDULE)


def persona_z(index: int) -> dict[str, float]:
    """Trait z-scores of a demo persona (a real anonymous IPIP-50 response)."""
    instrument = pers.get_instrument("ipip50")
    return pers.trait_z(pers.score(instrument, pers.persona_answers(index, instrument)))
