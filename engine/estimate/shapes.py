"""A transformer's shape read without loading it: config.json and the safetensors headers.

A safetensors file starts with an 8-byte little-endian length, then JSON with every tensor's name,
dtype and shape, so the parameters of each part of a model are known before anything is loaded.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.core import catalog
from engine.core.errors import ModelNotAvailableError
from engine.core.resolve import not_available, resolve_model
from engine.core.strategies import ParamCounts, lora_targets


@dataclass
class ModelShape:
    """What the estimate needs to know about a backbone (``AutoModel``, no task head)."""

    model_type: str
    hidden: int
    layers: int
    heads: int
    max_positions: int | None
    tensors: dict[str, tuple[int, ...]]  # backbone parameters by name (prefixes as stored)
    extra_after: int = 0  # parameters AutoModel adds that the file lacks (a BERT pooler)
    approximate: bool = False

    @property
    def total(self) -> int:
        return sum(math.prod(s) for s in self.tensors.values()) + self.extra_after

    @property
    def embedding(self) -> int:
        return sum(math.prod(s) for n, s in self.tensors.items() if _is_embedding(n))


# First part of a tensor name that belongs to a task head, not to the AutoModel backbone.
_HEAD_PREFIXES = (
    "lm_head",
    "cls",
    "classifier",
    "qa_outputs",
    "score",
    "pre_classifier",
    "vocab_transform",
    "vocab_layer_norm",
    "vocab_projector",
    "generator_predictions",
    "discriminator_predictions",
    "lm_loss",
)


_FLOAT_DTYPES = {"F64", "F32", "F16", "BF16"}


_WITH_POOLER = {"bert", "roberta", "xlm-roberta", "camembert"}  # AutoModel adds a pooler for these


_LAYER = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.")


def _is_embedding(name: str) -> bool:
    return "embed" in name or re.search(r"(?:^|\.)(wte|wpe)\.", name) is not None


def _layer_index(name: str) -> int | None:
    match = _LAYER.search(name)
    return int(match.group(1)) if match else None


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file: ``{name: {"dtype", "shape", "data_offsets"}, ...}``."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        if length > 100 * 1024**2:
            raise ValueError(f"{path.name} does not look like a safetensors file")
        header = json.loads(f.read(length))
    header.pop("__metadata__", None)
    return header


def _weight_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.exists():
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
        return [folder / f for f in sorted(set(weight_map.values()))]
    single = folder / "model.safetensors"
    if single.exists():
        return [single]
    return sorted(folder.glob("*.safetensors"))


def _first(config: dict[str, Any], *keys: str) -> Any:
    return next((config[k] for k in keys if isinstance(config.get(k), int)), None)


def read_model_shape(folder: str | Path, name: str | None = None) -> ModelShape:
    """Shapes of a saved transformers model folder (config.json + safetensors), without torch."""
    folder = Path(folder)
    name = name or str(folder)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise not_available(name, f"its config.json cannot be read ({exc}).") from None
    files = _weight_files(folder)
    if not files:
        raise not_available(
            name, "it has no safetensors weights. TransferLab only loads safetensors files, which cannot run code."
        )
    model_type = str(config.get("model_type", ""))
    tensors: dict[str, tuple[int, ...]] = {}
    for file in files:
        try:
            header = read_safetensors_header(file)
        except (OSError, ValueError, struct.error) as exc:
            raise not_available(name, f"its weights file {file.name} cannot be read ({exc}).") from None
        for tensor, info in header.items():
            first = tensor.split(".")[0]
            if first in _HEAD_PREFIXES or info.get("dtype") not in _FLOAT_DTYPES or tensor.endswith("position_ids"):
                continue
            if model_type == "gpt2" and re.search(r"\.attn\.(masked_)?bias$", tensor):
                continue  # causal-mask buffers saved by old GPT-2 checkpoints
            tensors[tensor] = tuple(int(d) for d in info["shape"])
    hidden = _first(config, "hidden_size", "n_embd", "dim", "d_model") or 0
    layers = _first(config, "num_hidden_layers", "n_layer", "n_layers") or len(
        {i for n in tensors if (i := _layer_index(n)) is not None}
    )
    heads = _first(config, "num_attention_heads", "n_head", "n_heads") or max(1, hidden // 64)
    extra = 0
    if model_type in _WITH_POOLER and not any("pooler." in n for n in tensors):
        extra = hidden * hidden + hidden  # AutoModel creates the pooler even when the file has none
    return ModelShape(
        model_type=model_type,
        hidden=hidden,
        layers=layers,
        heads=heads,
        max_positions=_first(config, "max_position_embeddings", "n_positions"),
        tensors=tensors,
        extra_after=extra,
    )


def _approximate_shape(name: str, params_millions: float) -> ModelShape:
    """A stand-in shape from a catalog size: a BERT-base-like stack scaled to the parameter count."""
    total = params_millions * 1e6
    layers = 12 if total > 50e6 else 6
    hidden = int(round(math.sqrt(total / (layers * 12 + 40)) / 64)) * 64 or 64
    per_layer = max(0, int((total - 40 * hidden * hidden) // layers))
    tensors: dict[str, tuple[int, ...]] = {"embeddings.word_embeddings.weight": (40 * hidden, hidden)}
    for i in range(layers):
        tensors[f"layer.{i}.attention.query.weight"] = (hidden, hidden)
        tensors[f"layer.{i}.attention.value.weight"] = (hidden, hidden)
        tensors[f"layer.{i}.rest"] = (max(0, per_layer - 2 * hidden * hidden),)
    return ModelShape("approximate", hidden, layers, max(1, hidden // 64), 512, tensors, approximate=True)


def model_shape(model: str) -> ModelShape:
    """The shape of a catalog model, local folder or hub id, read without loading it."""
    resolved = resolve_model(model)
    if resolved.kind != "hub":
        return read_model_shape(resolved.path, model)
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(resolved.path, "config.json")
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        cached = None
    if isinstance(cached, str) and _weight_files(Path(cached).parent):
        return read_model_shape(Path(cached).parent, model)
    info = catalog.find(model)
    if info is not None:
        return _approximate_shape(model, info.params_millions)
    raise ModelNotAvailableError(
        f"The size of '{model}' is not known until it is downloaded, so no estimate can be made yet. "
        "Training will download it first; or pick a model from the catalog."
    )


def param_counts(shape: ModelShape, num_labels: int, lora: bool = False) -> ParamCounts:
    """The shape's parameters by part: embeddings before the layers, each layer, the rest after them
    (final norm, pooler), our head, and (``lora``) what LoRA adds per unit of rank on its target modules
    (found by the same rule training uses, ``engine.core.strategies.lora_targets``)."""
    layers = max([shape.layers, *((_layer_index(n) or 0) + 1 for n in shape.tensors)])
    blocks = [0] * layers
    before = after = 0
    for name, dims in shape.tensors.items():
        size = math.prod(dims)
        layer = _layer_index(name)
        if layer is not None:
            blocks[layer] += size
        elif _is_embedding(name):
            before += size
        else:
            after += size
    per_rank = 0
    targets = lora_targets(shape.model_type, list(shape.tensors)) if lora else []
    for target in targets:
        for name, dims in shape.tensors.items():
            if name.endswith(f".{target}.weight") and len(dims) == 2:
                per_rank += dims[0] + dims[1]  # A: r x in, B: out x r
    return ParamCounts(
        before=before,
        blocks=blocks,
        after=after + shape.extra_after,
        head=shape.hidden * num_labels + num_labels,
        lora_per_rank=per_rank,
    )
