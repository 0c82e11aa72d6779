"""Runs: every run in the workspace; compare two or more; delete one (after a confirmation); clean up."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.core import housekeeping, jobs, workspace
from engine.core.compare import (
    data_description,
    display_names,
    interval_bounds,
    interval_text,
    shared_majority_share,
    split_differences,
)
from engine.core.errors import TransferLabError
from engine.core.rundir import RunDir
from engine.core.words import markdown_text as md
from ui import charts
from ui import format as fmt
from ui.baselines import compare_baselines
from ui.report import compare_report_download
from ui.router import ensure_router
from ui.widgets import init_state

ensure_router()
init_state({"confirm_delete": None, "compare": [], "deleted_message": None})


def runs_table(runs: list[dict]) -> None:
    table = pd.DataFrame(runs)
    table["created"] = table["created_at"].map(fmt.when)
    for column in ("model", "strategy", "data", "message", "note"):  # empty, not "None", for what a run lacks
        table[column] = table[column].map(lambda v: "" if v is None else v)
    # Scores as text: a number column shows a run still training as a grey "None".
    for column, shown in (
        ("accuracy", "{:.3f}".format),
        ("macro_f1", "{:.3f}".format),
        ("train_seconds", fmt.seconds),
        ("trainable_params", fmt.params),
    ):
        table[column] = table[column].map(lambda v, shown=shown: "" if v is None or v != v else shown(v))
    st.dataframe(
        table[
            [
                "name",
                "state",
                "accuracy",
                "macro_f1",
                "train_seconds",
                "model",
                "strategy",
                "data",
                "trainable_params",
                "created",
                "note",
                "message",
                "run",
            ]
        ],
        hide_index=True,
        width="stretch",
        column_config={
            "run": st.column_config.TextColumn("folder"),
            "macro_f1": st.column_config.TextColumn("macro-F1"),
            "train_seconds": st.column_config.TextColumn("time to train"),
            "trainable_params": st.column_config.TextColumn("trainable parameters"),
        },
    )


def compare_row(name: str, folder: str, metrics: dict, config: dict) -> dict:
    accuracy_low, accuracy_high = interval_bounds(metrics.get("accuracy_ci"))
    return {
        "name": name,
        "run": folder,
        "data": data_description(config),
        "model": config.get("model"),
        "strategy": config.get("strategy"),
        "accuracy": metrics.get("accuracy"),
        "accuracy_ci": interval_text(metrics.get("accuracy_ci")),
        "macro_f1": metrics.get("macro_f1"),
        "macro_f1_ci": interval_text(metrics.get("macro_f1_ci")),
        "weighted_f1": metrics.get("weighted_f1"),
        "train_seconds": metrics.get("train_seconds"),
        "trainable_params": metrics.get("trainable_params"),
        "epochs": metrics.get("epochs"),
        "max_length": metrics.get("max_length"),
        "image_size": metrics.get("image_size"),
        "train_examples": metrics.get("train_examples"),
        "test_examples": metrics.get("test_examples"),
        "accuracy_low": accuracy_low,  # for the chart's error bars
        "accuracy_high": accuracy_high,
    }


def compare(runs: list[dict]) -> None:
    st.subheader("Compare")
    finished = [r for r in runs if r["state"] == "completed"]
    folders = [r["run"] for r in finished]
    names = dict(zip(folders, display_names(finished), strict=True))
    kept = [n for n in st.session_state.compare if n in folders]
    picked = st.multiselect(
        "Completed runs to compare (two or more)",
        folders,
        default=kept or folders[:2],
        format_func=names.get,
        key="w_compare",
    )
    st.session_state.compare = picked
    if len(picked) < 2:
        st.info("Pick at least two completed runs to compare them.")
        return
    by_folder = {r["run"]: r for r in finished}
    rows, curves, configs, all_metrics = [], {}, {}, []
    for folder in picked:
        run = RunDir(by_folder[folder]["path"])
        metrics, config = run.metrics() or {}, run.config() or {}
        rows.append(compare_row(names[folder], folder, metrics, config))
        curves[names[folder]] = run.events()
        configs[names[folder]] = config
        all_metrics.append(metrics)
    differences = split_differences(configs)
    if differences:
        st.warning(
            "**These runs were not trained and tested on the same data and split, so their scores are not "
            "comparable**: they learned from, or were scored on, different examples. What differs:  \n"
            + "  \n".join(f"• {md(line)}" for line in differences),
            icon=":material/warning:",
        )
    else:
        st.caption(
            "These runs share their data and split (data file, columns, seed, validation and test fractions), so "
            "their test scores compare; a difference inside the 95% intervals may still be chance."
        )
    # Texts have a max length, pictures an image size: show the ones these runs have.
    table = pd.DataFrame(rows)
    shown = table.drop(
        columns=["accuracy_low", "accuracy_high", *(c for c in ("max_length", "image_size") if table[c].isna().all())]
    )
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config={
            "run": st.column_config.TextColumn("folder"),
            "accuracy": st.column_config.NumberColumn("accuracy", format="%.3f"),
            "accuracy_ci": st.column_config.TextColumn("accuracy 95% interval"),
            "macro_f1": st.column_config.NumberColumn("macro-F1", format="%.3f"),
            "macro_f1_ci": st.column_config.TextColumn("macro-F1 95% interval"),
            "weighted_f1": st.column_config.NumberColumn("weighted F1", format="%.3f"),
            "train_seconds": st.column_config.NumberColumn("time to train (s)", format="%.0f"),
            "trainable_params": st.column_config.NumberColumn("trainable parameters", format="localized"),
        },
    )
    # One above the other, full width: each run's colour and name in a legend beside the plot.
    baseline = None if differences else shared_majority_share(all_metrics)
    st.plotly_chart(charts.validation_overlay(curves), width="stretch", key="compare_curves")
    st.plotly_chart(charts.runs_scatter(table, baseline=baseline), width="stretch", key="compare_scatter")
    compare_baselines(dict(zip([names[f] for f in picked], all_metrics, strict=True)), same_split=not differences)
    compare_report_download([by_folder[folder]["path"] for folder in picked])


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


def folder_and_name(run: dict) -> str:
    """A run as a list to delete from shows it: its name, with its folder when that differs."""
    return run["run"] if run["name"] == run["run"] else f"{run['name']} ({run['run']})"


def delete(runs: list[dict]) -> None:
    st.subheader("Delete a run")
    by_path = {r["path"]: r for r in runs}
    path = st.selectbox("Run", list(by_path), format_func=lambda p: folder_and_name(by_path[p]), key="w_delete_run")
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
