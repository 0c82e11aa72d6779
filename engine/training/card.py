"""The model card (README.md in the model folder): what was trained, on what, and how well.

User strings (labels, file and model names) are escaped: the card is shown as Markdown on Results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.core.config import TrainConfig
from engine.core.strategies import STRATEGIES
from engine.core.tasks import get_task
from engine.core.words import markdown_text


def model_card(config: TrainConfig, metrics: dict[str, Any], usage: str) -> str:
    task = get_task(metrics["task"])
    rows = "\n".join(
        f"| {markdown_text(name)} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
        for name, v in metrics["per_class"].items()
    )
    inputs = ", ".join(
        f"{key.replace('_', ' ')} {metrics[key]}" for key in ("max_length", "image_size") if metrics.get(key)
    )
    strategy = STRATEGIES[config.strategy]
    how = "trained" if strategy.trains == "head" else "fine-tuned" if strategy.pretrained else "trained from scratch"
    passes = metrics.get("passes")
    schedule = (
        "the classifier fitted to convergence"
        if not strategy.uses_optimizer
        else f"{passes:.1f} passes over the training data"
        if isinstance(passes, (int, float))
        else f"{metrics['epochs']} epochs"
    )
    return f"""# {task.title} classifier {how} with TransferLab

- Base model: {markdown_text(config.model)}
- Strategy: `{config.strategy}` ({metrics["trainable_params"]:,} of {metrics["total_params"]:,} parameters trained)
- Training data: {markdown_text(Path(config.data).name)} ({metrics["train_examples"]:,} training examples)
- Labels: {", ".join(markdown_text(x) for x in metrics["labels"])}
- Trained on {metrics["device"]} in {metrics["train_seconds"]:.0f} s, {schedule}, {inputs}

## Test results ({metrics["test_examples"]:,} held-out examples)

Accuracy {metrics["accuracy"]:.4f}, macro-F1 {metrics["macro_f1"]:.4f}, weighted-F1 {metrics["weighted_f1"]:.4f}.

| label | precision | recall | F1 | support |
|---|---|---|---|---|
{rows}

## Using it

{usage}"""
