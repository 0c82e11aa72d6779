"""Small data first: a fitted head, model selection that cannot keep an untrained model, enough steps,
no validation split when there are too few examples to spare, and the few-shot (SetFit) strategy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_rows, write_csv

from engine.core.config import TrainConfig
from engine.core.jobs import prepare_run
from engine.core.policy import SMALL_DATA_PER_CLASS
from engine.core.strategies import STRATEGIES, strategies_for
from engine.training.head import fit_head, normalise
from engine.training.trainer import load_splits, train

FAST = {"batch_size": 8, "max_length": 32, "threads": 2}


# --- the fitted head ---------------------------------------------------------------------------------
def test_fitted_head_matches_scikit_learn_and_is_chosen_by_cross_validation():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0.5, 1, (30, 6)), rng.normal(-0.5, 1, (30, 6)), rng.normal(0, 1, (30, 6)) + [0, 0, 2, 0, 0, 0]]
    y = [0] * 30 + [1] * 30 + [2] * 30
    fit = fit_head(x, y, n_classes=3, seed=0)
    assert fit.folds == 5 and len(fit.scores) > 5 and fit.C in fit.scores
    assert fit.cv_log_loss == min(loss for loss, _ in fit.scores.values())  # chosen by held-out log-loss
    reference = LogisticRegression(C=fit.C, max_iter=3000).fit(normalise(x), y)
    ours = normalise(x) @ fit.weight.T + fit.bias
    np.testing.assert_allclose(
        np.exp(ours) / np.exp(ours).sum(1, keepdims=True), reference.predict_proba(normalise(x)), atol=1e-4
    )


def test_binary_head_gives_the_same_probabilities_as_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(12, 4)), [0, 1] * 6
    fit = fit_head(x, y, n_classes=2)
    logits = normalise(x) @ fit.weight.T + fit.bias
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    reference = LogisticRegression(C=fit.C, max_iter=3000).fit(normalise(x), y).predict_proba(normalise(x))
    np.testing.assert_allclose(probs, reference, atol=1e-5)


def test_head_with_one_example_per_class_fits_without_cross_validation():
    fit = fit_head(np.eye(3), [0, 1, 2], n_classes=3)
    assert fit.folds == 0 and fit.cv_accuracy is None
    assert (np.eye(3) @ fit.weight.T + fit.bias).argmax(1).tolist() == [0, 1, 2]


def test_head_on_many_examples_searches_on_a_sample_then_fits_every_example(monkeypatch):
    """Beyond HEAD_CV_ROWS examples the 55 fits of the search run on a sample keeping each class (a rare
    one with 5 for the folds), and the chosen C is fitted on all of them: the same weights as scikit-learn on all."""
    from sklearn.linear_model import LogisticRegression

    from engine.training import head

    monkeypatch.setattr(head, "HEAD_CV_ROWS", 200)
    rng = np.random.default_rng(2)
    y = np.r_[[0] * 600, [1] * 394, [2] * 6]
    x = rng.normal(size=(1000, 5)) + np.eye(5)[y] * 1.5
    fitted_rows = []
    fit_one = head._fit
    monkeypatch.setattr(head, "_fit", lambda x, y, C, n: fitted_rows.append(len(y)) or fit_one(x, y, C, n))
    fit = fit_head(x, y, n_classes=3, seed=0)
    assert fit.folds == 5 and fit.cv_rows == 120 + 79 + 5  # by share, and 5 of the rare class (share: 1)
    assert max(fitted_rows[:-1]) < 200 and fitted_rows[-1] == 1000  # the search on the sample, then all
    assert fit.weight.dtype == np.float32
    reference = LogisticRegression(C=fit.C, max_iter=3000).fit(normalise(x), y).predict_proba(normalise(x))
    logits = normalise(x) @ fit.weight.T + fit.bias
    np.testing.assert_allclose(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), reference, atol=1e-3)


# --- splits ------------------------------------------------------------------------------------------
def test_small_data_holds_out_no_validation_split_and_says_so(tmp_path):
    data = write_csv(tmp_path / "small.csv", make_rows(10))  # 8 per class left after the test split
    config = TrainConfig(data=str(data), model="minilm", strategy="frozen")
    splits, notes = load_splits(config)
    assert len(splits.validation) == 0 and len(splits.train) + len(splits.test) == 30
    assert notes and "No validation split" in notes[0]
    enough = write_csv(tmp_path / "enough.csv", make_rows(SMALL_DATA_PER_CLASS + 10))
    splits, notes = load_splits(TrainConfig(data=str(enough), model="minilm", strategy="lora"))
    assert len(splits.validation) > 0 and not notes


@pytest.mark.parametrize("strategy", ["frozen", "setfit"])
def test_strategies_that_do_not_choose_by_validation_learn_from_every_example(tmp_path, strategy):
    """frozen and setfit choose their settings by cross-validation: a validation split only took 10% of
    the examples away from them (at 32 per class, 3 of each class)."""
    enough = write_csv(tmp_path / "enough.csv", make_rows(SMALL_DATA_PER_CLASS + 10))
    splits, notes = load_splits(TrainConfig(data=str(enough), model="minilm", strategy=strategy))
    assert len(splits.validation) == 0 and len(splits.train) + len(splits.test) == 90
    assert notes and "cross-validation" in notes[0]


# --- runs on a tiny model ----------------------------------------------------------------------------
def run(tmp_path, data, model, strategy, **kw):
    config = TrainConfig(data=str(data), model=str(model), strategy=strategy, **{**FAST, **kw})
    run_dir = prepare_run(config, tmp_path / strategy)
    return run_dir, train(config, run_dir)


def test_frozen_on_few_examples_fits_its_head_and_learns(tmp_path, workspace, tiny_bert):
    data = write_csv(tmp_path / "few.csv", make_rows(10, seed=3))
    run_dir, metrics = run(tmp_path, data, tiny_bert, "frozen")
    assert metrics["validation_examples"] == 0 and metrics["train_examples"] == 24
    # Six test examples move a score by 1/6 each: the 24 cross-validated ones say more about learning.
    assert metrics["head"]["folds"] == 5 and metrics["head"]["cv_accuracy"] > 0.6 and metrics["accuracy"] > 1 / 3
    assert any("cross-validation" in n for n in metrics["notes"]) and any(
        "No validation" in n for n in metrics["notes"]
    )
    meta = json.loads((run_dir.model_dir / "transferlab.json").read_text())
    assert meta["normalize"] is True


def test_fine_tuning_makes_at_least_the_minimum_steps_and_keeps_the_last_model_without_validation(
    tmp_path, workspace, tiny_bert
):
    data = write_csv(tmp_path / "few.csv", make_rows(10, seed=4))  # 24 to train on: 3 steps an epoch
    _, metrics = run(tmp_path, data, tiny_bert, "lora", epochs=1, min_steps=12)
    assert metrics["steps"] == 12 and metrics["best_checkpoint"] is None
    assert any("12 steps" in n for n in metrics["notes"]) and any("last one" in n for n in metrics["notes"])


def test_short_runs_without_validation_write_no_checkpoints_but_can_ask_for_them(
    tmp_path, workspace, tiny_bert, monkeypatch
):
    """Checkpoints without a validation split only serve resuming: a run of seconds wrote one every few
    steps (several seconds of a 15-second few-shot run on the real model)."""
    data = write_csv(tmp_path / "few.csv", make_rows(10, seed=4))
    run_dir, _ = run(tmp_path, data, tiny_bert, "setfit", epochs=6)
    assert not [e for e in run_dir.events() if e["type"] == "checkpoint"]
    monkeypatch.setenv("TRANSFERLAB_CHECKPOINT_SECONDS", "0")
    run_dir, _ = run(tmp_path / "paced", data, tiny_bert, "setfit", epochs=6)
    assert len([e for e in run_dir.events() if e["type"] == "checkpoint"]) >= 2


def test_ties_on_the_validation_split_go_to_the_later_model(tmp_path, workspace, tiny_bert):
    """The bug: on a tiny validation set every epoch scored the same, and the Trainer kept the first
    checkpoint (taken during warm-up, untrained). A learning rate of ~0 makes every evaluation tie."""
    data = write_csv(tmp_path / "even.csv", make_rows(SMALL_DATA_PER_CLASS + 8, seed=5))
    _, metrics = run(tmp_path, data, tiny_bert, "full", epochs=3, min_steps=0, learning_rate=1e-12)
    steps = metrics["steps"]
    assert metrics["best_checkpoint"] == f"checkpoint-{steps}"  # the last evaluation, not checkpoint-{steps // 3}


def test_setfit_learns_from_pairs_then_fits_its_head(tmp_path, workspace, tiny_bert):
    data = write_csv(tmp_path / "few.csv", make_rows(10, seed=6))
    run_dir, metrics = run(tmp_path, data, tiny_bert, "setfit", epochs=4)
    assert metrics["steps"] == 4 * 3 and metrics["head"]["folds"] == 5
    assert metrics["trainable_params"] == metrics["total_params"]
    assert any("pairs" in n for n in metrics["notes"])
    assert (run_dir.model_dir / "backbone").is_dir()


def test_setfit_is_offered_for_texts_only(tmp_path, workspace, tiny_resnet, shapes_zip):
    from engine.core.errors import ConfigError

    assert "setfit" in strategies_for("text") and "setfit" not in strategies_for("image")
    assert STRATEGIES["setfit"].recipe == "contrastive"
    config = TrainConfig(data=str(shapes_zip), model=str(tiny_resnet), strategy="setfit", epochs=1, image_size=32)
    with pytest.raises(ConfigError, match="not available for pictures"):
        train(config, prepare_run(config, tmp_path / "pictures"))
