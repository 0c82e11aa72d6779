"""Small Streamlit widgets the pages share. Torch-free; user text is never rendered as HTML."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from engine.core import workspace
from engine.core.rundir import list_runs
from engine.core.strategies import STRATEGIES
from engine.core.words import markdown_text as md
from engine.core.words import percent
from ui import charts
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
    return f"{run.get('name') or run['run']} ({run.get('model')}, {run.get('strategy')}{score})"


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


def interval(metrics: Mapping[str, Any], name: str) -> str | None:
    """E.g. "95% interval 0.79–0.86" for ``accuracy``; None for a run from before intervals were kept."""
    ci = metrics.get(f"{name}_ci")
    if not (isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(v, (int, float)) for v in ci)):
        return None
    if any(v != v for v in ci):  # NaN: no test examples
        return None
    return f"{metrics.get('confidence_level', 0.95):.0%} interval {ci[0]:.3f}–{ci[1]:.3f}"


INTERVAL_HELP = (
    "The test split is a sample: another sample of the same size would give a somewhat different score. "
    "The interval holds the scores that 95 in 100 such samples would give (bootstrap over the test examples)."
)


def metric_cards(metrics: Mapping[str, Any]) -> None:
    """Accuracy and macro-F1 with their intervals, the parameters trained and the time to train, side by side."""
    trainable, total = metrics.get("trainable_params"), metrics.get("total_params")
    share = metrics.get("trainable_share")
    if share is None and trainable and total:
        share = trainable / total
    cols = st.columns(4)
    for col, name, title in ((cols[0], "accuracy", "Accuracy"), (cols[1], "macro_f1", "Macro-F1")):
        value = metrics.get(name)
        col.metric(title, f"{value:.3f}" if isinstance(value, (int, float)) else "n/a", help=INTERVAL_HELP)
        words = interval(metrics, name)
        if words:
            col.caption(words)
    # A count of the total, with what it is beneath: a frozen model's "0.00%" read as broken.
    value = fmt.params(trainable) if trainable is not None else "n/a"
    cols[2].metric("Trainable parameters", value, help="The parameters training changed, of the model's total.")
    of_total = f"of {fmt.params(total)} · " if trainable is not None and total else ""
    strategy = STRATEGIES.get(str(metrics.get("strategy")))
    if strategy is not None and strategy.trains == "head":
        cols[2].caption(f"{of_total}the classifier only")
    elif share is not None:
        cols[2].caption(f"{of_total}{fmt.share(share)} of the model")
    rate = metrics.get("train_samples_per_second")
    cols[3].metric(
        "Time to train",
        fmt.seconds(metrics.get("train_seconds")),
        help="From loading the data to the test predictions (every session of a resumed run counted).",
    )
    if isinstance(rate, (int, float)):
        cols[3].caption(f"{rate:,.1f} training examples / s")


def evaluation_notes(metrics: Mapping[str, Any], unit: str = "text") -> None:
    """What to keep in mind when reading the scores: tiny splits, cut texts."""
    for warning in metrics.get("evaluation_warnings") or []:
        st.warning(md(warning), icon=":material/warning:")
    cut, max_length = metrics.get("inputs_cut"), metrics.get("max_length")
    if isinstance(cut, (int, float)) and cut > 0 and max_length:
        st.caption(
            f"{percent(cut)} of the training {unit}s were longer than {max_length} tokens and were cut there: the model "
            "never saw their ends."
        )


def training_curves(
    events: list[dict[str, Any]], strategy: str | None, head: Mapping[str, Any] | None, finished: bool, key: str
) -> None:
    """The loss and validation curves; a run that has none (a fitted head, no validation split) says why
    instead of showing empty axes."""
    info = STRATEGIES.get(str(strategy))
    if info is not None and not info.uses_optimizer:
        cv = (head or {}).get("cv_accuracy")
        fitted = f" (cross-validated accuracy {cv:.3f})" if isinstance(cv, float) else ""
        st.caption(
            "No training curves for this strategy: the frozen model computes the features once, then the classifier "
            f"on top is fitted to convergence in one go{fitted}, not trained step by step."
        )
        return
    _, eval_df = charts.events_frames(events)
    left, right = st.columns(2)
    left.plotly_chart(charts.loss_curve(events), width="stretch", key=f"{key}_loss")
    if finished and eval_df.empty:
        right.caption(
            "No validation curve: no validation split was held out (too few examples a class), or this strategy "
            "chooses its settings by cross-validation instead."
        )
    else:
        right.plotly_chart(charts.metric_curve(events), width="stretch", key=f"{key}_metrics")
