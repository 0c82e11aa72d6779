"""Slow tests: the real bundled models on the real demo data (minutes on a 2-core CPU).

One per path: MiniLM (BERT-style) with frozen, LoRA and the from-scratch baseline on the same
budget, MiniLM on 8 e-mails a class (setfit, the recommendation there, and frozen), SmolLM2 (GPT-style, shipped as GGUF) converted and trained frozen, and EfficientNet-Lite0
(a CNN for pictures) frozen against the from-scratch baseline on the Fashion demo.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.core.config import TrainConfig
from engine.core.jobs import prepare_run
from engine.predict import Predictor
from engine.training.trainer import train

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
SPAM = ROOT / "data" / "spam_emails.csv"


def spam_files(tmp_path: Path, train_rows: int, test_rows: int) -> tuple[Path, Path]:
    """A random training file and a disjoint held-out test file from the demo e-mails."""
    sample = pd.read_csv(SPAM).sample(train_rows + test_rows, random_state=0)
    train_path, test_path = tmp_path / "spam_train.csv", tmp_path / "spam_test.csv"
    sample.iloc[:train_rows].to_csv(train_path, index=False)
    sample.iloc[train_rows:].to_csv(test_path, index=False)
    return train_path, test_path


def spam_few(tmp_path: Path, per_class: int, test_rows: int) -> tuple[Path, Path]:
    """``per_class`` e-mails of each label to learn from (what a user labels by hand) and a disjoint,
    random held-out test file."""
    emails = pd.read_csv(SPAM).sample(frac=1.0, random_state=0)
    train = emails.groupby("label", group_keys=False).head(per_class)
    test = emails.drop(train.index).head(test_rows)
    train_path, test_path = tmp_path / "few_train.csv", tmp_path / "few_test.csv"
    train.to_csv(train_path, index=False)
    test.to_csv(test_path, index=False)
    return train_path, test_path


def log_loss(run_dir: Path) -> float:
    """Mean test log-loss of a two-class run, from predictions.csv (P(true) = confidence when correct)."""
    import numpy as np

    p = pd.read_csv(run_dir / "predictions.csv")
    p_true = np.where(p["correct"], p["confidence"], 1 - p["confidence"]).clip(1e-7, 1)
    return float(-np.log(p_true).mean())


def run(tmp_path: Path, strategy: str, **kw) -> dict:
    config = TrainConfig(strategy=strategy, **kw)
    return train(config, prepare_run(config, tmp_path / strategy))


def test_minilm_transfer_beats_scratch_on_spam(tmp_path, workspace):
    # 1,200 e-mails to learn from (1,080 train, 120 validation), 400 more held out for the test.
    data, test = spam_files(tmp_path, 1200, 400)
    common = {"data": str(data), "test_data": str(test), "model": "minilm"}
    frozen = run(tmp_path, "frozen", **common)
    # One pass over the data for both: the budget of a quick demo. Spam is an easy, keyword-driven
    # task: with 2+ epochs the from-scratch model closes most of the gap (measured: 0.9675 vs 0.9825
    # after 2 epochs), so this compares them where transfer matters, with little training.
    lora = run(tmp_path, "lora", epochs=1, **common)
    scratch = run(tmp_path, "scratch", epochs=1, **common)  # same architecture, data and budget as lora
    results = {"frozen": frozen, "lora": lora, "scratch": scratch}
    print({name: (m["accuracy"], m["macro_f1"], round(m["train_seconds"])) for name, m in results.items()})

    assert all(m["test_examples"] == 400 for m in results.values())
    # Floors from the spread over seeds 42-46 on this machine (frozen 0.9425-0.9575, sd 0.0065; LoRA
    # 0.935-0.9725, sd 0.014): about the lowest seed minus 2 sd, so another CPU's rounding cannot fail them.
    assert frozen["accuracy"] >= 0.92
    assert lora["accuracy"] >= 0.90
    # What transfer bought. On accuracy the 1-epoch scratch model ties LoRA on some seeds (spam is
    # keyword-driven: 0.8950-0.9675 over seeds 42-46), but it is always less sure of its answers: its
    # test log-loss was 1.20-2.54x LoRA's and 1.38-1.81x frozen's on every seed.
    ll = {name: log_loss(tmp_path / name) for name in results}
    print({name: round(v, 4) for name, v in ll.items()})
    assert ll["scratch"] > ll["lora"]
    assert ll["scratch"] >= 1.15 * ll["frozen"]
    assert frozen["trainable_params"] < lora["trainable_params"] < scratch["trainable_params"]

    predictor = Predictor.from_run(tmp_path / "lora")
    result = predictor.predict(["Congratulations! You WON a FREE prize, click here to claim your cash now!!!"])[0]
    assert result["label"] == "spam" and result["confidence"] > 0.7  # 0.834-0.942 over seeds 42-46


def test_minilm_learns_from_eight_examples_a_class(tmp_path, workspace):
    """Small data first: 8 hand-labeled e-mails per class. The recommended strategy (SetFit's recipe)
    and the fitted frozen head are both well above chance (0.5) and above the majority share."""
    from engine.estimate import recommend_strategy

    data, test = spam_few(tmp_path, 8, 400)  # the test e-mails: 71% ham
    common = {"data": str(data), "test_data": str(test), "model": "minilm"}
    assert recommend_strategy(16, has_gpu=False, n_classes=2)[0] == "setfit"
    setfit = run(tmp_path, "setfit", **common)
    frozen = run(tmp_path, "frozen", **common)
    print(
        {
            name: (m["accuracy"], m["macro_f1"], round(m["train_seconds"]))
            for name, m in (("setfit", setfit), ("frozen", frozen))
        }
    )
    assert setfit["train_examples"] == frozen["train_examples"] == 16 and setfit["validation_examples"] == 0
    # Over seeds 42-46 on this machine: setfit 0.930-0.935 (macro-F1 0.915-0.920), frozen 0.8875 on every
    # seed (the sample is fixed; the head's cross-validation chose the same strength). Floors about 0.03-0.04
    # below, for another CPU's rounding; setfit led frozen by 0.04 on every seed.
    assert setfit["accuracy"] >= 0.90 and setfit["macro_f1"] >= 0.88
    assert frozen["accuracy"] >= 0.85 and setfit["accuracy"] >= frozen["accuracy"]


def test_smollm2_gguf_converts_and_trains_frozen(tmp_path, workspace):
    from engine.core.resolve import resolve_model

    resolved = resolve_model("smollm2")
    folder = Path(resolved.path)
    assert (folder / "model.safetensors").exists() and (folder / "config.json").exists()
    assert resolve_model("smollm2").path == resolved.path  # converted once, then reused

    data, test = spam_files(tmp_path, 500, 200)
    metrics = run(tmp_path, "frozen", data=str(data), test_data=str(test), model="smollm2", max_length=64)
    assert metrics["total_params"] > 130e6 and metrics["trainable_params"] == 576 * 2 + 2
    assert metrics["accuracy"] >= 0.85  # 0.895-0.915 over seeds 42-46
    predictor = Predictor.from_run(tmp_path / "frozen")
    assert predictor.meta["pooling"] == "last"
    assert len(predictor.predict(["hello, lunch tomorrow?"])) == 1


FASHION = ROOT / "data" / "fashion_demo.zip"


def test_efficientnet_lite0_transfer_beats_scratch_on_fashion(tmp_path, workspace):
    # 1,000 pictures: 700 train, 100 validation, 200 held out for the test (20 per class).
    # Image size 128 keeps it to a few minutes on a 2-core CPU; the same budget (image size and
    # 3 epochs) for fine-tuning and for the from-scratch baseline.
    common = {"data": str(FASHION), "model": "efficientnet-lite0", "image_size": 128}
    frozen = run(tmp_path, "frozen", **common)
    scratch = run(tmp_path, "scratch", epochs=3, **common)
    print({name: (m["accuracy"], round(m["train_seconds"])) for name, m in (("frozen", frozen), ("scratch", scratch))})

    assert frozen["test_examples"] == scratch["test_examples"] == 200
    # Over seeds 42-46 here: frozen 0.755-0.825 (sd 0.030; seed 42 gave 0.755 on three machines),
    # scratch 0.505-0.595. Seed 42's scratch was 0.665 on another CPU, so the margin is set below every
    # gap seen anywhere (0.09 there, 0.195-0.31 here).
    assert frozen["accuracy"] >= 0.70
    assert scratch["accuracy"] <= frozen["accuracy"] - 0.05
    assert frozen["trainable_params"] == 1280 * 10 + 10

    predictor = Predictor.from_run(tmp_path / "frozen")
    table, skipped = predictor.predict_file(FASHION)
    assert len(table) == 1000 and not skipped
    truth = table["file"].str.split("/").str[0]
    assert (table["predicted_label"] == truth).mean() >= 0.75  # mostly training pictures: a sanity check
