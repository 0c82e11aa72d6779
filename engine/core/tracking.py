"""Experiment tracking: which runs go to MLflow, where, and what of a run is logged there.

A run asks for tracking when it starts (``python -m engine.train --track mlflow``, or the Train
page's "Log to MLflow"); the choice is kept in the run folder's ``tracking.json``, not in
config.json. Tracking says where a run is recorded, not what is trained: two runs with the same
settings give the same model whether they are tracked or not, so the twin check, the report's
settings and the learning curve and sweep (which train points from a run's config.json) see the
same config. The points of a curve or sweep are not tracked: a study of a tracked run would
otherwise add its four to eight point runs to the team's experiment unasked.

``tracking.json`` holds the request, then where the run went (``uri``, ``experiment``,
``run_id``) or, when MLflow could not be reached, the ``problem`` in words: the Results page
reads it, and a resumed run continues the same MLflow run. The URI is stored without any user
name or password it may carry.

Torch-free and MLflow-free (the dashboard imports it); ``engine.training.tracking`` does the
logging.

>>> final_metrics({"accuracy": 0.9, "accuracy_ci": [0.85, 0.94], "baselines": {"majority": {"accuracy": 0.5}}})
{'test_accuracy': 0.9, 'test_accuracy_ci_low': 0.85, 'test_accuracy_ci_high': 0.94, 'baseline_majority_accuracy': 0.5}
>>> safe_uri("https://ann:secret@mlflow.example.org/")
'https://mlflow.example.org/'
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from engine.core.errors import ConfigError
from engine.core.rundir import read_object, write_json_atomic
from engine.core.workspace import home

TRACKERS = ("none", "mlflow")  # "none": the default
TRACKING_FILE = "tracking.json"
URI_ENV = "MLFLOW_TRACKING_URI"  # MLflow's own variable: a team server, e.g. http://mlflow.internal:5000
EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"  # MLflow's own variable, when a team routes runs elsewhere
# One experiment for every run: MLflow's run list filters and compares by the data_file, model and
# strategy params, while an experiment per data set would split one project across as many
# experiments as uploads (and an upload's name is often just "data.csv").
EXPERIMENT = "TransferLab"
LOCAL_STORE = "mlruns"  # under the workspace
# A team server that does not answer must not hold a run up for minutes: MLflow's own default is 7
# retries with a growing pause (about 4 minutes per call) and a 120 s timeout. Used unless set.
HTTP_RETRIES = 2
HTTP_TIMEOUT_S = 10
# Keys of the per-step history (``metric_history``): events.jsonl's names -> MLflow's.
TRAIN_KEYS = {"loss": "train_loss", "learning_rate": "learning_rate"}
EVAL_KEYS = {
    "eval_loss": "val_loss",
    "eval_accuracy": "val_accuracy",
    "eval_macro_f1": "val_macro_f1",
    "eval_weighted_f1": "val_weighted_f1",
    "epoch": "epoch",
}
# metrics.json's figures logged as the run's final metrics (besides the scores and baselines).
COST_KEYS = ("train_seconds", "train_samples_per_second", "trainable_params", "total_params", "passes", "steps")


def check_tracker(value: str | None) -> str:
    """The tracker named by ``--track`` (None: "none"), or a ConfigError that lists the choices."""
    value = "none" if value is None else str(value).strip().lower()
    if value not in TRACKERS:
        raise ConfigError(f"Unknown tracker '{value}' for --track. Choose one of: {', '.join(TRACKERS)}.")
    return value


# --- where the runs go ---------------------------------------------------------------------------------
def local_store() -> Path:
    """The local MLflow store used when ``MLFLOW_TRACKING_URI`` is not set: ``$TRANSFERLAB_HOME/mlruns``."""
    return home() / LOCAL_STORE


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set (a team server), else the local store as a ``file:`` URI."""
    return os.environ.get(URI_ENV, "").strip() or local_store().resolve().as_uri()


def experiment_name() -> str:
    return os.environ.get(EXPERIMENT_ENV, "").strip() or EXPERIMENT


def is_file_store(uri: str) -> bool:
    """Whether ``uri`` is a folder (MLflow's file store) rather than a server or a database."""
    return urlsplit(uri).scheme in ("", "file")


def safe_uri(uri: str) -> str:
    """``uri`` without a user name or password, as written to disk and shown on the pages."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def where_runs_go() -> str:
    """In words (plain text), for the dashboard: where tracked runs are logged and how to look at them."""
    uri = tracking_uri()
    if not is_file_store(uri):
        return (
            f"Runs are logged to the MLflow server in MLFLOW_TRACKING_URI ({safe_uri(uri)}), experiment "
            f"'{experiment_name()}': look at them on that server's web page."
        )
    return (
        f"Runs are logged to the MLflow store in {uri}, experiment '{experiment_name()}'"
        + (
            ""
            if os.environ.get(URI_ENV, "").strip()
            else " (set MLFLOW_TRACKING_URI before starting the dashboard to send them to your team's MLflow server)"
        )
        + ". To look at them, run the command below; it needs the full mlflow package (pip install mlflow): "
        "TransferLab installs only mlflow-skinny, which logs runs but has no web page."
    )


def mlflow_ui_command() -> str | None:
    """The command that shows the local store in MLflow's web page (None when runs go to a server). MLflow 3
    opens a file store only with MLFLOW_ALLOW_FILE_STORE set."""
    uri = tracking_uri()
    return f"MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri {uri}" if is_file_store(uri) else None


# --- the run folder's tracking.json -----------------------------------------------------------------------
def tracking_path(run_path: str | Path) -> Path:
    return Path(run_path) / TRACKING_FILE


def request_tracking(run_path: str | Path, tracker: str | None) -> None:
    """Record that the run asked for ``tracker`` (nothing is written for "none")."""
    tracker = check_tracker(tracker)
    if tracker != "none":
        write_json_atomic(tracking_path(run_path), {"tracker": tracker})


def tracking_record(run_path: str | Path) -> dict[str, Any] | None:
    """The run's tracking.json: None when the run is not tracked."""
    record = read_object(tracking_path(run_path))
    return record if record and record.get("tracker") in TRACKERS[1:] else None


def tracking_caption(record: Mapping[str, Any] | None) -> str | None:
    """One sentence for Results: where the run was logged, or why it was not.

    >>> tracking_caption({"tracker": "mlflow", "uri": "file:///w/mlruns", "experiment": "TransferLab", "run_id": "ab12"})
    "Logged to MLflow at file:///w/mlruns, experiment 'TransferLab', MLflow run ab12."
    """
    if not record:
        return None
    if record.get("problem"):
        return str(record["problem"])
    if not record.get("run_id"):
        return "Logging to MLflow was asked for, but the run has not reached MLflow yet."
    return (
        f"Logged to MLflow at {record.get('uri')}, experiment '{record.get('experiment')}', "
        f"MLflow run {record['run_id']}."
    )


# --- what is logged ------------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    """A finite number as float (MLflow stores floats; NaN and infinities are left out), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def run_params(config: Mapping[str, Any], about: Mapping[str, Any]) -> dict[str, str]:
    """The run's settings as MLflow params: config.json's (unset ones as "not set"), the data file's name
    and the run's name. The note goes to the MLflow run's description instead (a tag)."""
    params = {key: "not set" if value is None else str(value) for key, value in config.items() if key != "version"}
    params["data_file"] = Path(str(config.get("data") or "")).name
    params["run_name"] = str(about.get("name") or "")
    return params


def metric_history(events: Iterable[Mapping[str, Any]]) -> list[tuple[str, float, int, int]]:
    """(key, value, step, timestamp in ms) for each training loss and each evaluation in events.jsonl, as the
    trainer wrote them: the training loss every few steps, the validation scores once per evaluation
    (every epoch, or every few epochs on long runs). The step is the optimizer step."""
    history = []
    for event in events:
        keys = {"train": TRAIN_KEYS, "eval": EVAL_KEYS}.get(str(event.get("type")))
        step = event.get("step")
        if keys is None or not isinstance(step, int):
            continue
        stamp = int(1000 * (_number(event.get("time")) or 0))
        for name, key in keys.items():
            value = _number(event.get(name))
            if value is not None:
                history.append((key, value, step, stamp))
    return history


def final_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """metrics.json's results as MLflow metrics: the test scores with their 95% interval bounds, each
    baseline's scores, the time to train, examples per second and the model's size."""
    out: dict[str, float] = {}

    def put(key: str, value: Any) -> None:
        number = _number(value)
        if number is not None:
            out[key] = number

    for name in ("accuracy", "macro_f1", "weighted_f1"):
        put(f"test_{name}", metrics.get(name))
        interval = metrics.get(f"{name}_ci")
        if isinstance(interval, list | tuple) and len(interval) == 2:
            put(f"test_{name}_ci_low", interval[0])
            put(f"test_{name}_ci_high", interval[1])
    for baseline, scores in (metrics.get("baselines") or {}).items():
        for name in ("accuracy", "macro_f1"):
            put(f"baseline_{baseline}_{name}", (scores or {}).get(name))
    for key in (*COST_KEYS, "best_validation_macro_f1"):
        put(key, metrics.get(key))
    return out
