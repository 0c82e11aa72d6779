"""Experiment tracking with MLflow: a tracked run read back with MLflow's own client from a local store,
an untracked run that never touches MLflow, a tracking failure that leaves the run complete, a resumed
run that continues its MLflow run, and the CLI flag and the dashboard setting that ask for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import session

from engine.core import tracking
from engine.core.config import TrainConfig
from engine.core.errors import ConfigError
from engine.core.jobs import prepare_run
from engine.core.rundir import RunDir, write_json_atomic
from engine.train import build_parser, main
from engine.training.trainer import train
from ui import setup

ROOT = Path(__file__).resolve().parent.parent
TINY = {"epochs": 2, "batch_size": 8, "max_length": 32, "threads": 2, "min_steps": 0}
# What engine.training.tracking sets when unset (it must not leak from one test into the next).
MLFLOW_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_ALLOW_FILE_STORE",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
)


@pytest.fixture()
def mlflow_env(workspace, monkeypatch):
    """No MLflow variable set, as on a fresh computer, and each restored after the test."""
    for key in (*MLFLOW_ENV, tracking.EXPERIMENT_ENV):
        monkeypatch.setenv(key, os.environ.get(key, "unset"))  # records how to undo
        monkeypatch.delenv(key)
    return workspace


def tracked_run(tmp_path: Path, model: Path, data: Path, strategy: str = "full", **kw) -> RunDir:
    config = TrainConfig(data=str(data), model=str(model), strategy=strategy, **{**TINY, **kw})
    return prepare_run(config, tmp_path / "run", "Tiny tracked run", "Trying MLflow.", track="mlflow")


def client_for(run: RunDir):
    from mlflow.tracking import MlflowClient

    record = tracking.tracking_record(run.path)
    return MlflowClient(tracking_uri=record["uri"]), record["run_id"]


def test_a_tracked_run_reads_back_with_mlflows_own_client(tmp_path, mlflow_env, tiny_bert, topic_csv):
    run = tracked_run(tmp_path, tiny_bert, topic_csv)
    metrics = train(TrainConfig.load(run.config_path), run)
    assert run.status()["state"] == "completed"

    record = tracking.tracking_record(run.path)
    store = mlflow_env / "mlruns"
    assert record["uri"] == store.resolve().as_uri() and record["experiment"] == "TransferLab"
    assert store.is_dir() and "problem" not in record
    client, run_id = client_for(run)
    logged = client.get_run(run_id)
    assert logged.info.status == "FINISHED" and logged.info.run_name == "Tiny tracked run"
    assert client.get_experiment(logged.info.experiment_id).name == "TransferLab"

    params = logged.data.params
    assert params["strategy"] == "full" and params["model"] == str(tiny_bert) and params["epochs"] == "2"
    assert params["data_file"] == "topics.csv" and params["run_name"] == "Tiny tracked run"
    assert params["learning_rate"] == "not set"  # what config.json records: the strategy's default was used
    tags = logged.data.tags
    assert tags["transferlab.run_dir"] == str(run.path.resolve()) and tags["transferlab.run"] == run.name
    assert tags["mlflow.note.content"] == "Trying MLflow."

    # The validation scores once per epoch, at the steps the trainer evaluated; the loss as it was logged.
    evals = [e for e in run.events() if e["type"] == "eval"]
    assert len(evals) == 2
    for key in ("val_accuracy", "val_macro_f1", "val_loss", "epoch"):
        history = client.get_metric_history(run_id, key)
        assert [m.step for m in history] == [e["step"] for e in evals], key
    assert [m.value for m in client.get_metric_history(run_id, "epoch")] == pytest.approx([1.0, 2.0])
    assert [m.value for m in client.get_metric_history(run_id, "val_accuracy")] == pytest.approx(
        [e["eval_accuracy"] for e in evals]
    )
    losses = [e["loss"] for e in run.events() if e["type"] == "train"]
    assert [m.value for m in client.get_metric_history(run_id, "train_loss")] == pytest.approx(losses)

    final = logged.data.metrics
    assert final["test_accuracy"] == pytest.approx(metrics["accuracy"])
    assert final["test_macro_f1"] == pytest.approx(metrics["macro_f1"])
    assert [final["test_accuracy_ci_low"], final["test_accuracy_ci_high"]] == pytest.approx(metrics["accuracy_ci"])
    assert [final["test_macro_f1_ci_low"], final["test_macro_f1_ci_high"]] == pytest.approx(metrics["macro_f1_ci"])
    for name, scores in metrics["baselines"].items():
        assert final[f"baseline_{name}_accuracy"] == pytest.approx(scores["accuracy"])
    assert final["train_seconds"] == pytest.approx(metrics["train_seconds"])
    assert final["train_samples_per_second"] == pytest.approx(metrics["train_samples_per_second"])

    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"model", "metrics.json", "config.json"} <= artifacts
    model_files = {Path(a.path).name for a in client.list_artifacts(run_id, "model")}
    assert model_files == {p.name for p in run.model_dir.iterdir()}
    assert {"transferlab.json", "head.safetensors", "README.md"} <= model_files
    assert run_id in tracking.tracking_caption(record)


def test_an_untracked_run_writes_nothing_and_never_imports_mlflow(
    tmp_path, mlflow_env, tiny_bert, topic_csv, monkeypatch
):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # an import of mlflow would now fail, and be noted
    config = TrainConfig(data=str(topic_csv), model=str(tiny_bert), strategy="frozen", **TINY)
    run = prepare_run(config, tmp_path / "run")
    train(config, run)
    assert run.status()["state"] == "completed"
    assert not (run.path / tracking.TRACKING_FILE).exists() and not (mlflow_env / "mlruns").exists()
    assert not [e for e in run.events() if "MLflow" in str(e.get("message"))]
    # Nor on import: the trainer and the CLI load engine.training.tracking, which imports mlflow only when used.
    code = "import sys, engine.training.tracking, engine.core.jobs; print('mlflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


@pytest.mark.parametrize("where", ["server", "store"])
def test_a_tracking_failure_leaves_the_run_complete_with_a_note(
    tmp_path, mlflow_env, tiny_bert, topic_csv, monkeypatch, where
):
    if where == "server":
        monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
        place, why = "127.0.0.1:9", "the server did not answer"
    else:
        mlflow_env.mkdir(parents=True, exist_ok=True)
        (mlflow_env / "mlruns").write_text("a file where the store's folder should be")
        place, why = "mlruns", "cannot write"
    run = tracked_run(tmp_path, tiny_bert, topic_csv, strategy="frozen")
    started = time.time()
    metrics = train(TrainConfig.load(run.config_path), run)
    assert metrics is not None and run.status()["state"] == "completed"
    start = next(e for e in run.events() if e["type"] == "start")
    assert start["time"] - started < 20  # MLflow's own retries would take minutes
    record = tracking.tracking_record(run.path)
    assert place in record["problem"] and f"failed when starting ({why}" in record["problem"]
    assert "Training went on without it" in record["problem"] and "run_id" not in record
    assert [e for e in run.events() if e["type"] == "warning" and e["message"] == record["problem"]]
    assert tracking.tracking_caption(record) == record["problem"]


def test_a_resumed_run_continues_its_mlflow_run(tmp_path, mlflow_env, tiny_bert, topic_csv):
    run = tracked_run(tmp_path, tiny_bert, topic_csv, strategy="lora")
    run.request_cancel()
    assert train(TrainConfig.load(run.config_path), run) is None
    client, run_id = client_for(run)
    assert client.get_run(run_id).info.status == "KILLED"

    assert main(["--resume", str(run.path), "--track", "none"]) == 2  # the choice is made at the start
    assert main(["--resume", str(run.path)]) == 0
    assert tracking.tracking_record(run.path)["run_id"] == run_id
    assert client.get_run(run_id).info.status == "FINISHED"
    experiment = client.get_experiment_by_name("TransferLab").experiment_id
    assert len(client.search_runs([experiment])) == 1
    evals = [e for e in run.events() if e["type"] == "eval"]  # after the resume, each step once
    assert [m.step for m in client.get_metric_history(run_id, "val_accuracy")] == [e["step"] for e in evals]


def test_the_cli_flag_asks_for_tracking_without_changing_the_config(tmp_path, workspace):
    args = build_parser().parse_args(["--data", "a.csv", "--out", "x", "--track", "mlflow"])
    assert args.track == "mlflow" and build_parser().parse_args(["--data", "a.csv"]).track is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--data", "a.csv", "--track", "wandb"])
    assert tracking.check_tracker("MLflow") == "mlflow" and tracking.check_tracker(None) == "none"
    with pytest.raises(ConfigError, match="Choose one of: none, mlflow"):
        tracking.check_tracker("wandb")

    config = TrainConfig(data="a.csv", model="minilm", strategy="frozen")
    tracked = prepare_run(config, tmp_path / "tracked", track="mlflow")
    plain = prepare_run(config, tmp_path / "plain", track="none")
    assert tracking.tracking_record(tracked.path) == {"tracker": "mlflow"}
    assert tracking.tracking_record(plain.path) is None and not (plain.path / tracking.TRACKING_FILE).exists()
    # Tracking is not a setting: both config.json files are the same (the twin check compares them), and load back.
    assert tracked.config() == plain.config() and "track" not in tracked.config()
    assert TrainConfig.load(tracked.config_path) == config


def test_credentials_in_the_uri_are_never_written(tmp_path, workspace, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://ann:secret@mlflow.example.org")
    assert "secret" not in tracking.where_runs_go() and tracking.mlflow_ui_command() is None


# --- the dashboard ------------------------------------------------------------------------------------------
def test_the_dashboard_setting_persists_and_reaches_the_run(mlflow_env, monkeypatch):
    from engine.core import jobs

    started = []

    def start_without_worker(config, name=None, note=None, allow_twin=False, track=None):
        run = prepare_run(config, jobs.runs_dir() / f"run{len(started)}", name, note, track)
        started.append(run)
        return run

    monkeypatch.setattr(jobs, "start_run", start_without_worker)
    at = session()
    at.radio(key="w_data_source").set_value("demo").run()
    at.switch_page("pages/train.py").run()
    assert at.checkbox(key="w_track").value is False
    at.checkbox(key="w_track").check().run()
    assert at.session_state.track == "mlflow"
    shown = " ".join(c.value for c in at.caption)
    assert "mlruns" in shown and "pip install mlflow" in shown
    assert at.code[0].value.startswith("MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri file:")

    again = session({setup.QUERY_KEY: at.session_state[setup.ID_KEY]}, page="pages/train.py")  # a reload
    assert again.checkbox(key="w_track").value is True
    again.button(key="start_training").click().run()
    assert not again.exception and len(started) == 1
    assert tracking.tracking_record(started[0].path) == {"tracker": "mlflow"}
    assert "track" not in json.loads(started[0].config_path.read_text())

    again.checkbox(key="w_track").uncheck().run()
    again.button(key="start_training").click().run()
    assert tracking.tracking_record(started[1].path) is None


def test_results_say_where_a_tracked_run_went(mlflow_env):
    run = RunDir(mlflow_env / "runs" / "done")
    run.path.mkdir(parents=True)
    TrainConfig(data="data/spam_emails.csv", model="minilm", strategy="frozen").save(run.config_path)
    run.set_status("completed", "done")
    write_json_atomic(
        run.metrics_path,
        {
            "accuracy": 0.9,
            "macro_f1": 0.85,
            "labels": ["ham", "spam"],
            "confusion_matrix": [[8, 1], [1, 10]],
            "per_class": {
                "ham": {"precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 9},
                "spam": {"precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 11},
            },
            "train_seconds": 12.0,
            "trainable_params": 1000,
            "total_params": 100_000,
        },
    )
    record = {"tracker": "mlflow", "uri": "http://mlflow.example.org", "experiment": "TransferLab", "run_id": "f00d"}
    write_json_atomic(run.path / tracking.TRACKING_FILE, record)
    at = session(page="pages/results.py")
    [caption] = [c.value.replace("\\", "").replace("\u2060", "") for c in at.caption if "MLflow" in c.value]
    assert "f00d" in caption and "TransferLab" in caption and "mlflow.example.org" in caption
