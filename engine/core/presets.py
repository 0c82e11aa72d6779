"""Presets the dashboard offers (Quick look, Balanced, Best quality) and the settings they give.

The Advanced expander on the Model page starts from :func:`default_settings` and overrides it.

>>> preset_settings("Quick look", "lora")
{'max_length': 64, 'epochs': 1}
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
from engine.core.strategies import STRATEGIES

PRESETS: dict[str, dict[str, Any]] = {
    "Quick look": {
        "help": "A first result in a few minutes: short texts or small pictures, one pass over the data "
        "(five for the few-shot strategy, which learns from pairs).",
        "by_task": {"text": {"max_length": 64}, "image": {"image_size": 128}},
        "epochs": {"setfit": 5, "default": 1},
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


def preset_settings(preset: str, strategy: str, task: str = "text") -> dict[str, Any]:
    """TrainConfig fields a preset sets for a strategy and a task."""
    if preset not in PRESETS:
        raise ConfigError(f"Unknown preset '{preset}'. Choose one of: {', '.join(PRESETS)}.")
    spec = PRESETS[preset]
    epochs = spec["epochs"].get(strategy, spec["epochs"]["default"])
    if epochs is None:
        epochs = STRATEGIES[strategy].default_epochs
    return {**spec["by_task"].get(task, {}), "epochs": epochs}


def default_settings(strategy: str, preset: str, task: str = "text") -> dict[str, Any]:
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
        **preset_settings(preset, strategy, task),
    }
