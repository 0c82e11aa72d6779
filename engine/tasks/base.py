"""The Task interface: what differs between kinds of data, for training and for prediction.

A classifier is a pre-trained *backbone* (a model cut before its own task head) that turns one
example into one feature vector, and a linear *head* on top. What differs between texts and
pictures (the backbone and its inputs, batches, the frozen-feature cache key, saving and loading,
the columns of predictions.csv) lives behind :class:`Task`; ``engine.training`` drives any Task
and ``engine.predict`` loads any saved model through :class:`LoadedModel`. The registry of tasks
is ``engine.core.tasks``.

Shared here: the head, parameter counting, batched inference, the model folder's metadata and its
atomic save.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from engine.core.errors import ModelNotAvailableError
from engine.core.resolve import ResolvedModel, not_available, resolve_model

MODEL_FORMAT_VERSION = 1
META_FILE = "transferlab.json"


def model_format(task: str) -> str:
    """The ``format`` a saved model's transferlab.json records, e.g. "transferlab-text-classifier"."""
    return f"transferlab-{task}-classifier"


# --- the classifier's parts -------------------------------------------------------------------------
class ClassifierHead(nn.Module):
    """Dropout and a linear layer on pooled features; trained in full by every strategy."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> SequenceClassifierOutput:
        logits = self.out(self.dropout(features))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


class Classifier(nn.Module):
    """A backbone that encodes an example into one feature vector, and a head on it.

    With ``normalize`` the features are L2-normalised before the head: what a head fitted by
    ``engine.training.head`` was fitted on. Subclasses define ``encode`` and ``forward``.
    """

    def __init__(
        self, backbone: nn.Module, feature_dim: int, num_labels: int, dropout: float, normalize: bool = False
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.feature_dim = feature_dim
        self.normalize = normalize
        self.head = ClassifierHead(feature_dim, num_labels, dropout)

    def classify(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> SequenceClassifierOutput:
        if self.normalize:
            features = nn.functional.normalize(features, dim=-1)
        return self.head(features, labels)

    def set_head(self, weight: np.ndarray, bias: np.ndarray) -> None:
        """Put a head fitted elsewhere (on normalised features) in place."""
        with torch.no_grad():
            self.head.out.weight.copy_(torch.as_tensor(weight, dtype=self.head.out.weight.dtype))
            self.head.out.bias.copy_(torch.as_tensor(bias, dtype=self.head.out.bias.dtype))
        self.normalize = True


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total), counting each shared tensor once."""
    seen: dict[int, nn.Parameter] = {}
    for p in model.parameters():
        seen.setdefault(id(p), p)
    total = sum(p.numel() for p in seen.values())
    trainable = sum(p.numel() for p in seen.values() if p.requires_grad)
    return trainable, total


class ListDataset:
    """A map-style dataset over a list of feature dicts (what Trainer and its collators expect)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.items[i]


def hf_model_type(resolved: ResolvedModel) -> str | None:
    """The ``model_type`` of a transformers model's config.json, or None when it cannot be read."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(resolved.path, trust_remote_code=False).model_type
    except (OSError, ValueError, KeyError):
        return None


# --- batched inference ------------------------------------------------------------------------------
def batched(
    fn: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    n: int,
    make_batch: Callable[[list[int]], dict[str, torch.Tensor]],
    order: Sequence[int] | None = None,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    on_batch: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Run ``fn`` over ``n`` examples without gradients, in batches of ``make_batch(indices)``, taken in
    ``order`` (e.g. sorted by length, so little padding); rows come back in the input order.

    ``on_batch(done, total)`` is called after each batch: progress reports, and a place to stop early
    by raising.
    """
    order = list(range(n)) if order is None else list(order)
    outputs: list[np.ndarray | None] = [None] * n
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    device = torch.device(device)
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            batch = {k: v.to(device) for k, v in make_batch(idx).items()}
            autocast = torch.autocast("cuda", dtype=dtype) if dtype is not None and device.type == "cuda" else None
            with autocast or contextlib.nullcontext():
                out = fn(batch)
            out = out.float().cpu().numpy()
            for j, i in enumerate(idx):
                outputs[i] = out[j]
            if on_batch is not None:
                on_batch(min(start + batch_size, n), n)
    if n == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack(outputs)


# --- the model folder ---------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_folder(model_dir: Path) -> Iterator[Path]:
    """A temp folder beside ``model_dir`` that replaces it only when the block completes."""
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=model_dir.parent, prefix=".model-"))
    try:
        yield tmp
        if model_dir.exists():
            shutil.rmtree(model_dir)
        os.replace(tmp, model_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_model_meta(folder: Path, task: str, meta: Mapping[str, Any], card: str) -> None:
    """transferlab.json (what loads the model) and README.md (the model card) of a model folder."""
    full = {"format": model_format(task), "format_version": MODEL_FORMAT_VERSION, "task": task, **meta}
    (folder / META_FILE).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(card, encoding="utf-8")


def read_model_meta(model_dir: Path, task: str | None = None) -> dict[str, Any]:
    """A model folder's transferlab.json; with ``task``, a model of another task is refused."""
    meta_path = Path(model_dir) / META_FILE
    if not meta_path.exists():
        raise ModelNotAvailableError(
            f"{model_dir} is not a TransferLab model (no {META_FILE}). Point to a run folder whose training completed."
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelNotAvailableError(f"{model_dir} cannot be loaded: its {META_FILE} is damaged ({exc}).") from exc
    if not isinstance(meta, dict):
        raise ModelNotAvailableError(f"{model_dir} cannot be loaded: its {META_FILE} is damaged.")
    meta.setdefault("task", "text")  # the first text models did not record it
    if meta.get("format") != model_format(meta["task"]):
        raise ModelNotAvailableError(f"{model_dir} holds a model of an unknown format ({meta.get('format')}).")
    if task is not None and meta["task"] != task:
        raise ModelNotAvailableError(f"{model_dir} holds a {meta['task']} classifier, not a {task} classifier.")
    return meta


def resolve_base(meta: Mapping[str, Any]) -> ResolvedModel:
    """The base model a saved model was trained from (by name, else the folder it was found in)."""
    try:
        return resolve_model(meta["base_model"])
    except ModelNotAvailableError:
        if Path(meta.get("base_model_path", "")).is_dir():
            return ResolvedModel(meta["base_model"], meta["base_model_path"], "local")
        raise


def safe_adapter(model_dir: Path) -> str:
    """The adapter folder of a saved LoRA model, refused unless its weights are safetensors (a .bin file
    is a pickle, which can run code when opened)."""
    folder = Path(model_dir) / "adapter"
    if not (folder / "adapter_model.safetensors").is_file():
        found = ", ".join(sorted(p.name for p in folder.glob("adapter_model*"))) or "no weights file"
        raise ModelNotAvailableError(
            f"{model_dir} cannot be loaded: its LoRA adapter has {found} instead of adapter_model.safetensors. "
            "TransferLab only loads safetensors files, which cannot run code when opened."
        )
    return str(folder)


def load_error(resolved: ResolvedModel, exc: Exception) -> ModelNotAvailableError:
    """A loader's exception, in words: unsafe (non-safetensors) weights, or what failed."""
    text = str(exc)
    if "safetensors" in text.lower():
        why = (
            "it has no safetensors weights. TransferLab only loads safetensors files, which cannot run "
            "code when opened; convert the model or pick another one."
        )
    else:
        why = f"loading it failed ({text.splitlines()[0] if text else type(exc).__name__})."
    return not_available(resolved.name, why)


# --- the interface ------------------------------------------------------------------------------------
@dataclass
class Datasets:
    """What the Trainer needs to fine-tune: datasets, how to batch them, and how to sample them."""

    train: Any
    validation: Any
    collator: Any  # None: the Trainer's default
    processing_class: Any  # saved with checkpoints (a tokenizer), or None
    sampling: str  # "group_by_length" (similar lengths together) or "random"


class LoadedModel(ABC):
    """A saved classifier loaded for prediction."""

    meta: dict[str, Any]
    label_names: list[str]

    @abstractmethod
    def predict_proba(self, inputs: Sequence[Any], batch_size: int | None = None) -> np.ndarray:
        """Class probabilities, one row per input (texts, or image paths / PIL images)."""


class Task(ABC):
    """What is particular to one kind of data in a training run (one instance per run).

    The constructor loads the backbone (pre-trained, or random weights for ``scratch``), lets the
    strategy prepare it (``strategy.prepare(backbone, config, self)``: the task knows its layer stack
    and LoRA targets) and builds ``self.classifier`` with a head for the run's classes. ``self.info``
    holds the settings it chose (``max_length``, ``image_size``) for events and metrics.json.
    """

    name: ClassVar[str]
    usage: ClassVar[str]  # the model card's "Using it" section
    classifier: nn.Module
    info: dict[str, Any]
    notes: list[str]  # what the user should know about the choices made (e.g. texts cut at the max length)

    @classmethod
    @abstractmethod
    def accepts(cls, resolved: ResolvedModel) -> bool:
        """True when ``resolved`` is a model for this kind of data."""

    # What the strategies need to know about a backbone's insides (engine.core.strategies.Structure);
    # static, so the Task class itself can be handed to ``Strategy.prepare``.
    @staticmethod
    @abstractmethod
    def layer_stack(backbone: nn.Module) -> list[nn.Module]: ...

    @staticmethod
    @abstractmethod
    def lora_targets(backbone: nn.Module) -> list[str]: ...

    # frozen: the backbone runs once per example and its features are cached on disk.
    @abstractmethod
    def feature_key(self, part: Any) -> str:
        """A cache key for the backbone's features of a split: changes when the model or the examples do."""

    @abstractmethod
    def extract_features(self, part: Any, on_batch: Callable[[int, int], None] | None = None) -> np.ndarray: ...

    # The other strategies train the backbone batch by batch.
    @abstractmethod
    def datasets(self) -> Datasets: ...

    @abstractmethod
    def predict_proba(self, part: Any) -> np.ndarray:
        """Class probabilities of the trained classifier on a split (the test split)."""

    @abstractmethod
    def save(self, model_dir: Path, label_names: list[str], card: str) -> None: ...

    @staticmethod
    @abstractmethod
    def example_columns(part: Any) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
        """predictions.csv's columns that name each example (first) and extra ones (last)."""

    @staticmethod
    @abstractmethod
    def load(model_dir: Path, device: str | torch.device = "cpu", precision: str = "fp32") -> LoadedModel:
        """A saved model of this task, ready to predict on ``device`` in ``precision``."""
