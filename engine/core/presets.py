"""Presets the dashboard offers (Quick look, Balanced, Best quality) and the settings they give.

The Advanced expander on the Model page starts from :func:`default_settings` and overrides it.

>>> preset_settings("Quick look", "lora")
{'max_length': 64, 'epochs': 1}
>>> preset_settings("Quick look", "lora", n_train=420)["epochs"]  # 27 steps an epoch: 1 would be too few
3
>>> preset_settings("Quick look", "frozen", task="image")
{'image_size': 128, 'epochs': 1}
>>> default_settings("lora", "Quick look")["epochs"], default_settings("lora", "Balanced")["max_length"]
(1, None)
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any

from engine.core.config import TrainConfig
from engine.core.errors import ConfigError
from engine.core.policy import FINETUNE_PAYS_STEPS
from engine.core.strategies import STRATEGIES

PRESETS: dict[str, dict[str, Any]] = {
    "Quick look": {
        "help": "The fastest first result (minutes on a few thousand examples; the estimate says how long on "
        "yours): short texts or small pictures, one pass over large data. "
        "Fine-tuning small text data gets the few passes it needs to be worth it (up to its usual 3), the "
        "few-shot strategy five.",
        "by_task": {"text": {"max_length": 64}, "image": {"image_size": 128}},
        "epochs": {"setfit": 5, "default": 1},
        # Fine-tuning texts gets at least this many steps (more epochs on small data): fewer lost to the
        # frozen model in our measurements (policy.FINETUNE_PAYS_STEPS).
        "finetune_steps": {"text": FINETUNE_PAYS_STEPS},
    },
    "Balanced": {
        "help": "The defaults: good accuracy in reasonable time; text length chosen from your data, "
        "pictures at the model's own size.",
        # None: automatic (max length from the training texts' lengths; the model's own image size)
        "by_task": {"text": {"max_length": None}, "image": {"image_size": None}},
        "epochs": {"default": None},  # the strategy's own default
    },
    "Best quality": {
        "help": "Longer texts and more passes: slower, usually a little more accurate.",
        "by_task": {"text": {"max_length": 256}, "image": {"image_size": None}},
        "epochs": {"setfit": 20, "default": 5},
    },
}
DEFAULT_PRESET = "Balanced"


def preset_settings(preset: str, strategy: str, task: str = "text", n_train: int | None = None) -> dict[str, Any]:
    """TrainConfig fields a preset sets for a strategy and a task (``n_train``: the training examples,
    when known: a preset may give small data more epochs)."""
    if preset not in PRESETS:
        raise ConfigError(f"Unknown preset '{preset}'. Choose one of: {', '.join(PRESETS)}.")
    spec = PRESETS[preset]
    info = STRATEGIES[strategy]
    epochs = spec["epochs"].get(strategy, spec["epochs"]["default"])
    if epochs is None:
        epochs = info.default_epochs
    steps = spec.get("finetune_steps", {}).get(task)
    if steps and n_train and info.recipe == "finetune":
        per_epoch = -(-int(n_train) // TrainConfig.batch_size)
        epochs = max(epochs, min(info.default_epochs, -(-steps // per_epoch)))
    return {**spec["by_task"].get(task, {}), "epochs": epochs}


def default_settings(strategy: str, preset: str, task: str = "text", n_train: int | None = None) -> dict[str, Any]:
    """The settings a preset gives a strategy for a task: what the Advanced expander starts from."""
    task_fields = {
        f.name: f.default
        for f in fields(TrainConfig)
        if f.metadata.get("task") == task and not f.metadata.get("data") and f.default is not MISSING
    }
    return {
        "batch_size": TrainConfig.batch_size,
        "learning_rate": STRATEGIES[strategy].learning_rate(task),
        "freeze_layers": None,
        "lora_r": TrainConfig.lora_r,
        **task_fields,
        **preset_settings(preset, strategy, task, n_train),
    }
