"""Cached data sets and trained models for the pages, the data set choice, the parameter form."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from timbre.app.navigation import page_link
from timbre.app.state import dataset_version, get_store, guard, keep, shared, stop, store_url
from timbre.app.widgets import escape_markdown
from timbre.errors import TimbreError
from timbre.interactions import InteractionData
from timbre.models import Recommender
from timbre.models.base import ParamSpec
from timbre.services.data import load_data
from timbre.services.runs import Run, load_run, serve_run, staleness, usable_run
from timbre.sources.demo import DEMO_DATASET


@st.cache_resource(show_spinner=False, max_entries=4)
def _dataset(url: str, version: str, dataset: str) -> InteractionData:
    return load_data(get_store(), dataset)


def interaction_data(dataset: str) -> InteractionData:
    """A data set as the models see it, cached per store and the data set's revision."""
    with guard(), st.spinner(f"Reading {escape_markdown(dataset)}..."):
        return _dataset(store_url(), dataset_version(dataset), dataset)
    stop()


def choose_dataset(prefix: str) -> str:
    """The data set select box of a page, kept across pages in :class:`Shared`; without any
    data set, says what to do and stops the page."""
    names = [d["name"] for d in get_store().list_datasets()]
    if not names:
        st.info("There is no data yet.")
        page_link("pages/data.py", "Load the demo or import data on the Data page")
        stop()
    state = shared()
    if state.dataset not in names:
        state.dataset = DEMO_DATASET if DEMO_DATASET in names else names[0]
    key = f"{prefix}_dataset"
    if st.session_state.get(key) not in names:
        st.session_state.pop(key, None)
    keep(key, state.dataset)
    state.dataset = st.selectbox("Data set", names, key=key)
    return state.dataset


@st.cache_resource(show_spinner=False, max_entries=8)
def _model(run_id: int, artifact: str, fingerprint: str, _run: Run, _data: Any) -> Recommender:
    return load_run(_run, _data)


def trained_model(run: Run, data: InteractionData) -> Recommender:
    """A run's model, loaded once per artifact and data fingerprint."""
    with guard():
        return _model(int(run["id"]), str(run["artifact_path"]), data.fingerprint, run, data)
    stop()


@st.cache_data(show_spinner=False, max_entries=8)
def _staleness_line(run_id: int, artifact: str, fingerprint: str, _run: Run, _data: Any) -> str:
    try:
        _, trained = serve_run(_run, _data)
    except TimbreError as exc:
        return f"Run {run_id} ({_run['model']}) cannot serve {_data.dataset}: {exc}"
    text = staleness(trained, _data).text()
    return f"Run {run_id} ({_run['model']}) serves {_data.dataset}: {text}"


def serving_staleness(data: InteractionData) -> str | None:
    """One line on the run that serves ``data``'s data set (:func:`usable_run`): whether it
    is trained on the current data, else how many pairs arrived since; ``None`` without a run.
    Cached per run, artifact and data fingerprint."""
    run = usable_run(get_store(), data)
    if run is None:
        return None
    return _staleness_line(int(run["id"]), str(run["artifact_path"]), data.fingerprint, run, data)


def param_inputs(specs: tuple[ParamSpec, ...], prefix: str) -> dict[str, Any]:
    """One widget per hyper-parameter (default, range and help from the model); their values."""
    return {spec.name: _param_input(spec, f"{prefix}_{spec.name}") for spec in specs}


def _param_input(spec: ParamSpec, key: str) -> Any:
    if spec.choices:
        index = spec.choices.index(spec.default)
        return st.selectbox(spec.name, spec.choices, index=index, help=spec.help, key=key)
    if spec.kind is bool:
        return st.checkbox(spec.name, value=spec.default, help=spec.help, key=key)
    if spec.kind in (int, float):
        number = spec.kind  # int or float: the widget's type, its bounds' and its value's
        value = st.number_input(
            spec.name,
            value=number(spec.default),
            min_value=None if spec.low is None else number(spec.low),
            max_value=None if spec.high is None else number(spec.high),
            step=1 if number is int else None,
            format=None if number is int else "%g",
            help=spec.help,
            key=key,
        )
        return number(value)
    return st.text_input(spec.name, value=str(spec.default), help=spec.help, key=key)


def form_params(model: str, prefix: str = "train_param") -> dict[str, Any]:
    """The hyper-parameters of ``model`` as last set in the training form (defaults otherwise)."""
    from timbre.models import model_class

    return {
        spec.name: st.session_state.get(f"{prefix}_{model}_{spec.name}", spec.default)
        for spec in model_class(model).param_specs()
    }


def summary_table(table: pd.DataFrame, ild_space: str) -> pd.DataFrame:
    """An experiment's table for display: mean ± 95% interval for per-user metrics; ILD named
    by the space it was measured in."""
    from timbre.evaluation import LIST_METRICS, RANKING_METRICS, metric_label

    shown = pd.DataFrame({"model": table["model"], "users": table["users"]})
    for metric in RANKING_METRICS:
        shown[metric] = [
            f"{m:.4f} ± {c:.4f}"
            for m, c in zip(table[metric], table[f"{metric}_ci95"], strict=True)
        ]
    for metric in LIST_METRICS:
        shown[metric_label(metric, ild_space)] = table[metric].round(4)
    shown["fit s"] = table["fit_seconds"].round(2)
    return shown


@st.cache_resource(show_spinner=False, max_entries=4)
def _attributes(url: str, version: str, dataset: str, fingerprint: str) -> Any:
    from timbre.personality import item_attributes

    return item_attributes(interaction_data(dataset).item_meta)


def cached_item_attributes(data: InteractionData) -> Any:
    """The personality prior's item attributes for a data set, cached per its revision."""
    return _attributes(store_url(), dataset_version(data.dataset), data.dataset, data.fingerprint)
