"""The Train page's Evaluate section: experiments with spread, per-user comparison, sweeps."""

from __future__ import annotations

from typing import Any, cast

import pandas as pd
import streamlit as st

from timbre import plots
from timbre.app.access import require_write, write_gate
from timbre.app.models import form_params, summary_table
from timbre.app.state import guard, shared
from timbre.app.widgets import escape_markdown, progress_bar
from timbre.evaluation import (
    LIST_METRICS,
    PROTOCOLS,
    RANKING_METRICS,
    Experiment,
    Protocol,
    Ranker,
    SplitSpec,
    SweepMode,
    SweepSpec,
    as_rankers,
    paired_test,
    param_column,
    parse_grid,
)
from timbre.hybrid import HybridRanker
from timbre.interactions import InteractionData
from timbre.models import MODELS
from timbre.services.experiments import HYBRID, SweepOutcome, evaluate_rankers, sweep_and_record
from timbre.store import Store

HYBRID_TITLE = "Hybrid (the Recommend page's weights)"
DEFAULT_GRID = "factors=16,32,64\nregularization=0.05,1,10"


def render_evaluation(store: Store, data: InteractionData) -> None:
    """Choose models and protocol, run, and show the results; then the sweep."""
    st.subheader("Evaluate")
    st.caption(
        "Each model is fitted on the train part of one split and ranks items for every test "
        "user (their train items excluded). Models use the hyper-parameters set in the form "
        "above, or their defaults; the hybrid ranks through the same engine as the Recommend "
        "page, with its weights."
    )
    allowed = write_gate("evaluate models (an experiment trains and records runs)")
    with st.form("train_eval_form"):
        models = st.multiselect(
            "Models",
            [*MODELS, HYBRID],
            default=["popularity", "item-knn", "als"],
            format_func=lambda n: MODELS[n].title if n in MODELS else HYBRID_TITLE,
            key="train_eval_models",
        )
        left, middle, right, last = st.columns(4)
        protocol = left.selectbox("Split", PROTOCOLS, key="train_eval_split")
        fraction = middle.slider(
            "Test fraction",
            0.05,
            0.5,
            0.2,
            0.05,
            key="train_eval_fraction",
            help="Share of each user's items held out (user-holdout, temporal); with "
            "global-time and no cut, the share of all events after the cut.",
        )
        k = int(right.number_input("K", 1, 100, 10, key="train_eval_k"))
        seed = int(last.number_input("Seed", 0, 10_000, 0, key="train_eval_seed"))
        cut = st.text_input(
            "Cut (global-time)",
            key="train_eval_cut",
            placeholder="2009-01-01",
            help="global-time only: train before this moment (UTC), test after. Empty: where "
            "the latest test fraction of all events begins. Needs timestamped listening "
            "(Last.fm scrobbles, Spotify history); HetRec's play counts have none.",
        )
        submitted = st.form_submit_button("Evaluate", key="train_eval_submit", disabled=not allowed)
    if submitted:
        if not models:
            st.warning("Choose at least one model.")
        else:
            progress = progress_bar("Evaluating...")
            with guard():
                require_write("evaluate models")
                moment = cut.strip() if protocol == "global-time" and cut.strip() else None
                split = SplitSpec(cast(Protocol, protocol), fraction, seed, cut=moment)
                experiment, _ = evaluate_rankers(
                    store, data, _rankers(models), split, k, progress=progress
                )
            st.session_state["train_experiment"] = experiment
    shown = st.session_state.get("train_experiment")
    if isinstance(shown, Experiment) and shown.split.train.items == data.items:
        _show_experiment(shown)
    _render_sweep(store, data)


def _rankers(names: list[str]) -> dict[str, Ranker]:
    """The chosen models with the form's parameters; the hybrid with the Recommend page's
    weights, normalisation and space (its CF part: ALS with the form's ALS parameters)."""
    state = shared()
    out = as_rankers({name: form_params(name) for name in names if name in MODELS})
    if HYBRID in names:
        out[HYBRID] = HybridRanker(
            state.weights, "als", form_params("als"), state.normalization, state.space,
            state.schedule,
        )  # fmt: skip
    return out


def _show_experiment(experiment: Experiment) -> None:
    info = experiment.split.info
    skipped = "; ".join(f"{n:,} {reason}" for reason, n in info["not_evaluated"].items())
    st.caption(
        f"{info['protocol']} split"
        + (f" at {escape_markdown(info['cut'])}" if "cut" in info else "")
        + f", {info['test_users']:,} test users, "
        f"{info['test_interactions']:,} held-out interactions, K = {experiment.k}; "
        f"diversity is ILD in the {experiment.ild_space} space. "
        + (f"Not evaluated: {skipped}." if skipped else "")
        + " Per-user metrics show the mean ± 95% interval. "
        + f"{info['test_pairs_without_train_share']:.1%} of the test pairs name an item nobody "
        "played in train (no collaborative model can recommend those)."
    )
    for warning in experiment.warnings():
        st.warning(escape_markdown(warning[:1].upper() + warning[1:] + "."))
    table = experiment.table()
    st.dataframe(
        summary_table(table, experiment.ild_space), hide_index=True, key="train_eval_table"
    )
    _download_files(experiment)
    metric = st.selectbox("Chart", (*RANKING_METRICS, *LIST_METRICS), key="train_eval_metric")
    st.plotly_chart(plots.metric_bars(table, metric), key="train_eval_bars")
    names = list(experiment.results)
    if len(names) >= 2:
        left, right = st.columns(2)
        a = left.selectbox("Compare", names, index=0, key="train_eval_a")
        b = right.selectbox("with", names, index=1, key="train_eval_b")
        ra, rb = experiment.results[a], experiment.results[b]
        st.plotly_chart(
            plots.per_user_scatter(ra.per_user["ndcg"], rb.per_user["ndcg"], a, b),
            key="train_eval_scatter",
        )
        test = paired_test(rb, ra)
        st.caption(
            f"NDCG@{experiment.k}: {b} - {a} = {test['mean_difference']:+.4f} "
            f"(95% interval {test['ci95_low']:+.4f} to {test['ci95_high']:+.4f}) on "
            f"{test['users']:,} users; Wilcoxon p = {test['wilcoxon_p']:.2g}, "
            f"paired t p = {test['t_p']:.2g}."
        )
        st.caption("Every pair, NDCG: p-values Holm-adjusted over all pairs.")
        st.dataframe(
            experiment.comparisons().round(5), hide_index=True, key="train_eval_comparisons"
        )


def _download_files(experiment: Experiment) -> None:
    """The experiment's split, per-user values and lists as one zip (built once per run)."""
    from timbre.export import experiment_zip

    made = st.session_state.get("train_experiment_zip")
    if not (isinstance(made, tuple) and made[0] is experiment):
        made = st.session_state["train_experiment_zip"] = (experiment, experiment_zip(experiment))
    st.download_button(
        "Download the split, per-user values and lists (zip of CSV files)",
        made[1],
        file_name="timbre-experiment.zip",
        mime="application/zip",
        key="train_eval_download",
    )


def _render_sweep(store: Store, data: InteractionData) -> None:
    with st.expander("Hyper-parameter sweep", expanded=False):
        allowed = write_gate("run a sweep (it trains and records runs)")
        with st.form("train_sweep_form"):
            model = st.selectbox(
                "Model",
                list(MODELS),
                format_func=lambda n: MODELS[n].title,
                key="train_sweep_model",
            )
            grid_text = st.text_area(
                "Grid (one parameter per line: name=value1,value2,...)",
                DEFAULT_GRID,
                key="train_sweep_grid",
            )
            left, middle, right = st.columns(3)
            budget = int(
                left.number_input("Budget (configurations)", 1, 200, 12, key="train_sweep_budget")
            )
            mode = middle.selectbox("Order", ("grid", "random"), key="train_sweep_mode")
            metric = right.selectbox("Best by", RANKING_METRICS, key="train_sweep_metric")
            submitted = st.form_submit_button(
                "Run sweep", key="train_sweep_submit", disabled=not allowed
            )
        if submitted:
            lines = [line.strip() for line in grid_text.splitlines() if line.strip()]
            with guard():
                require_write("run a sweep")
                grid = parse_grid(model, lines)
            bar = st.progress(0.0, text="Sweeping...")
            early = st.empty()
            rows: list[dict[str, Any]] = []

            def on_result(done: int, total: int, row: dict[str, Any]) -> None:
                rows.append(row)
                bar.progress(done / total, text=f"{done} of {total} configurations")
                columns = [*map(param_column, grid), metric]
                early.dataframe(pd.DataFrame(rows)[columns], hide_index=True)

            base = {k: v for k, v in form_params(model).items() if k not in grid}
            with guard():
                spec = SweepSpec(model, grid, base, budget, cast(SweepMode, mode), metric)
                outcome = sweep_and_record(store, data, spec, on_result)
            early.empty()
            st.session_state["train_sweep"] = outcome
        done: SweepOutcome | None = st.session_state.get("train_sweep")
        if done is None:
            return
        _show_sweep(done)


def _show_sweep(done: SweepOutcome) -> None:
    """The chosen configuration with its validation and test metrics, the plot and the table."""
    result = done.result
    st.success(
        "Chosen on the validation split: "
        + escape_markdown(", ".join(f"{k}={done.best[k]}" for k in done.swept))
        + f" (recorded with both metrics as run {done.run_id})"
    )
    both = pd.DataFrame(
        [
            {"split": "validation (chose it)", **result.best_validation},
            {"split": "test (measured once)", **result.test.summary},
        ]
    )
    st.dataframe(both.round(4), hide_index=True, key="train_sweep_both")
    st.caption(
        "The validation split is carved from the training part only (same protocol, seed + 1000); "
        "the chosen configuration is refitted on the whole training part and measured once on "
        "the test split."
    )
    metric_column = st.session_state.get("train_sweep_metric", "ndcg")
    parameter = st.selectbox("Plot against", done.swept, key="train_sweep_param")
    st.plotly_chart(
        plots.sweep_plot(
            result.validation,
            param_column(parameter),
            [param_column(name) for name in done.swept],
            metric_column,
        ),
        key="train_sweep_plot",
    )
    st.dataframe(result.validation, hide_index=True, key="train_sweep_table")
