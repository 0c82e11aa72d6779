"""Adaptations as jobs: the worker tells them from training runs, they queue for the same device slots as
training, cancel and resume from the dashboard's functions, and the time estimate before starting."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from test_adapt import domain_texts

from engine.core.adapt_jobs import (
    adaptations,
    cancel_adaptation,
    expected_kind,
    job_settings,
    latest_adaptation,
    resume_adaptation,
    start_adaptation,
)
from engine.core.adaptation import AdaptConfig, list_adapted_models
from engine.core.config import TrainConfig
from engine.core.errors import ConfigError
from engine.core.jobs import refresh_status, start_run
from engine.core.locks import pid_alive, try_device_slot
from engine.core.rundir import RunDir
from engine.estimate.adapt import adaptation_steps, estimate_adaptation

TIMEOUT = 180


@pytest.fixture()
def texts_txt(tmp_path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("\n".join(domain_texts()) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def one_slot(workspace, monkeypatch):
    """One job at a time; afterwards no worker of the test is left running."""
    monkeypatch.setenv("TRANSFERLAB_MAX_CONCURRENT_RUNS", "1")
    yield workspace
    for folder in ("runs", "adaptations"):
        for path in (workspace / folder).iterdir() if (workspace / folder).is_dir() else []:
            pid = RunDir(path).status().get("pid")
            try:
                if (
                    pid != os.getpid()
                    and pid_alive(pid)
                    and b"engine.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
                ):
                    os.killpg(pid, signal.SIGKILL)
            except (OSError, TypeError):
                pass


def wait_for(run: RunDir, check, what: str, timeout: float = TIMEOUT) -> dict:
    deadline = time.time() + timeout
    while True:
        status = refresh_status(run)
        if check(status):
            return status
        if time.time() > deadline:
            log = (run.path / "worker.log").read_text(errors="replace")[-3000:] if run.path.exists() else ""
            raise AssertionError(f"{run.name}: not {what} after {timeout} s; status {status}\n{log}")
        time.sleep(0.2)


def test_the_settings_file_says_which_kind_of_job_a_folder_holds(tmp_path):
    AdaptConfig(data="notes.txt", model="minilm").save(tmp_path / "adapt.json")
    TrainConfig(data="a.csv", model="minilm").save(tmp_path / "train.json")
    assert type(job_settings(tmp_path / "adapt.json")) is AdaptConfig
    assert type(job_settings(tmp_path / "train.json")) is TrainConfig
    with pytest.raises(ConfigError, match="not an adaptation"):
        AdaptConfig(data="notes.txt", kind="train")
    assert (expected_kind("minilm"), expected_kind("smollm2")) == ("encoder", "decoder")


def test_the_estimate_grows_with_steps_and_method_and_counts_lora_parameters(tiny_bert):
    config = AdaptConfig(data="notes.txt", model=str(tiny_bert), max_steps=100, threads=1, max_length=32)
    (short, steps), (long, _) = (
        estimate_adaptation(config, 1000, "mlm", 20),
        estimate_adaptation(AdaptConfig(**{**config.to_dict(), "max_steps": 400}), 1000, "mlm", 20),
    )
    assert steps == 100 and long.seconds > short.seconds
    tsdae, _ = estimate_adaptation(config, 1000, "tsdae", 20)
    assert tsdae.seconds > short.seconds and tsdae.total_params > short.total_params
    full, _ = estimate_adaptation(AdaptConfig(**{**config.to_dict(), "strategy": "full"}), 1000, "mlm", 20)
    assert 0 < short.trainable_params < full.trainable_params == full.total_params
    assert short.memory_bytes > 0 and short.device == "CPU (1 core)"
    # One pass: the texts left after the held-out ones, in batches.
    assert adaptation_steps(AdaptConfig(data="x.txt", batch_size=10, epochs=3), 1000) == 3 * 90


def test_an_adaptation_queues_behind_training_for_the_same_slot_then_cancel_and_resume(
    one_slot, tiny_bert, texts_txt, topic_csv
):
    slot = try_device_slot(1, Path("held-by-the-test"))  # the device is busy
    assert slot is not None
    try:
        training = start_run(
            TrainConfig(data=str(topic_csv), model=str(tiny_bert), strategy="frozen", max_length=32, threads=1)
        )
        time.sleep(0.5)
        config = AdaptConfig(data=str(texts_txt), model=str(tiny_bert), max_steps=8, learning_rate=5e-3, threads=1)
        run = start_adaptation(config)
        assert run.path.parent == one_slot / "adaptations" and run.config()["kind"] == "adapt"
        assert start_adaptation(config).path == run.path  # a second click follows the same adaptation
        status = wait_for(run, lambda s: "Waiting for the run" in s.get("message", ""), "waiting for training")
        assert status["state"] == "queued" and training.name in status["message"], status
        cancel_adaptation(run)
        status = wait_for(run, lambda s: s.get("state") == "cancelled", "cancelled")
        assert "nothing was trained" in status["message"]
        cancel_adaptation(training)
        wait_for(training, lambda s: s.get("state") == "cancelled", "cancelled")
    finally:
        os.close(slot)

    resume_adaptation(run)
    status = wait_for(run, lambda s: s.get("state") not in ("queued", "running"), "finished")
    assert status["state"] == "completed", status
    metrics = run.metrics()
    assert metrics["steps"] == 8 and metrics["method"] == "mlm" and (run.path / "model" / "adaptation.json").is_file()
    assert [a["path"] for a in list_adapted_models()] == [str(run.path)]
    assert latest_adaptation().path == run.path and adaptations()[0]["state"] == "completed"
    with pytest.raises(ConfigError, match="already completed"):
        resume_adaptation(run)
    with pytest.raises(ConfigError, match="not an adaptation"):
        resume_adaptation(training)
