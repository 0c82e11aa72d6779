"""Which strategy to suggest, from the number of examples, the hardware and the kind of data."""

from __future__ import annotations

from engine.core.config import TrainConfig
from engine.core.policy import FEW_SHOT_MAX_PER_CLASS, FINETUNE_PAYS_STEPS, holds_out_validation
from engine.core.presets import DEFAULT_PRESET, preset_settings

BEST = "Best quality"  # the preset with the most passes


def finetune_steps(n: int, n_classes: int, preset: str = DEFAULT_PRESET, task: str = "text") -> int:
    """The optimizer steps fine-tuning (LoRA) makes on ``n`` examples with ``preset``'s epochs, on the
    training split the Data page makes (validation held out only with enough examples a class).

    >>> finetune_steps(600, 2, "Quick look"), finetune_steps(600, 2, "Best quality")
    (81, 135)
    """
    held_out = holds_out_validation({"c": n // max(1, n_classes)})
    share = 1 - TrainConfig.test_fraction - (TrainConfig.validation_fraction if held_out else 0)
    n_train = max(1, round(n * share))
    epochs = preset_settings(preset, "lora", task, n_train)["epochs"]
    config = TrainConfig(data="-", model="-", strategy="lora")
    return max(-(-n_train // config.batch_size) * epochs, config.resolved_min_steps())


def recommend_for_texts(n: int, has_gpu: bool, n_classes: int = 2, preset: str = DEFAULT_PRESET) -> tuple[str, str]:
    """(strategy, one plain sentence why) for ``n`` labeled texts in ``n_classes`` classes, trained with
    ``preset``'s settings."""
    per_class = n / max(1, n_classes)
    if per_class <= FEW_SHOT_MAX_PER_CLASS:
        return "setfit", (
            f"With {n:,} examples (about {per_class:.0f} per class), learning first from pairs of examples "
            "which ones belong together (SetFit) is usually the most accurate choice at this size."
        )
    if n < 300:
        return "frozen", (
            f"With {n:,} examples, training only a small classifier on the frozen model is the safest choice: "
            "too little data to retrain the model itself without overfitting, and it is the fastest."
        )
    steps = finetune_steps(n, n_classes, preset)
    if steps < FINETUNE_PAYS_STEPS:
        better = preset != BEST and finetune_steps(n, n_classes, BEST) >= FINETUNE_PAYS_STEPS
        return "frozen", (
            f"With {n:,} examples and the {preset} preset, fine-tuning (LoRA) would make about {steps:,} updates, "
            f"fewer than the {FINETUNE_PAYS_STEPS} it needed in our measurements to beat the frozen model (600 movie "
            "reviews: LoRA 0.720 after 60 updates, 0.756 after 100, 0.778 after 170; frozen 0.748), so the frozen "
            "model is as accurate here and several times faster"
            + (" (the Best quality preset gives LoRA enough updates to pull ahead)." if better else ".")
        )
    if has_gpu:
        if n >= 20_000:
            return "full", (
                f"With {n:,} examples and a GPU, retraining every weight (full fine-tuning) is usually the most "
                "accurate and still fast."
            )
        return "lora", (
            f"With {n:,} examples and a GPU, LoRA gets close to full fine-tuning quality quickly, "
            "training well under 1% of the weights."
        )
    if n > 10_000:
        return "frozen", (
            f"With {n:,} examples on a CPU, retraining any part of the model would take hours; the frozen "
            "model with a small classifier on top reads each example once, in a fraction of that time."
        )
    return "lora", (
        f"With {n:,} examples and the {preset} preset (about {steps:,} updates), LoRA is usually more accurate than "
        "the frozen model (600 movie reviews, 170 updates: 0.778 against 0.748) and still trains in minutes on a "
        "CPU, because only small adapters change."
    )


def recommend_for_pictures(n: int, has_gpu: bool, n_classes: int = 2, preset: str = DEFAULT_PRESET) -> tuple[str, str]:
    """(strategy, one plain sentence why) for ``n`` labeled pictures (the preset does not change it: partial
    beat frozen from 60 steps on, the least any run makes)."""
    # Measured (EfficientNet-Lite0, 2-core CPU): on the Fashion demo (700 training pictures, 224 px) frozen
    # 0.815 in 74 s, partial 0.845 in 202 s; on digits with 5 pictures a class (bench/fewshot.py) frozen
    # 0.757, partial 0.831 (at least 60 steps). LoRA on a CNN is no faster than full fine-tuning.
    if has_gpu:
        if n >= 2_000:
            return "full", (
                f"With {n:,} pictures and a GPU, retraining every weight (full fine-tuning) adapts the whole "
                "model to your pictures and is still fast."
            )
        return "partial", (
            f"With {n:,} pictures, retraining the top half of the model (its most specific layers) adapts it to "
            "your pictures while the bottom layers keep their general edge and texture detectors."
        )
    if n > 5_000:
        return "frozen", (
            f"With {n:,} pictures on a CPU, retraining any part of the model would take hours; the frozen "
            "model with a small classifier on top reads each example once, in a fraction of that time."
        )
    return "partial", (
        f"With {n:,} pictures, retraining the top half of the model adapts it to your pictures and was more "
        "accurate than the frozen model in our measurements, from 5 pictures a class to 700 pictures."
    )
