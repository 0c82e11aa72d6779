"""Slow tests: the real bundled models on the real demo data (minutes on a 2-core CPU).

One per path: MiniLM (BERT-style) with frozen, LoRA and the from-scratch baseline on the same
budget, MiniLM on 8 e-mails a class (setfit, the recommendation there, and frozen), SmolLM2 (GPT-style,
shipped as GGUF) converted and trained frozen, and EfficientNet-Lite0 (a CNN for pictures) frozen against
the from-scratch baseline on the Fashion demo. Each trains through a recipe of bench/floors.py, sized to
keep the suite fast; ``python -m bench.floors NAME --seeds 42-46`` runs the same recipe on other seeds
and draws of the data: the floors below come from that spread.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import floors
from engine.predict import Predictor

pytestmark = pytest.mark.slow


def test_minilm_transfer_beats_scratch_on_spam(tmp_path, workspace):
    # 600 e-mails to learn from (540 train, 60 validation), 300 more held out for the test, cut to 64
    # tokens (floors.SPAM_TRANSFER). LoRA and the from-scratch model (the same architecture) get the same
    # small budget: one epoch asked, which the engine's minimum of 60 steps makes about 1.8 passes. Spam is
    # an easy, keyword-driven task: with more training the from-scratch model closes most of the gap, so
    # this compares them where transfer matters.
    result = floors.spam_transfer(tmp_path)
    runs, figures = result["runs"], result["figures"]
    print({name: (m["accuracy"], m["macro_f1"], round(m["train_seconds"])) for name, m in runs.items()})
    print({k: round(v, 4) for k, v in figures.items()})

    assert all(m["test_examples"] == floors.SPAM_TRANSFER["test_rows"] for m in runs.values())
    # python -m bench.floors spam --seeds 42-46 (seed 42 is this test's): frozen 0.913-0.937, LoRA 0.853-0.930,
    # scratch 0.823-0.907. Floors below each minimum, well above always answering ham (about 0.70).
    assert figures["frozen_accuracy"] >= 0.89
    assert figures["lora_accuracy"] >= 0.80
    # What transfer bought. On accuracy the short-budget scratch model can tie or pass LoRA (spam is
    # keyword-driven; seed 44: scratch 0.907, LoRA 0.853), but it is less sure of its answers than the frozen
    # model: test log-loss 1.24-3.09x frozen's over seeds 42-46 (1.79x at 42). Against LoRA's it was
    # 0.80-2.23x, so that comparison is not asserted.
    assert figures["scratch_log_loss"] >= 1.15 * figures["frozen_log_loss"]
    frozen, lora, scratch = (runs[name] for name in ("frozen", "lora", "scratch"))
    assert frozen["trainable_params"] < lora["trainable_params"] < scratch["trainable_params"]

    result = Predictor.from_run(tmp_path / "lora").predict([floors.SPAM_TEXT])[0]
    assert result["label"] == "spam"  # with confidence 0.60-0.90 over seeds 42-46 (0.895 at 42)


def test_minilm_learns_from_eight_examples_a_class(tmp_path, workspace):
    """Small data first: 8 hand-labeled e-mails per class. The recommended strategy (SetFit's recipe)
    and the fitted frozen head are both well above chance (0.5) and above the majority share."""
    from engine.estimate import recommend_strategy

    assert recommend_strategy(16, has_gpu=False, n_classes=2)[0] == "setfit"
    result = floors.few_shot(tmp_path)  # 8 a class, 400 test e-mails, 71% ham (floors.FEW_SHOT)
    setfit, frozen = result["runs"]["setfit"], result["runs"]["frozen"]
    figures = result["figures"]
    print({k: round(v, 4) for k, v in figures.items()})
    assert setfit["train_examples"] == frozen["train_examples"] == 16 and setfit["validation_examples"] == 0
    # Over seeds 42-46 on this machine, the sample fixed (draw 0): setfit 0.930-0.935 (macro-F1 0.915-0.920),
    # frozen 0.8875 on every seed (the head's cross-validation chose the same strength). Floors about 0.03-0.04
    # below, for another CPU's rounding; setfit led frozen by 0.04 on every seed. (Cut to 300 test e-mails at
    # 64 tokens it took as long, setfit's pairs being most of the time, and scored setfit 0.900, frozen 0.870.)
    assert figures["setfit_accuracy"] >= 0.90 and figures["setfit_macro_f1"] >= 0.88
    assert figures["frozen_accuracy"] >= 0.85 and figures["setfit_accuracy"] >= figures["frozen_accuracy"]
    assert figures["frozen_accuracy"] > figures["majority_share"]


def test_smollm2_gguf_converts_and_trains_frozen(tmp_path, workspace):
    from engine.core.resolve import resolve_model

    resolved = resolve_model("smollm2")
    folder = Path(resolved.path)
    assert (folder / "model.safetensors").exists() and (folder / "config.json").exists()
    assert resolve_model("smollm2").path == resolved.path  # converted once, then reused

    metrics = floors.smollm2(tmp_path)["runs"]["frozen"]  # 300 e-mails, 150 held out, 48 tokens (floors.SMOLLM2)
    assert metrics["total_params"] > 130e6 and metrics["trainable_params"] == 576 * 2 + 2
    # python -m bench.floors smollm2 --seeds 42-46 --threads 1: 0.860-0.920 (0.887 at 42, this test's seed).
    # Below the minimum by about 2 sd of a 150-e-mail test, above the majority share (0.7).
    assert metrics["accuracy"] >= 0.80
    predictor = Predictor.from_run(tmp_path / "frozen")
    assert predictor.meta["pooling"] == "last"
    assert len(predictor.predict(["hello, lunch tomorrow?"])) == 1


def test_efficientnet_lite0_transfer_beats_scratch_on_fashion(tmp_path, workspace):
    # 60 random pictures a class of the Fashion demo (600: 420 train, 60 validation, 120 test), at 96
    # pixels; the same budget (image size, 3 epochs) for fine-tuning and the from-scratch baseline
    # (floors.PICTURES).
    result = floors.pictures(tmp_path)
    frozen, scratch = result["runs"]["frozen"], result["runs"]["scratch"]
    print({name: (m["accuracy"], round(m["train_seconds"])) for name, m in result["runs"].items()})

    assert frozen["test_examples"] == scratch["test_examples"] == 120
    # python -m bench.floors fashion --seeds 42-46 --threads 1: frozen 0.800-0.833, scratch 0.358-0.492, gap
    # 0.31-0.46 (0.800 and 0.492 at 42). Floors kept well below, as scratch reached 0.665 on another CPU with
    # the earlier, larger recipe (gap 0.09 there).
    assert frozen["accuracy"] >= 0.70
    assert scratch["accuracy"] <= frozen["accuracy"] - 0.05
    assert frozen["trainable_params"] == 1280 * 10 + 10

    predictor = Predictor.from_run(tmp_path / "frozen")
    table, skipped = predictor.predict_file(result["data"])
    assert len(table) == 600 and not skipped
    truth = table["file"].str.split("/").str[0]
    assert (table["predicted_label"] == truth).mean() >= 0.75  # mostly training pictures: a sanity check
