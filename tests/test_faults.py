"""Fault injection: a worker killed with SIGKILL at each phase of a run, then resumed, must give the
result of the same run uninterrupted (``engine.core.faults`` names the phases)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.core.rundir import RunDir, checkpoint_complete

ROOT = Path(__file__).resolve().parent.parent
# 72 training and validation examples: 3 epochs of 8 steps, a checkpoint at each evaluation (every
# epoch), so the third one rotates the first out (two kept).
FLAGS = {"epochs": 3, "batch-size": 8, "max-length": 32, "threads": 2, "min-steps": 0}


def cli(*args: str, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TRANSFERLAB_KILL_AT"}
    env["TRANSFERLAB_CHECKPOINT_SECONDS"] = "0"
    if kill_at:
        env["TRANSFERLAB_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "engine.train", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def start(data: Path, model: Path, strategy: str, out: Path, kill_at: str | None = None):
    flags = {"data": data, "model": model, "strategy": strategy, "out": out, **FLAGS}
    return cli(*[item for k, v in flags.items() for item in (f"--{k}", str(v))], kill_at=kill_at)


def result(out: Path) -> tuple[dict, str]:
    metrics = json.loads((out / "metrics.json").read_text())
    kept = {k: metrics[k] for k in ("accuracy", "macro_f1", "confusion_matrix", "steps", "best_checkpoint")}
    return kept, (out / "predictions.csv").read_text()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_bert):
    from conftest import make_rows, write_csv

    folder = tmp_path_factory.mktemp("faults")
    os.environ.setdefault("TRANSFERLAB_HOME", str(folder / "home"))
    data = write_csv(folder / "topics.csv", make_rows(30, seed=11))
    baseline = {}
    for strategy in ("lora", "frozen"):
        done = start(data, tiny_bert, strategy, folder / f"baseline-{strategy}")
        assert done.returncode == 0, done.stderr[-2000:]
        baseline[strategy] = result(folder / f"baseline-{strategy}")
    return data, baseline


@pytest.mark.parametrize(
    "phase, strategy",
    [("features", "frozen"), ("step", "lora"), ("checkpoint-save", "lora"), ("rotate", "lora"), ("final-save", "lora")],
)
def test_resume_after_a_kill_gives_the_uninterrupted_result(phase, strategy, uninterrupted, tiny_bert, tmp_path):
    data, baseline = uninterrupted
    out = tmp_path / "run"
    killed = start(data, tiny_bert, strategy, out, kill_at=phase)
    assert killed.returncode == -9, (phase, killed.stderr[-2000:])
    run = RunDir(out)
    assert run.status()["state"] == "running" and not run.metrics_path.exists()
    if phase == "checkpoint-save":  # a checkpoint cut short is passed over
        assert any(not checkpoint_complete(p) for p in run.checkpoints_dir.glob("checkpoint-*"))
    resumed = cli("--resume", str(out))
    assert resumed.returncode == 0, (phase, resumed.stderr[-2000:])
    assert result(out) == baseline[strategy], phase
    assert run.status()["state"] == "completed" and not run.checkpoints_dir.exists()
    assert not list(out.glob(".model-*"))  # no temporary folder left


def test_a_kill_during_cleanup_leaves_a_completed_run(uninterrupted, tiny_bert, tmp_path):
    """The bug: a run with model/, metrics.json and predictions.csv on disk showed as failed."""
    from engine.core import jobs

    data, baseline = uninterrupted
    out = tmp_path / "run"
    killed = start(data, tiny_bert, "lora", out, kill_at="cleanup")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert jobs.refresh_status(RunDir(out))["state"] == "completed"
    assert result(out) == baseline["lora"]


def test_lora_checkpoints_hold_the_adapters_not_the_frozen_backbone(uninterrupted, tiny_bert, tmp_path):
    """The bug: each LoRA checkpoint held the whole model (87 MB for MiniLM)."""
    from safetensors import safe_open

    data, _ = uninterrupted
    out = tmp_path / "run"
    assert start(data, tiny_bert, "lora", out, kill_at="checkpoint").returncode == -9
    checkpoint = RunDir(out).last_checkpoint()
    with safe_open(str(checkpoint / "model.safetensors"), "pt") as f:
        names = list(f.keys())
    assert any("lora_" in n for n in names) and any("head" in n for n in names), names
    assert not [n for n in names if "word_embeddings" in n or n.endswith("query.base_layer.weight")], names


@pytest.mark.parametrize(
    "target",
    [
        "engine.core.rundir.RunDir.append_event",  # events.jsonl, while training
        "engine.training.trainer.write_test_predictions",  # predictions.csv
        "engine.training.trainer.write_json_atomic",  # metrics.json
        "engine.tasks.text.model.atomic_folder",  # the model folder
    ],
)
def test_a_full_disk_at_each_write_fails_plainly_and_the_run_resumes(target, tiny_bert, tmp_path, monkeypatch):
    """The bug: on a full disk the worker exited, the status stayed "running" and the reason was lost."""
    import errno

    from conftest import make_rows, write_csv

    from engine.core.config import TrainConfig
    from engine.core.errors import StorageError
    from engine.core.jobs import prepare_run
    from engine.training.trainer import train

    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path / "home"))
    data = write_csv(tmp_path / "topics.csv", make_rows(30, seed=11))
    config = TrainConfig(data=str(data), model=str(tiny_bert), strategy="frozen", max_length=32, threads=2)
    expected = train(config, prepare_run(config, tmp_path / "uninterrupted"))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    run = prepare_run(config, tmp_path / "run")
    with monkeypatch.context() as patch:
        patch.setattr(target, full)
        with pytest.raises(StorageError, match="the disk is full"):
            train(config, run)
    status = run.status()
    assert status["state"] == "failed" and "the disk is full" in status["message"], status
    metrics = train(config, run, resume=True)  # space freed
    assert metrics["accuracy"] == expected["accuracy"] and metrics["confusion_matrix"] == expected["confusion_matrix"]
