"""Logging a run to MLflow, for the runs that asked for it (``engine.core.tracking`` says which and where).

When a run starts, its MLflow run is created (or, when resumed, the same one reopened) with the run's
settings as params and its folder and id as tags; when it completes, the per-step history of the
training loss and the validation scores (read back from events.jsonl, so a resumed run logs each step
once), the final metrics, and the model folder, metrics.json and config.json as artifacts. The MLflow
run ends FINISHED, FAILED or KILLED (cancelled) with the TransferLab run.

Tracking never stops a run. Whatever MLflow or the network raises (a server that does not answer, a
store that cannot be written, a missing package) becomes a note in words, in events.jsonl and in the
run's tracking.json (shown on Results), and training goes on without it. MLflow is imported only when a
run is tracked: it takes seconds to import.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from engine.core import tracking as rules
from engine.core.rundir import RunDir, write_json_atomic

log = logging.getLogger(__name__)


# What MLflow's HTTP client says, through requests and urllib3, when nothing answers at the address.
NO_ANSWER = ("Connection refused", "Max retries exceeded", "timed out", "Name or service not known", "NewConnection")


def _plain(exc: BaseException) -> str:
    """An MLflow, network or disk error in a few words (MLflow's messages can run to several paragraphs)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if any(sign in text for sign in NO_ANSWER):
        return "the server did not answer: check that it is running and that MLFLOW_TRACKING_URI is right"
    if "error code 401" in text or "error code 403" in text:
        return (
            "the server refused the request: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or "
            "MLFLOW_TRACKING_TOKEN) before starting TransferLab"
        )
    if "error code 404" in text:
        return "something answered at that address, but not an MLflow server: check MLFLOW_TRACKING_URI"
    if isinstance(exc, OSError) and exc.filename:
        return f"cannot write {exc.filename}: {exc.strerror or text}"
    return text if len(text) <= 300 else text[:297] + "..."


class MlflowTracker:
    """One TransferLab run's MLflow run. Every method swallows (and reports) tracking problems."""

    def __init__(self, run: RunDir, client: Any, record: dict[str, Any]) -> None:
        self.run, self.client, self.record = run, client, record
        self.failed = False

    @property
    def run_id(self) -> str:
        return self.record["run_id"]

    def _give_up(self, what: str, exc: BaseException) -> None:
        self.failed = True
        give_up(self.run, self.record, what, exc)

    def finish(self, metrics: dict[str, Any]) -> None:
        """Log the history, the final metrics and the artifacts of a completed run."""
        if self.failed:
            return
        from mlflow.entities import Metric

        try:
            now = int(time.time() * 1000)
            history = [Metric(k, v, t, s) for k, v, s, t in rules.metric_history(self.run.events())]
            final = [Metric(k, v, now, 0) for k, v in rules.final_metrics(metrics).items()]
            self.client.log_batch(self.run_id, metrics=[*history, *final])
            self.client.log_artifacts(self.run_id, str(self.run.model_dir), artifact_path="model")
            for path in (self.run.metrics_path, self.run.config_path):
                self.client.log_artifact(self.run_id, str(path))
        except Exception as exc:  # any tracking problem must leave the run intact
            self._give_up("when logging the results", exc)
            return
        self.record["logged_at"] = time.time()
        _save(self.run, self.record)

    def end(self, status: str) -> None:
        """Close the MLflow run: FINISHED, FAILED or KILLED."""
        if self.failed and status == "FINISHED":
            status = "FAILED"  # its results are missing from MLflow
        try:
            self.client.set_terminated(self.run_id, status=status)
        except Exception as exc:  # as above
            if not self.failed:
                self._give_up("when closing the MLflow run", exc)


def give_up(run: RunDir, record: dict[str, Any], what: str, exc: BaseException) -> None:
    """Say in the run (events.jsonl, tracking.json) that tracking failed and why; training goes on."""
    where = record.get("uri") or rules.safe_uri(rules.tracking_uri())
    record["problem"] = (
        f"Logging to MLflow at {where} failed {what} ({_plain(exc)}). Training went on without it: everything "
        "is in the run's folder."
    )
    log.warning("tracking: %s", record["problem"])
    try:
        run.append_event({"type": "warning", "message": record["problem"]})
        _save(run, record)
    except OSError as error:  # the run folder itself cannot be written: training reports that on its own
        log.warning("could not record the tracking problem: %s", error)


def _save(run: RunDir, record: dict[str, Any]) -> None:
    write_json_atomic(rules.tracking_path(run.path), record)


def _client(uri: str) -> Any:
    # Set before MLflow is imported: it reads them once. The user's own values win.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(rules.HTTP_RETRIES))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(rules.HTTP_TIMEOUT_S))
    if rules.is_file_store(uri):
        # MLflow 3 refuses its file store unless asked: its default is a sqlite database, which needs
        # SQLAlchemy and Alembic (not installed). The file store still reads and writes every run.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _experiment_id(client: Any, name: str) -> str:
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:  # created meanwhile by another run
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def _open(run: RunDir, record: dict[str, Any]) -> MlflowTracker:
    """The MLflow run of ``run``: created, or reopened when the record names one (a resumed run)."""
    from mlflow.entities import Param, RunTag

    current = rules.tracking_uri()
    # A resumed run goes where it started; the environment's URI is used when it is that same place (it may
    # hold the credentials that the record leaves out).
    uri = current if record.get("uri") in (None, rules.safe_uri(current)) else record["uri"]
    client = _client(uri)
    about = run.about()
    tags = {
        "transferlab.run": run.name,
        "transferlab.run_dir": str(run.path.resolve()),
        "mlflow.source.name": "TransferLab",
    }
    if about["note"]:
        tags["mlflow.note.content"] = about["note"]  # the MLflow run's description
    mlflow_run = None
    if record.get("run_id"):
        mlflow_run = client.get_run(record["run_id"])
        client.update_run(record["run_id"], status="RUNNING", name=about["name"])
    else:
        experiment = record.get("experiment") or rules.experiment_name()
        mlflow_run = client.create_run(_experiment_id(client, experiment), run_name=about["name"])
        record.update(uri=rules.safe_uri(uri), experiment=experiment, run_id=mlflow_run.info.run_id)
        record.pop("problem", None)
        _save(run, record)  # before anything else: a resumed run must find this MLflow run again
    logged = mlflow_run.data.params
    # A param cannot change once logged: a resumed run logs only the ones missing (the name may have changed).
    params = [Param(k, v) for k, v in rules.run_params(run.config() or {}, about).items() if k not in logged]
    client.log_batch(record["run_id"], params=params, tags=[RunTag(k, v) for k, v in tags.items()])
    return MlflowTracker(run, client, record)


def start_tracking(run: RunDir) -> MlflowTracker | None:
    """The run's MLflow tracker when it asked for one and MLflow could be reached, else None (and a note)."""
    record = rules.tracking_record(run.path)
    if record is None:
        return None
    try:
        run.set_status("running", "Connecting to MLflow")
        return _open(run, record)
    except Exception as exc:  # any tracking problem must leave the run intact
        give_up(run, record, "when starting", exc)
        return None
