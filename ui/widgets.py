"""Small Streamlit widgets the pages share. Torch-free; user text is never rendered as HTML."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from engine.core import workspace
from engine.core.rundir import list_runs
from engine.core.strategies import STRATEGIES
from engine.core.words import markdown_text as md
from ui import format as fmt

# The run a user last picked on Results or Try it, shared between those pages for the session.
CHOSEN_RUN = "chosen_run"


def init_state(defaults: Mapping[str, Any]) -> None:
    """Give each session-state key its default unless the session already has it."""
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


def show_error(exc: BaseException) -> None:
    """A TransferLabError's message, written for people; never a traceback."""
    st.error(md(exc), icon=":material/error:")


def completed_runs() -> list[dict[str, Any]]:
    """Runs in the workspace whose training completed, newest first."""
    return [r for r in list_runs(workspace.runs_dir()) if r["state"] == "completed"]


def run_label(run: Mapping[str, Any]) -> str:
    accuracy = run.get("accuracy")
    score = f", accuracy {accuracy:.3f}" if isinstance(accuracy, (int, float)) else ""
    return f"{run['run']} ({run.get('model')}, {run.get('strategy')}{score})"


def _remember(key: str) -> None:
    """A run picked in a select box becomes the session's run (before the page reruns)."""
    st.session_state[CHOSEN_RUN] = st.session_state[key]


def run_picker(runs: list[dict[str, Any]], key: str, label: str = "Run") -> dict[str, Any]:
    """A select box over ``runs``; defaults to the run picked last on another page, else the newest."""
    paths = [r["path"] for r in runs]
    chosen = st.session_state.get(CHOSEN_RUN)
    index = paths.index(chosen) if chosen in paths else 0
    if st.session_state.get(key) != paths[index]:
        # The select box keeps its own last value: a run picked on another page, or just finished on
        # Train, wins over it (and a deleted run's name falls back to the newest).
        st.session_state[key] = paths[index]
    by_path = {r["path"]: r for r in runs}
    path = st.selectbox(
        label, paths, key=key, format_func=lambda p: run_label(by_path[p]), on_change=_remember, args=(key,)
    )
    st.session_state[CHOSEN_RUN] = path
    return by_path[path]


def metric_cards(metrics: Mapping[str, Any]) -> None:
    """Accuracy, macro-F1, the share of parameters trained and the train time, side by side."""
    trainable, total = metrics.get("trainable_params"), metrics.get("total_params")
    share = metrics.get("trainable_share")
    if share is None and trainable and total:
        share = trainable / total
    cols = st.columns(4)
    cols[0].metric("Accuracy", f"{metrics['accuracy']:.3f}" if "accuracy" in metrics else "n/a")
    cols[1].metric("Macro-F1", f"{metrics['macro_f1']:.3f}" if "macro_f1" in metrics else "n/a")
    # A count, with the share beside it: a frozen model's "0.00%" read as broken.
    value = fmt.params(trainable) if trainable is not None else "n/a"
    strategy = STRATEGIES.get(str(metrics.get("strategy")))
    if strategy is not None and strategy.trains == "head":
        value += " (the classifier only)"
    elif share is not None:
        value += f" ({fmt.share(share)})"
    cols[2].metric(
        "Trainable parameters", value, help=f"{fmt.params(trainable)} of {fmt.params(total)} parameters were trained."
    )
    cols[3].metric("Train time", fmt.seconds(metrics.get("train_seconds")))
