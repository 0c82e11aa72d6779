"""Train: start a run in a worker process and watch it live; the run is found again after a refresh."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import streamlit as st

from engine.core import jobs
from engine.core.config import data_settings, task_settings
from engine.core.errors import TransferLabError
from engine.core.hardware import max_concurrent_runs
from engine.core.rundir import FINISHED, MAX_NAME_CHARS, MAX_NOTE_CHARS, RunDir
from engine.core.strategies import STRATEGIES
from engine.core.tasks import get_task
from engine.core.tracking import mlflow_ui_command, where_runs_go
from engine.core.words import markdown_text as md
from ui import charts, gate, live
from ui import format as fmt
from ui.router import ensure_router
from ui.state import DATA_DEFAULTS, MODEL_DEFAULTS, TRAIN_DEFAULTS, build_config, current_settings
from ui.widgets import CHOSEN_RUN, init_state, training_curves

# Every redraw costs CPU in the Streamlit server and the browser, taken from training on a small
# machine: the status every few seconds, the curves (plotly, the expensive part) less often.
LIVE_EVERY_S = 3.0
CHARTS_EVERY_S = 15.0
LOG_LINES = 12
AUTOMATIC = {"max_length": "Automatic", "image_size": "the model's own"}  # what None means for these settings
UNITS = {"image_size": " pixels"}
STATE_ICONS = {
    "queued": ":material/hourglass_top:",
    "running": ":material/directions_run:",
    "completed": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
}

ensure_router()
init_state({**DATA_DEFAULTS, **MODEL_DEFAULTS, **TRAIN_DEFAULTS, "twin_run": None, "w_run_name": "", "w_run_note": ""})


def followed_run() -> RunDir | None:
    """The run this session started, else the one in progress, else the newest (after a browser refresh)."""
    path = st.session_state.train_run
    if path and (Path(path) / "config.json").exists():
        return RunDir(path)
    active = jobs.active_runs()
    return active[-1] if active else jobs.latest_run()


def start(allow_twin: bool = False) -> None:
    state = st.session_state
    state.twin_run = None
    refused = gate.model_problem_when_shared(str(state.model))
    if refused:
        state.start_error = refused
        return
    try:
        config = build_config(state)
        run = jobs.start_run(
            config, state.get("w_run_name"), state.get("w_run_note"), allow_twin=allow_twin, track=state.track
        )
    except jobs.TwinRunError as exc:
        state.start_error, state.twin_run = None, str(exc)  # ask first
        return
    except TransferLabError as exc:
        state.start_error = str(exc)
        return
    state.start_error = None
    state.train_run = str(run.path)
    state.w_run_name = state.w_run_note = ""  # the next run gets its own words


def keep_one() -> None:
    st.session_state.twin_run = None


def keep_track() -> None:
    st.session_state.track = "mlflow" if st.session_state.w_track else "none"


def tracking_choice() -> None:
    """Whether new runs are logged to MLflow too, and where they go (kept with the setup, like the settings)."""
    state = st.session_state
    state.setdefault("w_track", state.track == "mlflow")  # a restored setup: the box shows its choice
    st.checkbox("Log the run to MLflow too", key="w_track", on_change=keep_track, help=md(where_runs_go()))
    if state.track == "mlflow":
        st.caption(md(where_runs_go()))
        command = mlflow_ui_command()
        if command:
            st.code(command, language="bash")


def in_words(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def new_run_section() -> None:
    st.subheader("New run")
    state = st.session_state
    if not state.data_path or state.data_summary is None:
        st.info("Choose your data first.", icon=":material/upload_file:")
        st.page_link("pages/data.py", label="Go to Data", icon=":material/arrow_forward:")
        return
    settings = current_settings(state)
    summary = state.data_summary
    task = get_task(state.data_task)
    choices = "; ".join(
        f"{name.replace('_', ' ')}: {state.get(name + '_name') or state.get(name)}"
        for name in data_settings(task.name)
        if state.get(name)
    )
    data = f"{state.data_name} ({summary['rows']:,} {task.unit}s, {len(summary['classes'])} classes" + (
        f"; {choices})" if choices else ")"
    )
    # The settings only this kind of data has (max length; image size, augmentation), in words.
    sizes = {
        name.replace("_", " "): AUTOMATIC.get(name, "automatic")
        if value is None
        else in_words(value) + UNITS.get(name, "")
        for name, value in settings.items()
        if name in task_settings(task.name)
    }
    rows = {
        "data": data,
        "model": state.model,
        "strategy": state.strategy or "lora",
        "preset": state.preset,
        "epochs": (settings.get("epochs") or "strategy default")
        if STRATEGIES[state.strategy or "lora"].uses_optimizer
        else "none (the classifier is fitted to convergence)",
        **sizes,
    }
    st.dataframe(
        pd.DataFrame({"setting": list(rows), "value": [str(v) for v in rows.values()]}),
        hide_index=True,
        width="stretch",
    )
    busy = len(jobs.active_runs()) >= max_concurrent_runs()
    if busy:
        st.caption("Another run is using the device: a new run waits in the queue and starts when it finishes.")
    left, right = st.columns([1, 2])
    left.text_input(
        "Name (optional)",
        key="w_run_name",
        max_chars=MAX_NAME_CHARS,
        placeholder="e.g. Tickets, LoRA, long texts",
        help="What the lists show for this run; by default its start time, model and strategy.",
    )
    right.text_input(
        "Note (optional)", key="w_run_note", max_chars=MAX_NOTE_CHARS, placeholder="What you are trying, and why"
    )
    tracking_choice()
    st.button("Start training", type="primary", icon=":material/play_arrow:", on_click=start, key="start_training")
    if state.get("start_error"):
        st.error(md(state.start_error), icon=":material/error:")
    if state.get("twin_run"):
        st.warning(md(state.twin_run), icon=":material/content_copy:")
        yes, no = st.columns([1, 3])
        yes.button("Start another anyway", on_click=start, args=(True,), key="start_twin")
        no.button("Don't start it", on_click=keep_one, key="keep_one")
    st.page_link("pages/model.py", label="Change the model, strategy or settings", icon=":material/tune:")


def event_tail(run: RunDir) -> list[dict]:
    tail = st.session_state.get("event_tail")
    if tail is None or tail.path != run.events_path:
        tail = st.session_state.event_tail = live.EventTail(run.events_path)
    return tail.update()


def log_lines(run: RunDir, events: list[dict]) -> list[str]:
    lines = live.tail_lines(run.path / jobs.WORKER_LOG, LOG_LINES)
    if lines:
        return lines
    # A run started from the command line has no worker.log: show its latest events instead.
    return [
        f"step {e['step']}  loss {e['loss']:.4f}" if e.get("type") == "train" else str(e) for e in events[-LOG_LINES:]
    ]


SPEED_HELP = (
    "Training examples through the model per second, every pass over them counted: the same measure for every "
    "strategy. While training, the rate of the latest steps; once done, over the whole time to train."
)


def timings(run: RunDir, status: dict, train_df: pd.DataFrame) -> tuple[str, str]:
    """(time to train, examples per second) in words: a finished run's from metrics.json, the one
    figure Results shows too; a live run's so far."""
    metrics = (run.metrics() or {}) if status.get("state") == "completed" else {}
    if isinstance(metrics.get("train_seconds"), (int, float)):
        rate = metrics.get("train_samples_per_second")
        return fmt.seconds(metrics["train_seconds"]), f"{rate:,.1f}" if isinstance(rate, (int, float)) else "–"
    started = status.get("session_started_at") or status.get("started_at")
    end = status.get("finished_at") or time.time()
    live = f"{train_df['samples_per_second'].iloc[-1]:,.1f}" if not train_df.empty else "–"
    return (fmt.seconds(end - started) if isinstance(started, (int, float)) else "–"), live


def wall_time(run: RunDir, status: dict) -> str | None:
    """A finished run's time from the click on Start to the end, beside its time to train."""
    created, finished = status.get("created_at"), status.get("finished_at")
    train_seconds = (run.metrics() or {}).get("train_seconds")
    if status.get("state") != "completed" or not all(
        isinstance(v, (int, float)) for v in (created, finished, train_seconds)
    ):
        return None
    wall = finished - created
    rest = wall - train_seconds
    return f"From the click on Start to the end: {fmt.seconds(wall)}" + (
        f"; the other {fmt.seconds(rest)} went to starting the worker and waiting for the device"
        + (" (and the pause before resuming)." if any(e.get("type") == "resume" for e in run.events()) else ".")
        if rest >= 1
        else "."
    )


def cancel(run: RunDir) -> None:
    jobs.cancel_run(run)


def resume(run: RunDir) -> None:
    try:
        jobs.resume_run(run)
    except TransferLabError as exc:
        st.session_state.start_error = str(exc)


def curves_view(path: str) -> None:
    """The train loss and validation curves, redrawn every CHARTS_EVERY_S while the run is going."""
    run = RunDir(path)
    events = event_tail(run)
    metrics = run.metrics() or {}
    strategy = (run.config() or {}).get("strategy")
    finished = run.status().get("state") in FINISHED
    training_curves(events, strategy, metrics.get("head"), finished=finished, key="live")


def run_view(path: str, shown_state: str) -> None:
    """Everything about one run, redrawn every LIVE_EVERY_S while it is queued or running."""
    run = RunDir(path)
    status = jobs.refresh_status(run)
    state = status.get("state", "unknown")
    if state != shown_state and (state in FINISHED or shown_state in FINISHED):
        st.rerun()  # started or ended: redraw the page so polling starts or stops
    events = event_tail(run)

    about = run.about()
    st.markdown(f"#### {md(about['name'])}")
    if about["note"]:
        st.caption(md(about["note"]))
    message = str(status.get("message", ""))
    icon = STATE_ICONS.get(state)
    if state == "failed":
        st.error(f"Training failed. {md(message)}", icon=icon)
        st.caption(
            "What to try: the message above says what went wrong. Resume the run to continue from its last "
            "checkpoint, or change the settings on the Model & strategy page and start a new run."
        )
    elif state == "cancelled":
        st.warning(md(message) or "Cancelled.", icon=icon)  # the message says how it stopped
    elif state == "completed":
        st.success(md(message) or "Training completed.", icon=icon)
        # Results and Try it show the run that just finished (they kept showing the one picked before).
        st.session_state[CHOSEN_RUN] = str(run.path)
        st.page_link("pages/results.py", label="See the results", icon=":material/analytics:")
    else:
        st.info(f"{md(state.capitalize())}: {md(message)}", icon=icon)

    fraction, words = live.progress(status)
    st.progress(fraction, text=md(words))

    train_df, eval_df = charts.events_frames(events)
    cols = st.columns(4)
    p = status.get("progress") or {}
    trains = STRATEGIES.get(str((run.config() or {}).get("strategy")))
    epoch = p.get("epoch") if trains is None or trains.uses_optimizer else None  # a fitted head has no epochs
    cols[0].metric("Epoch", f"{epoch:.1f}" if isinstance(epoch, (int, float)) else "–")
    time_to_train, speed = timings(run, status, train_df)
    cols[1].metric("Examples / s", speed, help=SPEED_HELP)
    cols[2].metric(
        "Time to train" if state == "completed" else "Time so far",
        time_to_train,
        help="From loading the data to the test predictions (every session of a resumed run counted). "
        "Results shows the same time.",
    )
    best = eval_df["eval_macro_f1"].max() if "eval_macro_f1" in eval_df else None
    cols[3].metric("Best validation macro-F1", f"{best:.3f}" if best is not None and best == best else "–")

    wall = wall_time(run, status)
    if wall:
        st.caption(wall)
    st.caption("Latest log lines")
    st.code("\n".join(log_lines(run, events)) or "(nothing yet)", language=None)

    if state in jobs.ACTIVE:
        st.button("Cancel training", icon=":material/stop:", on_click=cancel, args=(run,), key="cancel_run")
    elif state in ("failed", "cancelled"):
        st.button(
            "Resume from the last checkpoint", icon=":material/replay:", on_click=resume, args=(run,), key="resume_run"
        )


st.title("Train")
new_run_section()
st.divider()
run = followed_run()
if run is None:
    st.info("No runs yet. Start one above; it trains in the background and shows up here.")
else:
    st.subheader("Run")
    state = jobs.refresh_status(run).get("state", "unknown")
    active = state in jobs.ACTIVE
    st.fragment(run_every=LIVE_EVERY_S if active else None)(run_view)(str(run.path), state)
    st.fragment(run_every=CHARTS_EVERY_S if active else None)(curves_view)(str(run.path))
