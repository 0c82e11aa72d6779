"""On Results: "How much labeled data do I need?" (a learning curve) and "Try every strategy" (a sweep).

Each starts ``engine.curve`` or ``engine.sweep`` in a detached process (``engine.core.study_jobs``)
writing into ``RUN_DIR/curve`` or ``RUN_DIR/sweep``; this section only reads those folders, so a
study keeps going across page switches and reloads and is shown again when the page comes back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import streamlit as st

from engine.core.config import TrainConfig
from engine.core.errors import TransferLabError
from engine.core.rundir import ACTIVE, RunDir
from engine.core.studies import DEFAULT_FRACTIONS, strategy_config, sweep_strategies
from engine.core.study_jobs import cancel_study, start_study, study_result, study_status
from engine.core.tasks import get_task
from engine.core.words import about_duration
from engine.core.words import markdown_text as md
from engine.estimate import estimate
from ui import study_charts

POLL_EVERY_S = 3.0
ERROR = "study_error_{}"
BUTTONS = {"curve": "How much labeled data do I need?", "sweep": "Try every strategy"}


@st.cache_data(show_spinner=False, max_entries=64)
def study_seconds(config_json: str, kind: str, n_train: int, num_labels: int) -> float | None:
    """The estimated time of a study: the sum of its points' estimates (``engine.estimate``); None when
    the model cannot be estimated."""
    config = TrainConfig.from_dict(json.loads(config_json))
    if kind == "curve":
        configs = [(config, max(num_labels, round(n_train * f))) for f in DEFAULT_FRACTIONS]
    else:
        configs = [(strategy_config(config, s), n_train) for s in sweep_strategies(config.task)]
    try:
        return sum(estimate(c, n, num_labels=num_labels).seconds for c, n in configs)
    except (TransferLabError, OSError, ValueError):
        return None


def options(kind: str, task: str) -> list[str]:
    """The command's flags for the study started from the dashboard."""
    if kind == "curve":
        return ["--fractions", ",".join(f"{f:g}" for f in DEFAULT_FRACTIONS)]
    return ["--strategies", ",".join(sweep_strategies(task))]


def start(path: str, kind: str, task: str) -> None:
    try:
        start_study(path, kind, options(kind, task))
    except TransferLabError as exc:
        st.session_state[ERROR.format(kind)] = str(exc)
        return
    st.session_state[ERROR.format(kind)] = None


def studies(run: RunDir, metrics: Mapping[str, Any]) -> None:
    """The two studies of a completed run: a button with its time estimate, progress while it runs, the
    chart and its summary once done."""
    config = run.config()
    if not config:
        return
    task = get_task(metrics.get("task") or "text")
    st.subheader("How much data, which strategy")
    study_section(run, "curve", config, metrics, task)
    study_section(run, "sweep", config, metrics, task)


def study_section(run: RunDir, kind: str, config: dict[str, Any], metrics: Mapping[str, Any], task: Any) -> None:
    status = study_status(run.path, kind)
    state = status.get("state")
    if state in ACTIVE:
        st.fragment(run_every=POLL_EVERY_S)(study_progress)(str(run.path), kind, state)
    else:
        result = study_result(run.path, kind)
        if state in ("failed", "cancelled"):
            st.warning(
                f"The last {what(kind)} did not finish: {md(status.get('message', ''))}", icon=":material/warning:"
            )
        if result and result.get("points"):
            show_result(kind, result, task.unit)
        start_button(run, kind, config, metrics, task, again=bool(result))
    if st.session_state.get(ERROR.format(kind)):
        st.error(md(st.session_state[ERROR.format(kind)]), icon=":material/error:")


def what(kind: str) -> str:
    return "learning curve" if kind == "curve" else "strategy sweep"


def start_button(
    run: RunDir, kind: str, config: dict[str, Any], metrics: Mapping[str, Any], task: Any, again: bool
) -> None:
    n_train = int(metrics.get("train_examples") or 0)
    num_labels = len(metrics.get("labels") or []) or 2
    seconds = study_seconds(json.dumps(config, sort_keys=True), kind, n_train, num_labels) if n_train else None
    unit = f"{task.unit}s"
    if kind == "curve":
        shares = ", ".join(f"{f:.0%}" for f in DEFAULT_FRACTIONS)
        what_it_does = (
            f"Trains {md(config.get('strategy'))} again on {shares} of this run's {n_train:,} training {unit} (the "
            f"same share of each class), and a classical model on the same {unit}, all tested on this run's test "
            "split: the chart shows where more labels stop paying."
        )
    else:
        names = ", ".join(sweep_strategies(task.name))
        what_it_does = (
            f"Trains {names} on the same data, each tested on this run's test split, and shows accuracy against "
            "time to train, with a recommendation drawn from these measurements."
        )
    timing = f" An estimate: about {about_duration(seconds)} in all." if seconds else ""
    replaced = " Starting again replaces the results above." if again else ""
    st.caption(what_it_does + timing + replaced)
    st.button(
        BUTTONS[kind],
        icon=":material/show_chart:" if kind == "curve" else ":material/compare_arrows:",
        on_click=start,
        args=(str(run.path), kind, task.name),
        key=f"start_{kind}",
    )


def study_progress(path: str, kind: str, shown_state: str) -> None:
    """The running study's point and message; the page redraws when it ends."""
    status = study_status(path, kind)
    if status.get("state") not in ACTIVE:
        st.rerun()
    done, total = int(status.get("done") or 0), int(status.get("total") or 0)
    label = f"{what(kind).capitalize()}: {md(status.get('message', ''))}"
    if total:
        label += f" (point {done + 1} of {total})"
    st.progress(done / total if total else 0.0, text=label)
    point = status.get("point")
    if point:
        inner = RunDir(point).status()
        if inner.get("state") in ACTIVE and inner.get("message"):
            st.caption(f"This point: {md(inner['message'])}")
    st.button("Stop", icon=":material/stop:", on_click=cancel_study, args=(path, kind), key=f"cancel_{kind}")


def show_result(kind: str, result: Mapping[str, Any], unit: str) -> None:
    if kind == "curve":
        st.plotly_chart(study_charts.learning_curve_figure(result, unit), width="stretch", key="curve_chart")
    else:
        st.plotly_chart(study_charts.sweep_figure(result), width="stretch", key="sweep_chart")
    if result.get("summary"):
        st.markdown(md(result["summary"]))
