"""One dataclass per run: it drives the CLI flags, the dashboard widgets and ``config.json``.

>>> cfg = TrainConfig(data="data/spam_emails.csv", model="minilm", strategy="lora")
>>> cfg.resolved_learning_rate()
0.001
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Self, get_type_hints

from engine.core.catalog import DEFAULT_TEXT_MODEL
from engine.core.distributed import per_process_batch
from engine.core.errors import ConfigError
from engine.core.policy import MIN_TRAIN_STEPS
from engine.core.rundir import write_json_atomic
from engine.core.strategies import STRATEGIES
from engine.core.tasks import task_of_data

CONFIG_VERSION = 1


class SettingsFile:
    """What every run's settings dataclass shares: ``config.json`` written and read back, unknown keys refused."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        write_json_atomic(Path(path), self.to_dict())

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Self:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"Unknown setting(s) in the config: {', '.join(unknown)}. Known settings: {', '.join(sorted(known))}."
            )
        return cls(**values)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        path = Path(path)
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"Config file {path} does not exist.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"Config file {path} is not valid JSON ({exc}). Fix the file or leave out --config."
            ) from None
        if not isinstance(values, dict):
            raise ConfigError(f'Config file {path} must hold a JSON object of settings, like {{"epochs": 3}}.')
        return cls.from_dict(values)


@dataclass
class TrainConfig(SettingsFile):
    data: str = field(
        default="",
        metadata={
            "metavar": "FILE",
            "help": "Labeled training data: texts in CSV, TSV, JSON/JSONL, Parquet or Excel, or pictures as "
            "a ZIP (or folder) with one folder per class.",
            "required": True,
        },
    )
    model: str = field(
        default=DEFAULT_TEXT_MODEL,
        metadata={
            "metavar": "NAME_OR_PATH",
            "help": "Foundation model: a short name from the catalog (minilm, smollm2), "
            "a Hugging Face model id or a local model folder.",
            "required": True,
        },
    )
    strategy: str = field(
        default="lora",
        metadata={
            "help": "How much of the model to retrain.",
            "choices": list(STRATEGIES),
            "required": True,
        },
    )
    validation_data: str | None = field(
        default=None,
        metadata={"metavar": "FILE", "help": "Optional validation file (else split off the training data)."},
    )
    test_data: str | None = field(
        default=None, metadata={"metavar": "FILE", "help": "Optional test file (else split off the training data)."}
    )
    text_column: str | None = field(
        default=None,
        metadata={
            "task": "text",
            "data": True,
            "metavar": "NAME",
            "help": "Column holding the text (guessed if unset).",
        },
    )
    label_column: str | None = field(
        default=None,
        metadata={
            "task": "text",
            "data": True,
            "metavar": "NAME",
            "help": "Column holding the label (guessed if unset).",
        },
    )
    image_labels: str | None = field(
        default=None,
        metadata={
            "task": "image",
            "data": True,
            "metavar": "FILE",
            "help": "Pictures: a CSV (file name, label) naming the class of each image in the --data ZIP or "
            "folder, instead of one folder per class.",
        },
    )
    image_size: int | None = field(
        default=None,
        metadata={
            "task": "image",
            "metavar": "N",
            "help": "Pictures: the side in pixels the model sees (default: the model's own, 224 for "
            "EfficientNet-Lite0). Smaller trains faster.",
        },
    )
    augment: bool = field(
        default=True,
        metadata={
            "task": "image",
            "help": "Pictures: random crops and horizontal flips of the training images (--no-augment: off).",
        },
    )
    epochs: int | None = field(
        default=None,
        metadata={
            "metavar": "N",
            "help": "Passes over the training data (default depends on the strategy; frozen fits its classifier "
            "to convergence and needs none).",
        },
    )
    batch_size: int = field(default=16, metadata={"metavar": "N", "help": "Examples per training step."})
    min_steps: int | None = field(
        default=None,
        metadata={
            "metavar": "N",
            "help": "partial, lora, full, scratch: train for at least this many steps, however few the examples "
            f"(default {MIN_TRAIN_STEPS}: small data gets more passes, not fewer updates; 0 to train exactly --epochs).",
        },
    )
    learning_rate: float | None = field(
        default=None, metadata={"metavar": "X", "help": "Peak learning rate (default depends on the strategy)."}
    )
    max_length: int | None = field(
        default=None,
        metadata={
            "task": "text",
            "metavar": "N",
            "help": "Texts are cut to this many tokens (default: chosen from the training texts' lengths, "
            "their 95th percentile capped by the model's limit; at most 128 on a CPU).",
        },
    )
    freeze_layers: int | None = field(
        default=None,
        metadata={
            "metavar": "N",
            "help": "partial: number of bottom layers (transformer layers, or CNN blocks) to freeze (default: half).",
        },
    )
    lora_r: int = field(default=8, metadata={"metavar": "N", "help": "lora: rank of the low-rank update."})
    lora_alpha: int = field(default=16, metadata={"metavar": "N", "help": "lora: scaling of the update (alpha / r)."})
    lora_dropout: float = field(default=0.1, metadata={"metavar": "P", "help": "lora: dropout on the LoRA input."})
    validation_fraction: float = field(
        default=0.1,
        metadata={"metavar": "P", "help": "Share of the data held out for validation (without --validation-data)."},
    )
    test_fraction: float = field(
        default=0.2, metadata={"metavar": "P", "help": "Share of the data held out for the test (without --test-data)."}
    )
    weight_decay: float = field(default=0.01, metadata={"metavar": "X", "help": "AdamW weight decay."})
    warmup_ratio: float = field(
        default=0.1, metadata={"metavar": "P", "help": "Share of steps spent warming up the learning rate."}
    )
    seed: int = field(
        default=42, metadata={"metavar": "N", "help": "Random seed for the split, initialisation and batches."}
    )
    device: str = field(
        default="auto",
        metadata={
            "help": "Where to train: auto (GPU if any), cuda, mps or cpu.",
            "choices": ["auto", "cuda", "mps", "cpu"],
        },
    )
    threads: int | None = field(
        default=None,
        metadata={"metavar": "N", "help": "CPU threads for torch (default: the cores this process may use)."},
    )
    devices: int = field(
        default=1,
        metadata={
            "metavar": "N",
            "help": "Processes to train with, one per GPU: above 1 the run is started through torchrun (DDP) and "
            "--batch-size is shared among them. A resumed run may use another number.",
        },
    )
    version: int = field(default=CONFIG_VERSION, metadata={"help": "config.json format version.", "cli": False})

    def __post_init__(self) -> None:
        if not str(self.data).strip():
            raise ConfigError("No training data given: pass --data FILE (CSV, TSV, JSON/JSONL, Parquet or Excel).")
        if not str(self.model).strip():
            raise ConfigError("No model given: pass --model with a catalog name (e.g. minilm), a hub id or a folder.")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"Unknown strategy '{self.strategy}'. Choose one of: {', '.join(STRATEGIES)}.")
        positive("batch_size", self.batch_size)
        if self.max_length is not None:
            positive("max_length", self.max_length)
        positive("lora_r", self.lora_r)
        positive("lora_alpha", self.lora_alpha)
        if self.epochs is not None:
            positive("epochs", self.epochs)
        if self.threads is not None:
            positive("threads", self.threads)
        positive("devices", self.devices)
        per_process_batch(self.batch_size, self.devices)  # each process takes an equal share of a step
        if self.min_steps is not None and (not isinstance(self.min_steps, int) or self.min_steps < 0):
            raise ConfigError(f"min_steps must be 0 or more (got {self.min_steps!r}).")
        if self.image_size is not None:
            positive("image_size", self.image_size)
            if self.image_size < 32:
                raise ConfigError(f"image_size must be at least 32 pixels (got {self.image_size}); 224 is typical.")
        if not isinstance(self.augment, bool):
            raise ConfigError(f"augment must be true or false (got {self.augment!r}).")
        if self.learning_rate is not None and not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ConfigError(f"learning_rate must be a positive number (got {self.learning_rate}); try 5e-5.")
        if self.freeze_layers is not None and self.freeze_layers < 0:
            raise ConfigError(f"freeze_layers must be 0 or more (got {self.freeze_layers}).")
        for name in ("lora_dropout", "weight_decay", "warmup_ratio"):
            value = getattr(self, name)
            if not (0 <= value < 1):
                raise ConfigError(f"{name} must be between 0 and 1 (got {value}).")
        for name in ("validation_fraction", "test_fraction"):
            value = getattr(self, name)
            if not (0 < value < 0.5):
                raise ConfigError(f"{name} must be above 0 and below 0.5 (got {value}); 0.1 or 0.2 are typical.")
        if self.validation_fraction + self.test_fraction >= 0.8:
            raise ConfigError("validation_fraction + test_fraction leave too little to train on; keep them under 0.8.")

    # Strategy-dependent defaults stay None in config.json so it records what the user chose;
    # these give the value actually used.
    def resolved_epochs(self) -> int:
        return self.epochs if self.epochs is not None else STRATEGIES[self.strategy].default_epochs

    def resolved_min_steps(self) -> int:
        return MIN_TRAIN_STEPS if self.min_steps is None else self.min_steps

    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return STRATEGIES[self.strategy].learning_rate(self.task)

    @property
    def task(self) -> str:
        """The kind of data (``engine.core.tasks``): "image" for a ZIP or folder of pictures, else "text"."""
        return task_of_data(self.data).name


def positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a whole number of 1 or more (got {value!r}).")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_arguments(parser: argparse.ArgumentParser, cls: type = TrainConfig) -> None:
    """One flag per field of ``cls`` (a run's settings dataclass); defaults are None so that we can tell
    what was given."""
    hints = get_type_hints(cls)
    for f in fields(cls):
        if f.metadata.get("cli", True) is False:
            continue
        kind = hints[f.name]
        if kind is bool:
            parser.add_argument(
                _flag(f.name),
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f.metadata.get("help", "") + f" Default: {'on' if f.default else 'off'}.",
            )
            continue
        base = next((t for t in (int, float, str) if t is kind or t in getattr(kind, "__args__", ())), str)
        help_text = f.metadata.get("help", "")
        if f.metadata.get("required"):
            help_text += " Required (here or in --config)."
        elif f.default not in (None, "") and f.default is not dataclasses.MISSING:
            help_text += f" Default: {f.default}."
        parser.add_argument(
            _flag(f.name),
            dest=f.name,
            type=base,
            default=None,
            choices=f.metadata.get("choices"),
            metavar=f.metadata.get("metavar"),
            help=help_text,
        )


def config_from_args(args: argparse.Namespace, cls: type = TrainConfig) -> Any:
    """Dataclass defaults < --config FILE.json < explicit flags."""
    values: dict[str, Any] = {}
    if getattr(args, "config", None):
        values.update(cls.load(args.config).to_dict())
    for f in fields(cls):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = given
    missing = [_flag(f.name) for f in fields(cls) if f.metadata.get("required") and not values.get(f.name)]
    if missing:
        raise ConfigError(f"Missing required setting(s): {', '.join(missing)} (or put them in --config FILE.json).")
    return cls.from_dict(values)


def task_settings(task: str) -> set[str]:
    """The settings only ``task`` reads (fields tagged with it), e.g. ``{"max_length", ...}`` for text.

    >>> sorted(task_settings("image"))
    ['augment', 'image_labels', 'image_size']
    """
    return {f.name for f in fields(TrainConfig) if f.metadata.get("task") == task}


def other_tasks_settings(task: str) -> set[str]:
    """The settings other tasks read and ``task`` ignores (left out of its config)."""
    return {f.name for f in fields(TrainConfig) if f.metadata.get("task") not in (None, task)}


def data_settings(task: str) -> list[str]:
    """The settings that say how to read ``task``'s data (columns, a labels file), in field order.

    >>> data_settings("text")
    ['text_column', 'label_column']
    """
    return [f.name for f in fields(TrainConfig) if f.metadata.get("task") == task and f.metadata.get("data")]
