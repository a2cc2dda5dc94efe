"""Train: choose a model and its hyper-parameters, train with progress, manage the run registry."""

from __future__ import annotations

import streamlit as st

from timbre.app.access import require_write, write_gate
from timbre.app.evaluate import render_evaluation
from timbre.app.models import (
    choose_dataset,
    interaction_data,
    param_inputs,
    serving_staleness,
    trained_model,
)
from timbre.app.state import get_settings, get_store, guard
from timbre.app.widgets import escape_markdown, metric_row, progress_bar, text_table
from timbre.errors import TimbreError
from timbre.hybrid import items_frame
from timbre.models import MODELS
from timbre.services.runs import compare_runs, delete_run, runs_table, train_run

st.title("Train")

store = get_store()
dataset = choose_dataset("train")
data = interaction_data(dataset)
metric_row(
    [
        ("Users", f"{data.n_users:,}"),
        ("Items", f"{data.n_items:,}"),
        ("Interactions", f"{data.nnz:,}"),
        ("Fingerprint", data.fingerprint[:8]),
    ]
)

flash = st.session_state.pop("train_flash", None)
if flash:
    st.success(escape_markdown(flash))  # may name the data set

# ----- train --------------------------------------------------------------------------------
st.subheader("Train a model")
name = st.selectbox("Model", list(MODELS), format_func=lambda n: MODELS[n].title, key="train_model")
klass = MODELS[name]
st.caption(klass.summary)
can_write = write_gate("train, activate or delete models")
with st.form("train_form"):
    columns = st.columns(3)
    params = {}
    for index, spec in enumerate(klass.param_specs()):
        with columns[index % 3]:
            params.update(param_inputs((spec,), f"train_param_{name}"))
    submitted = st.form_submit_button(
        "Train", type="primary", key="train_submit", disabled=not can_write
    )
if submitted:
    progress = progress_bar(f"Training {klass.title}...")
    with guard():
        require_write("train a model")
        result = train_run(store, get_settings(), data, name, params, progress)
    st.session_state["train_flash"] = (
        f"Run {result.run_id}: {klass.title} trained in {result.fit_seconds:.2f} s "
        "and made the active model."
    )
    st.session_state["train_run_select"] = result.run_id
    st.rerun()

# ----- evaluate ---------------------------------------------------------------------------
render_evaluation(store, data)

# ----- registry -----------------------------------------------------------------------------
st.subheader("Runs")
all_runs = [r for r in store.list_model_runs() if r["dataset"] == dataset]
if all_runs:
    st.caption(
        "A *model* run has a trained artifact that can serve lists; an *evaluation* record holds "
        "the metrics of one model of an experiment (fitted on its split's train part). Select "
        "two or more rows to compare them side by side."
    )
    picked = st.dataframe(
        runs_table(all_runs, data.fingerprint),
        hide_index=True,
        key="train_runs_table",
        on_select="rerun",
        selection_mode="multi-row",
    )
    chosen = [all_runs[i] for i in picked.selection.rows]  # type: ignore[attr-defined]
    if len(chosen) >= 2:
        st.caption(f"{len(chosen)} runs side by side (parameters, split, metrics):")
        st.dataframe(compare_runs(chosen), key="train_runs_compare")
runs = [r for r in all_runs if r["artifact_path"]]
serving = serving_staleness(data) if runs else None
if serving:
    st.text(serving)  # as text: the data set's name comes from an import
if not runs:
    st.info("No model trained on this data set yet: train one above.")
    st.stop()
by_id = {r["id"]: r for r in runs}
if st.session_state.get("train_run_select") not in by_id:
    active = [r["id"] for r in runs if r["active"]]
    st.session_state["train_run_select"] = active[0] if active else runs[0]["id"]
run_id = st.selectbox(
    "Run",
    list(by_id),
    format_func=lambda i: (
        f"run {i}: {by_id[i]['model']}" + (" (active)" if by_id[i]["active"] else "")
    ),
    key="train_run_select",
)
run = by_id[run_id]
left, right = st.columns(2)
if left.button("Make active", key="train_activate", disabled=bool(run["active"]) or not can_write):
    with guard():
        require_write("change the active model")
    store.set_active_run(run_id)
    st.session_state["train_flash"] = f"Run {run_id} is now the active model of {dataset}."
    st.rerun()
confirm = right.checkbox("Confirm deletion", key="train_delete_confirm", disabled=not can_write)
if right.button("Delete run", key="train_delete", disabled=not (confirm and can_write)):
    with guard():
        require_write("delete a run")
        delete_run(store, run_id)
    st.session_state.pop("train_run_select", None)
    st.session_state["train_flash"] = f"Run {run_id} and its artifact were deleted."
    st.rerun()

if run["fingerprint"] != data.fingerprint:
    st.warning(
        escape_markdown(f"Run {run_id} was trained on an earlier version of {dataset}: retrain it.")
    )
    st.stop()
model = trained_model(run, data)

# ----- sanity checks ------------------------------------------------------------------------
st.subheader("Sanity check")
similar_tab, recommend_tab = st.tabs(["Similar items", "Recommendations for a user"])
with similar_tab:
    popular = int(model.item_popularity_.argmax())
    query = st.text_input(
        "Artist or track", value=data.item_name(popular), key="train_similar_query"
    )
    try:
        item = data.find_item(query)
        ranking = model.similar_items(item, 10)
        st.caption(f"Most similar in run {run_id} ({run['model']}) to:")
        st.text(data.item_name(item))
        text_table(items_frame(data, ranking.items, ranking.scores).set_index("rank"))
    except TimbreError as exc:
        st.error(escape_markdown(exc))  # echoes the query
with recommend_tab:
    user_query = st.text_input("User id", value=str(data.users.id(0)), key="train_user_query")
    try:
        user = data.find_user(user_query)
        ranking = model.recommend(user, 10)
        because = []
        for item in ranking.items:
            try:
                reasons = model.explain(user, int(item), n=2)
            except TimbreError:
                reasons = []
            because.append(", ".join(data.item_name(i) for i, _ in reasons))
        listened = data.user_items[user]
        top_played = listened.indices[listened.data.argsort()[::-1][:5]]
        st.text(
            f"{data.users.id(user)} played {listened.nnz:,} items, most: "
            + ", ".join(data.item_name(int(i)) for i in top_played)
        )
        table = items_frame(data, ranking.items, ranking.scores)
        table.insert(3, "because you listened to", because)
        text_table(table.set_index("rank"))
    except TimbreError as exc:
        st.error(escape_markdown(exc))  # echoes the query
