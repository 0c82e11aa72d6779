"""Prove it: a completed transfer run starts its scratch twin (same settings, split and budget) from Results,
follows it while it trains, then shows both side by side with what transfer bought."""

from __future__ import annotations

import time

import pytest
from test_pages import fake_run, open_app, texts

from engine.core import jobs
from engine.core.config import TrainConfig
from engine.core.errors import ConfigError
from engine.core.prove_it import PROVE_IT_FILE, scratch_config, start_prove_it, transfer_gain, twin_of
from engine.core.rundir import RunDir, read_json, write_json_atomic
from engine.core.words import markdown_text as md
from engine.training.trainer import train

TIMEOUT_S = 240


def test_the_twin_has_the_runs_settings_and_budget_with_scratch_weights():
    config = TrainConfig(
        data="/d/spam.csv", model="minilm", strategy="lora", learning_rate=1e-3, min_steps=10, seed=7, batch_size=8
    ).to_dict()
    twin = scratch_config(config, {"epochs": 3, "max_length": 96, "image_size": None})
    assert (twin.strategy, twin.epochs, twin.min_steps, twin.max_length, twin.seed) == ("scratch", 3, 10, 96, 7)
    assert (twin.batch_size, twin.data, twin.model) == (8, "/d/spam.csv", "minilm")
    assert twin.learning_rate is None  # scratch's own: the run's rate was chosen for a pre-trained model
    # A frozen run's head is fitted, not trained for epochs: the twin gets scratch's own.
    frozen = TrainConfig(data="/d/shoes.zip", model="efficientnet-lite0", strategy="frozen").to_dict()
    twin = scratch_config(frozen, {"epochs": 1, "image_size": 64})
    assert (twin.epochs, twin.image_size) == (None, 64)


def test_the_gain_in_words():
    assert transfer_gain({"accuracy": 0.9}, {"accuracy": 0.6}).startswith(
        "Starting from the pre-trained model gave +30 points of accuracy"
    )
    assert transfer_gain({"accuracy": 0.6}, {"accuracy": 0.7}).startswith("Training from scratch did as well or better")


def fake_twin(root, config: TrainConfig, name=None, note=None, **kw) -> RunDir:
    """jobs.start_run without a worker: the run folder, queued (this process's pid keeps it alive)."""
    run = jobs.prepare_run(config, root / "runs" / "twin", name, note)
    fake_twin.started.append(config)
    return run


def test_results_starts_the_scratch_twin_then_shows_both_side_by_side(workspace, monkeypatch):
    run = fake_run(workspace, "lora-run", accuracy=0.9)
    write_json_atomic(run.metrics_path, {**run.metrics(), "strategy": "lora", "epochs": 3, "max_length": 64})
    fake_twin.started = []
    monkeypatch.setattr(
        jobs, "start_run", lambda config, name=None, note=None, **kw: fake_twin(workspace, config, name, note)
    )
    at = open_app("pages/results.py")
    at.button(key="prove_it").click().run()
    assert not at.exception and not at.error

    (config,) = fake_twin.started
    assert (config.strategy, config.epochs, config.max_length, config.seed) == ("scratch", 3, 64, 42)
    twin = twin_of(run)
    assert twin is not None and twin.about()["name"] == "lora-run — from scratch"
    assert twin.about()["note"].startswith("Prove it for lora-run")
    assert any("Training the same model from scratch" in t for t in texts(at.info))
    assert at.session_state["train_run"] == str(twin.path)  # Train follows the twin

    # Done: the two side by side, and what transfer bought.
    twin.set_status("completed", "done")
    write_json_atomic(
        twin.metrics_path,
        {
            "accuracy": 0.6,
            "accuracy_ci": [0.5, 0.7],
            "macro_f1": 0.55,
            "strategy": "scratch",
            "train_seconds": 30.0,
            "trainable_params": 100_000,
        },
    )
    at = open_app("pages/results.py")
    at.selectbox(key="w_results_run").set_value(str(run.path)).run()
    table = next(t.value for t in at.table if "start" in t.value.columns)
    assert list(table["strategy"]) == ["lora", "scratch"] and list(table["accuracy"]) == ["0.900", "0.600"]
    assert any(md("gave +30 points of accuracy") in t for t in texts(at.markdown))
    assert not [b for b in at.button if b.key == "prove_it"]


def test_a_scratch_run_has_nothing_to_prove(workspace):
    run = fake_run(workspace, "scratch-run")
    write_json_atomic(run.metrics_path, {**run.metrics(), "strategy": "scratch"})
    at = open_app("pages/results.py")
    assert not [b for b in at.button if b.key == "prove_it"]
    with pytest.raises(ConfigError, match="trained from scratch already"):
        start_prove_it(run)


def test_prove_it_trains_a_real_scratch_twin_with_the_same_budget(
    tmp_path, workspace, tiny_bert, topic_csv, monkeypatch
):
    monkeypatch.setenv("TRANSFERLAB_MAX_CONCURRENT_RUNS", "1")
    config = TrainConfig(
        data=str(topic_csv),
        model=str(tiny_bert),
        strategy="lora",
        epochs=2,
        batch_size=8,
        max_length=32,
        min_steps=0,
        threads=2,
    )
    run = jobs.prepare_run(config, workspace / "runs" / "lora")
    metrics = train(config, run)

    twin = start_prove_it(run)
    try:
        assert read_json(run.path / PROVE_IT_FILE)["twin"] == str(twin.path)
        assert start_prove_it(run).path == twin.path  # a second click follows the same twin
        deadline = time.time() + TIMEOUT_S
        while jobs.refresh_status(twin).get("state") in jobs.ACTIVE and time.time() < deadline:
            time.sleep(1)
    finally:
        jobs.cancel_run(twin)  # a no-op once it finished
    assert twin.status()["state"] == "completed", twin.status()
    scratch = twin.metrics()
    assert scratch["strategy"] == "scratch"
    for key in ("epochs", "max_length", "train_examples", "test_examples", "labels"):
        assert scratch[key] == metrics[key], key
    assert twin.config()["seed"] == config.seed and twin.config()["min_steps"] == 0
    # The same split: the same baselines.
    assert scratch["baselines"]["majority"] == metrics["baselines"]["majority"]
    assert scratch["baselines"]["classical"]["accuracy"] == metrics["baselines"]["classical"]["accuracy"]
