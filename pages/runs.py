"""Runs: every run in the workspace; compare two or more; delete one (after a confirmation); clean up."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.core import housekeeping, jobs, workspace
from engine.core.errors import TransferLabError
from engine.core.rundir import RunDir
from engine.core.words import markdown_text as md
from ui import charts
from ui import format as fmt
from ui.router import ensure_router
from ui.widgets import init_state

ensure_router()
init_state({"confirm_delete": None, "compare": [], "deleted_message": None})


def runs_table(runs: list[dict]) -> None:
    table = pd.DataFrame(runs)
    table["created"] = table["created_at"].map(fmt.when)
    for column in ("model", "strategy", "data", "message"):  # empty, not "None", for what a run lacks
        table[column] = table[column].map(lambda v: "" if v is None else v)
    st.dataframe(
        table[
            [
                "run",
                "state",
                "model",
                "strategy",
                "data",
                "accuracy",
                "macro_f1",
                "train_seconds",
                "trainable_params",
                "created",
                "message",
            ]
        ],
        hide_index=True,
        width="stretch",
        column_config={
            "accuracy": st.column_config.NumberColumn("accuracy", format="%.3f"),
            "macro_f1": st.column_config.NumberColumn("macro-F1", format="%.3f"),
            "train_seconds": st.column_config.NumberColumn("train time (s)", format="%.0f"),
            "trainable_params": st.column_config.NumberColumn("trainable parameters", format="localized"),
        },
    )


def compare(runs: list[dict]) -> None:
    st.subheader("Compare")
    finished = [r for r in runs if r["state"] == "completed"]
    names = [r["run"] for r in finished]
    kept = [n for n in st.session_state.compare if n in names]
    picked = st.multiselect(
        "Completed runs to compare (two or more)", names, default=kept or names[:2], key="w_compare"
    )
    st.session_state.compare = picked
    if len(picked) < 2:
        st.info("Pick at least two completed runs to compare them.")
        return
    by_name = {r["run"]: r for r in finished}
    rows = []
    curves = {}
    for name in picked:
        run = RunDir(by_name[name]["path"])
        metrics = run.metrics() or {}
        config = run.config() or {}
        rows.append(
            {
                "run": name,
                "model": config.get("model"),
                "strategy": config.get("strategy"),
                "accuracy": metrics.get("accuracy"),
                "macro_f1": metrics.get("macro_f1"),
                "weighted_f1": metrics.get("weighted_f1"),
                "train_seconds": metrics.get("train_seconds"),
                "trainable_params": metrics.get("trainable_params"),
                "epochs": metrics.get("epochs"),
                "max_length": metrics.get("max_length"),
                "image_size": metrics.get("image_size"),
                "train_examples": metrics.get("train_examples"),
            }
        )
        curves[name] = run.events()
    # Texts have a max length, pictures an image size: show the ones these runs have.
    table = pd.DataFrame(rows)
    table = table.drop(columns=[c for c in ("max_length", "image_size") if table[c].isna().all()])
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "accuracy": st.column_config.NumberColumn("accuracy", format="%.3f"),
            "macro_f1": st.column_config.NumberColumn("macro-F1", format="%.3f"),
            "weighted_f1": st.column_config.NumberColumn("weighted F1", format="%.3f"),
            "train_seconds": st.column_config.NumberColumn("train time (s)", format="%.0f"),
            "trainable_params": st.column_config.NumberColumn("trainable parameters", format="localized"),
        },
    )
    left, right = st.columns(2)
    left.plotly_chart(charts.validation_overlay(curves), width="stretch", key="compare_curves")
    right.plotly_chart(charts.runs_scatter(table), width="stretch", key="compare_scatter")


def ask_delete(path: str) -> None:
    st.session_state.confirm_delete = path


def do_delete(path: str) -> None:
    st.session_state.confirm_delete = None
    try:
        jobs.delete_run(RunDir(path))
    except TransferLabError as exc:
        st.session_state.deleted_message = ("error", str(exc))
        return
    st.session_state.deleted_message = ("success", f"Deleted the run '{RunDir(path).name}'.")


def keep() -> None:
    st.session_state.confirm_delete = None


def delete(runs: list[dict]) -> None:
    st.subheader("Delete a run")
    by_path = {r["path"]: r for r in runs}
    path = st.selectbox("Run", list(by_path), format_func=lambda p: by_path[p]["run"], key="w_delete_run")
    st.button("Delete…", icon=":material/delete:", on_click=ask_delete, args=(path,), key="delete_run")
    pending = st.session_state.confirm_delete
    if pending and pending in by_path:
        st.warning(
            f"Delete the run '{md(by_path[pending]['run'])}' with its model and results? This cannot be undone.",
            icon=":material/warning:",
        )
        yes, no = st.columns([1, 6])
        yes.button("Yes, delete it", type="primary", on_click=do_delete, args=(pending,), key="confirm_delete_yes")
        no.button("Keep it", on_click=keep, key="confirm_delete_no")


def do_clean(keys: list[str]) -> None:
    freed = housekeeping.clean(set(keys))
    st.session_state.deleted_message = ("success", f"Cleaned up: {fmt.size(freed)} freed.")


def clean_up() -> None:
    st.subheader("Clean up")
    parts = housekeeping.usage()
    st.caption(
        f"The workspace ({md(workspace.home())}) holds {fmt.size(housekeeping.runs_usage())} of runs; delete runs "
        "above. These parts can go without losing a result:"
    )
    st.dataframe(
        pd.DataFrame(
            {
                "part": [p.title for p in parts],
                "size": [fmt.size(p.bytes) for p in parts],
                "items": [p.items for p in parts],
                "removing it means": [p.note for p in parts],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    chosen = [p.key for p in parts if p.items and st.checkbox(p.title, key=f"w_clean_{p.key}")]
    st.button(
        "Clean up the chosen parts",
        icon=":material/cleaning_services:",
        disabled=not chosen,
        on_click=do_clean,
        args=(chosen,),
        key="clean_up",
    )


st.title("Runs")
message = st.session_state.deleted_message
if message:
    kind, text = message
    (st.error if kind == "error" else st.success)(md(text))
    st.session_state.deleted_message = None
runs = jobs.runs_with_status()
if not runs:
    st.info(
        f"No runs yet in {md(workspace.runs_dir())}. Start one on the Train page.", icon=":material/hourglass_empty:"
    )
    st.page_link("pages/train.py", label="Go to Train", icon=":material/arrow_forward:")
else:
    runs_table(runs)
    compare(runs)
    delete(runs)
clean_up()
