"""Cached data sets and trained models for the pages, and the hyper-parameter form."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from timbre.app.state import get_settings, get_store, guard
from timbre.interactions import InteractionData
from timbre.models import Recommender
from timbre.models.base import ParamSpec
from timbre.models.runs import load_run


@st.cache_resource(show_spinner=False, max_entries=4)
def _dataset(url: str, version: int, dataset: str) -> InteractionData:
    return InteractionData.from_store(get_store(), dataset)


def interaction_data(dataset: str) -> InteractionData:
    """A data set as the models see it, cached per store and data version."""
    url = get_settings().resolved_database_url
    with guard(), st.spinner(f"Reading {dataset}..."):
        return _dataset(url, st.session_state.get("data_version", 0), dataset)
    raise AssertionError("unreachable")  # pragma: no cover


@st.cache_resource(show_spinner=False, max_entries=8)
def _model(run_id: int, artifact: str, fingerprint: str, _run: dict[str, Any], _data: Any) -> Any:
    return load_run(_run, _data)


def trained_model(run: dict[str, Any], data: InteractionData) -> Recommender:
    """A run's model, loaded once per artifact and data fingerprint."""
    with guard():
        model: Recommender = _model(
            int(run["id"]), str(run["artifact_path"]), data.fingerprint, run, data
        )
        return model
    raise AssertionError("unreachable")  # pragma: no cover


def param_inputs(specs: tuple[ParamSpec, ...], prefix: str) -> dict[str, Any]:
    """One widget per hyper-parameter (default, range and help from the model); their values."""
    values: dict[str, Any] = {}
    for spec in specs:
        key = f"{prefix}_{spec.name}"
        if spec.choices:
            values[spec.name] = st.selectbox(
                spec.name,
                spec.choices,
                index=spec.choices.index(spec.default),
                help=spec.help,
                key=key,
            )
        elif spec.kind is bool:
            values[spec.name] = st.checkbox(spec.name, value=spec.default, help=spec.help, key=key)
        elif spec.kind is int:
            values[spec.name] = int(
                st.number_input(
                    spec.name,
                    value=int(spec.default),
                    min_value=None if spec.low is None else int(spec.low),
                    max_value=None if spec.high is None else int(spec.high),
                    step=1,
                    help=spec.help,
                    key=key,
                )
            )
        elif spec.kind is float:
            values[spec.name] = float(
                st.number_input(
                    spec.name,
                    value=float(spec.default),
                    min_value=None if spec.low is None else float(spec.low),
                    max_value=None if spec.high is None else float(spec.high),
                    format="%g",
                    help=spec.help,
                    key=key,
                )
            )
        else:
            values[spec.name] = st.text_input(
                spec.name, value=str(spec.default), help=spec.help, key=key
            )
    return values


def runs_frame(runs: list[dict[str, Any]], fingerprint: str) -> pd.DataFrame:
    """The run registry as a table for display."""
    return pd.DataFrame(
        [
            {
                "run": r["id"],
                "active": bool(r["active"]),
                "model": r["model"],
                "seconds": r["duration_s"],
                "parameters": ", ".join(f"{k}={v}" for k, v in sorted(r["params"].items())),
                "current data": r["fingerprint"] == fingerprint,
                "created": r["created_at"],
            }
            for r in runs
        ],
        columns=["run", "active", "model", "seconds", "parameters", "current data", "created"],
    )


def ranking_frame(
    data: InteractionData, items: Any, scores: Any, because: list[str] | None = None
) -> pd.DataFrame:
    """A ranked list of items with names, for display."""
    frame = pd.DataFrame(
        {
            "rank": range(1, len(items) + 1),
            "item": [data.item_name(int(i)) for i in items],
            "score": [float(s) for s in scores],
            "id": [data.items.id(int(i)) for i in items],
        }
    )
    if because is not None:
        frame.insert(3, "because you listened to", because)
    return frame


def form_params(model: str, prefix: str = "train_param") -> dict[str, Any]:
    """The hyper-parameters of ``model`` as last set in the training form (defaults otherwise)."""
    from timbre.models import model_class

    return {
        spec.name: st.session_state.get(f"{prefix}_{model}_{spec.name}", spec.default)
        for spec in model_class(model).param_specs()
    }


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """An experiment's table for display: mean ± 95% interval for per-user metrics."""
    from timbre.evaluation import LIST_METRICS, RANKING_METRICS

    shown = pd.DataFrame({"model": table["model"], "users": table["users"]})
    for metric in RANKING_METRICS:
        shown[metric] = [
            f"{m:.4f} ± {c:.4f}"
            for m, c in zip(table[metric], table[f"{metric}_ci95"], strict=True)
        ]
    for metric in LIST_METRICS:
        shown[metric] = table[metric].round(4)
    shown["fit s"] = table["fit_seconds"].round(2)
    return shown


@st.cache_resource(show_spinner=False, max_entries=4)
def _attributes(url: str, version: int, dataset: str, fingerprint: str) -> Any:
    from timbre.personality import item_attributes

    return item_attributes(interaction_data(dataset).item_meta)


def cached_item_attributes(data: InteractionData) -> Any:
    """The personality prior's item attributes for a data set, cached per data version."""
    url = get_settings().resolved_database_url
    return _attributes(url, st.session_state.get("data_version", 0), data.dataset, data.fingerprint)
