"""Pictures through onnxruntime on the CPU (engine.tasks.image.runtime): the frozen strategy's features,
engine.predict and Try it give torch's numbers within 1e-4, the graph is made once and reused, and
anything that goes wrong falls back to torch."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from engine.core.config import TrainConfig
from engine.core.hardware import ONNXRUNTIME_ENV, pictures_through_onnxruntime
from engine.core.jobs import prepare_run
from engine.predict import Predictor
from engine.tasks.image import runtime
from engine.training.trainer import train

torch.set_num_threads(2)


def graphs(workspace: Path) -> list[str]:
    folder = workspace / "cache" / "onnx"
    return sorted(p.name for p in folder.iterdir() if (p / "model.onnx").is_file()) if folder.is_dir() else []


def run_images(tmp_path: Path, data: Path, model: Path, strategy: str, name: str, **kw):
    config = TrainConfig(
        data=str(data), model=str(model), strategy=strategy, epochs=1, batch_size=8, image_size=32, **kw
    )
    run = prepare_run(config, tmp_path / name)
    return run, train(config, run)


def torch_probabilities(run, paths: list[str], monkeypatch) -> np.ndarray:
    with monkeypatch.context() as m:
        m.setenv(ONNXRUNTIME_ENV, "0")
        return Predictor.from_run(run.path, device="cpu").predict_proba(paths)


def test_frozen_features_go_through_one_cached_graph_and_match_torch(
    tmp_path, workspace, shapes_zip, tiny_resnet, monkeypatch
):
    run, _ = run_images(tmp_path, shapes_zip, tiny_resnet, "frozen", "onnx")
    made = graphs(workspace)
    assert len(made) == 1, made  # the backbone's, made by the feature extraction
    paths = pd.read_csv(run.predictions_path)["path"].tolist()

    predictor = Predictor.from_run(run.path, device="cpu")
    probs = predictor.predict_proba(paths)
    assert predictor.model._runner is not None  # the graph training made, with the head in torch
    assert np.abs(probs - torch_probabilities(run, paths, monkeypatch)).max() < 1e-4

    # The same run with torch alone (another workspace: no cached features, no graph) gives the same results.
    with monkeypatch.context() as m:
        m.setenv(ONNXRUNTIME_ENV, "0")
        m.setenv("TRANSFERLAB_HOME", str(tmp_path / "torch-only"))
        twin, _ = run_images(tmp_path, shapes_zip, tiny_resnet, "frozen", "torch")
        assert graphs(tmp_path / "torch-only") == []
    saved = [pd.read_csv(r.predictions_path) for r in (run, twin)]
    assert saved[0]["file"].tolist() == saved[1]["file"].tolist()
    assert np.abs(saved[0]["confidence"] - saved[1]["confidence"]).max() < 1e-4
    # A second run on the same base model reuses the graph.
    run_images(tmp_path, shapes_zip, tiny_resnet, "frozen", "again", seed=1)
    assert graphs(workspace) == made


def test_a_retrained_model_makes_its_graph_only_for_enough_pictures(
    tmp_path, workspace, shapes_zip, tiny_resnet, monkeypatch
):
    run, _ = run_images(tmp_path, shapes_zip, tiny_resnet, "full", "full")
    assert graphs(workspace) == []  # fine-tuning runs in torch
    paths = pd.read_csv(run.predictions_path)["path"].tolist()
    expected = torch_probabilities(run, paths, monkeypatch)

    predictor = Predictor.from_run(run.path, device="cpu")
    assert np.abs(predictor.predict_proba(paths[:2]) - expected[:2]).max() < 1e-6  # torch: too few to pay
    assert graphs(workspace) == []
    monkeypatch.setattr(runtime, "BUILD_FOR_PICTURES", 4)
    assert np.abs(predictor.predict_proba(paths) - expected).max() < 1e-4
    assert len(graphs(workspace)) == 1
    # Another process (Try it's model server) finds the graph and uses it even for one picture.
    again = Predictor.from_run(run.path, device="cpu")
    monkeypatch.setattr(runtime, "BUILD_FOR_PICTURES", 10**6)
    assert np.abs(again.predict_proba(paths[:1]) - expected[:1]).max() < 1e-4
    assert again.model._runner is not None


def test_a_graph_that_does_not_reproduce_torch_is_thrown_away(
    tmp_path, workspace, shapes_zip, tiny_resnet, monkeypatch, caplog
):
    caplog.set_level(logging.INFO, logger=runtime.__name__)
    monkeypatch.setattr(runtime, "TOLERANCE", -1.0)  # no graph can pass
    run, metrics = run_images(tmp_path, shapes_zip, tiny_resnet, "frozen", "refused")
    assert run.status()["state"] == "completed" and graphs(workspace) == []
    assert not any((workspace / "cache" / "onnx").iterdir())  # nothing half-made left behind
    assert "run through torch" in caplog.text
    paths = pd.read_csv(run.predictions_path)["path"].tolist()
    monkeypatch.setattr(runtime, "TOLERANCE", 1e-4)
    assert np.abs(torch_probabilities(run, paths, monkeypatch).max(-1) - metrics_confidence(run)).max() < 1e-4


def metrics_confidence(run) -> np.ndarray:
    return pd.read_csv(run.predictions_path)["confidence"].to_numpy()


@pytest.mark.parametrize("value", ["0", "false"])
def test_onnxruntime_can_be_turned_off(value, monkeypatch):
    monkeypatch.setenv(ONNXRUNTIME_ENV, value)
    assert not pictures_through_onnxruntime("cpu")  # the estimate reads the same switch
    assert not runtime.enabled("cpu")
    monkeypatch.delenv(ONNXRUNTIME_ENV)
    assert runtime.enabled("cpu") and not runtime.enabled("cuda")
