"""Before training: how many parameters train, how much memory it needs and roughly how long it takes.

Torch-free: parameter counts come from the safetensors header(s) of the model folder (an 8-byte
little-endian length, then JSON with every tensor's shape) and its config.json, so the dashboard
can show them without loading the model.

>>> e = estimate(TrainConfig(data="data/spam_emails.csv", model="minilm", strategy="lora"), n_train=4117)
>>> e.trainable_params
74498
>>> print(e.summary())  # doctest: +SKIP
An estimate: about 1.3 GB of memory and about 8 minutes on CPU (2 cores).

Time comes from a FLOP count (2 x parameters x tokens for a forward pass, 6 x for a training step,
about 4 x with LoRA, which needs no weight gradients for the frozen weights) divided by an
effective rate measured on a 2-core CPU with MiniLM, plus a small cost per step and a fixed
start-up cost. It is an estimate: within a factor of about 1.5 on a CPU like the one it was
measured on, rougher elsewhere.
"""

from __future__ import annotations

import json
import math
import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import catalog
from engine.config import TrainConfig
from engine.device import available_cpus, describe_hardware, gpu_names
from engine.errors import ConfigError, ModelNotAvailableError
from engine.resolve import not_available, resolve_model

# --- calibration ---------------------------------------------------------------------------------
# Measured on this project's 2-core CPU (torch 2.13 CPU build, fp32) with MiniLM-L6 on the demo
# spam e-mails at max length 128: see the numbers quoted in the module's tests.
CPU_INFERENCE_FLOPS_PER_CORE = 40e9  # forward passes (frozen features, evaluation)
CPU_TRAINING_FLOPS_PER_CORE = 24e9  # forward + backward + AdamW step
CPU_SECONDS_PER_STEP = 0.004  # Trainer overhead per optimiser step (dominates the frozen head's training)
GPU_FLOPS = 40e12  # effective bf16 rate of a modern data-centre GPU
GPU_SECONDS_PER_STEP = 0.02  # kernel launches and Python per step: small models are overhead-bound
STARTUP_SECONDS = 12.0  # start Python, import torch/transformers, load the model and tokenise the data
ACTIVATION_FLOATS = 20  # stored activations per token, per hidden unit, per layer while training
RUNTIME_BYTES = 600 * 1024**2  # Python, torch, the tokenizer and the data themselves
FIT_SHARE = 0.8  # warn when the estimate needs more than this share of the free memory

# Pictures: measured on the same CPU with EfficientNet-Lite0 on the Fashion demo (depthwise
# convolutions use a CPU far less well than a transformer's matrix products do).
CPU_IMAGE_INFERENCE_FLOPS_PER_CORE = 5.3e9
CPU_IMAGE_TRAINING_FLOPS_PER_CORE = 9.4e9
# LoRA on a CNN is not cheaper per step than full fine-tuning: peft runs each adapter as two extra
# convolutions on the layer's full-resolution input (measured: 114 s vs 101 s for full, 3 epochs).
IMAGE_LORA_FLOPS_FACTOR = 3.4
IMAGE_DECODE_SECONDS = 0.002  # open, convert, resize and normalise one picture
IMAGE_STARTUP_SECONDS = 10.0
IMAGE_FEATURE_BATCH = 32  # engine.vision.batched_images' batch size
IMAGE_ACTIVATION_FACTOR = 2.0  # stored activations while training vs the module outputs of a forward pass

# Defaults the engine uses when max_length is automatic (engine.train.choose_max_length).
AUTO_MAX_LENGTH = {"cpu": 128, "gpu": 256}
FEATURE_BATCH = 64  # engine.modeling.batched_forward's batch size


@dataclass
class Estimate:
    trainable_params: int
    total_params: int
    memory_bytes: int
    seconds: float
    fits: bool
    warning: str | None
    device: str  # in words, e.g. "CPU (2 cores)" or "GPU: NVIDIA H100"
    approximate_params: bool = False  # True when the model is not on disk and its size comes from the catalog

    @property
    def trainable_share(self) -> float:
        return self.trainable_params / self.total_params if self.total_params else 0.0

    def summary(self) -> str:
        """One plain sentence, e.g. "An estimate: about 1.3 GB of memory and about 8 minutes on CPU (2 cores)."."""
        return (
            f"An estimate: about {format_bytes(self.memory_bytes)} of memory and about "
            f"{format_duration(self.seconds)} on {self.device}."
        )


def format_bytes(n: float) -> str:
    return f"{n / 1024**3:.1f} GB" if n >= 1024**3 else f"{max(1, round(n / 1024**2))} MB"


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(5, round(seconds / 5) * 5)} seconds"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{seconds / 3600:.1f} hours"


# --- reading a model without loading it ----------------------------------------------------------
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


# --- parameter counts -------------------------------------------------------------------------
def _lora_targets(shape: ModelShape) -> list[str]:
    from engine.strategies import _LORA_TARGETS

    if shape.model_type in _LORA_TARGETS:
        return _LORA_TARGETS[shape.model_type]
    names = set(shape.tensors)
    for targets in (["q_proj", "v_proj"], ["query", "value"]):
        if any(n.endswith(f".{targets[0]}.weight") for n in names):
            return targets
    if shape.approximate:
        return ["query", "value"]
    raise ConfigError(
        f"TransferLab does not know which layers of a '{shape.model_type}' model LoRA should adapt. "
        "Choose the 'partial' or 'full' strategy for this model."
    )


def _frozen_layers(shape: ModelShape, config: TrainConfig) -> int:
    n_frozen = shape.layers // 2 if config.freeze_layers is None else config.freeze_layers
    if n_frozen > shape.layers:
        raise ConfigError(
            f"freeze_layers is {n_frozen} but this model has only {shape.layers} layers; "
            f"choose a number from 0 to {shape.layers}."
        )
    return n_frozen


def count_params(shape: ModelShape, config: TrainConfig, num_labels: int = 2) -> tuple[int, int]:
    """(trainable, total) of the classifier the engine builds: backbone prepared by the strategy + head."""
    head = shape.hidden * num_labels + num_labels
    total = shape.total + head
    strategy = config.strategy
    if strategy == "frozen":
        return head, total
    if strategy == "lora":
        adapters = 0
        for target in _lora_targets(shape):
            for name, dims in shape.tensors.items():
                if name.endswith(f".{target}.weight") and len(dims) == 2:
                    adapters += config.lora_r * (dims[0] + dims[1])  # A: r x in, B: out x r
        return adapters + head, total + adapters
    if strategy == "partial":
        n_frozen = _frozen_layers(shape, config)
        trained = shape.extra_after
        for name, dims in shape.tensors.items():
            layer = _layer_index(name)
            if (layer is not None and layer >= n_frozen) or (layer is None and not _is_embedding(name)):
                trained += math.prod(dims)
        return trained + head, total
    return total, total  # full, scratch


# --- hardware --------------------------------------------------------------------------------
def has_gpu() -> bool:
    """True when nvidia-smi lists a GPU (torch-free; CUDA is not initialised here)."""
    return bool(gpu_names())


def _gpu_memory_bytes() -> int | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return int(out.stdout.split()[0]) * 1024**2 if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (RAM that can be used without swapping)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cpu_threads(config: TrainConfig) -> int:
    if config.threads is not None:
        return config.threads
    from engine.jobs import max_concurrent_runs

    n_runs = max_concurrent_runs()
    return max(1, available_cpus() // n_runs) if n_runs > 1 else available_cpus()


# --- the estimate ----------------------------------------------------------------------------
def estimate(config: TrainConfig, n_train: int, mean_tokens: float | None = None, num_labels: int = 2) -> Estimate:
    """Trainable parameters, memory and time of training ``config`` on ``n_train`` examples.

    ``mean_tokens`` is the average token count of the texts after cutting at max length
    (default: 80% of the max length). An estimate, not a measurement.
    """
    if config.task == "image":
        return _estimate_images(config, n_train, num_labels)
    shape = model_shape(config.model)
    trainable, total = count_params(shape, config, num_labels)
    on_gpu, threads, device = _hardware(config)

    max_length = config.max_length or AUTO_MAX_LENGTH["gpu" if on_gpu else "cpu"]
    if shape.max_positions:
        max_length = min(max_length, shape.max_positions)
    tokens = min(float(mean_tokens), max_length) if mean_tokens else 0.8 * max_length
    n_train = max(1, int(n_train))
    n_all = n_train / max(0.2, 1 - config.validation_fraction - config.test_fraction)
    n_val, n_test = n_all * config.validation_fraction, n_all * config.test_fraction
    epochs = config.resolved_epochs()
    steps = math.ceil(n_train / config.batch_size) * epochs

    # Memory: fp32 weights, gradients and AdamW's two moments for what trains, and activations.
    frozen = config.strategy == "frozen"
    per_layer_act = tokens * shape.hidden * ACTIVATION_FLOATS + shape.heads * tokens * tokens * 3
    if frozen:
        # Inference only: one layer's activations at a time, plus the features kept for the head.
        activations = FEATURE_BATCH * per_layer_act * 4 + n_all * shape.hidden * 4
    else:
        layers = shape.layers - _frozen_layers(shape, config) if config.strategy == "partial" else shape.layers
        activations = config.batch_size * per_layer_act * max(1, layers) * 4
    memory = int(RUNTIME_BYTES + 4 * total + 12 * trainable + activations)

    # Time: FLOPs over an effective rate. Embedding lookups cost no FLOPs.
    n_active = max(1, shape.total - shape.embedding)
    if on_gpu:
        infer_rate = train_rate = GPU_FLOPS
        per_step = GPU_SECONDS_PER_STEP
    else:
        infer_rate = CPU_INFERENCE_FLOPS_PER_CORE * threads
        train_rate = CPU_TRAINING_FLOPS_PER_CORE * threads
        per_step = CPU_SECONDS_PER_STEP
    forward = 2 * n_active * tokens  # FLOPs per text
    if frozen:
        seconds = forward * n_all / infer_rate + steps * per_step
    else:
        if config.strategy == "lora":
            train_flops = 4 * n_active * tokens  # no weight gradients for the frozen weights
        elif config.strategy == "partial":
            n_frozen = _frozen_layers(shape, config)
            top = n_active * (shape.layers - n_frozen) / max(1, shape.layers)
            train_flops = forward + 4 * top * tokens  # backward only through the top layers
        else:
            train_flops = 6 * n_active * tokens
        evaluation = forward * (n_val * epochs + n_test)
        seconds = train_flops * n_train * epochs / train_rate + evaluation / infer_rate + steps * per_step
    seconds += STARTUP_SECONDS

    return _finish(config, trainable, total, memory, seconds, on_gpu, device, shape.approximate, "max length")


def _hardware(config: TrainConfig) -> tuple[bool, int, str]:
    on_gpu = config.device in ("auto", "cuda") and has_gpu()
    threads = _cpu_threads(config)
    device = describe_hardware() if on_gpu else f"CPU ({threads} {'core' if threads == 1 else 'cores'})"
    return on_gpu, threads, device


def _finish(
    config: TrainConfig,
    trainable: int,
    total: int,
    memory: int,
    seconds: float,
    on_gpu: bool,
    device: str,
    approximate: bool,
    length: str,
) -> Estimate:
    """The fit check and the warning, shared by texts and pictures."""
    if on_gpu:
        free, where = _gpu_memory_bytes(), "the GPU's memory"
    else:
        free, where = available_memory_bytes(), "the free memory of this computer"
    fits = free is None or memory < FIT_SHARE * free
    warning = None
    if not fits:
        lighter = (
            f"a smaller batch size or {length}"
            if config.strategy in ("frozen", "lora")
            else f"LoRA or frozen (far less memory), or a smaller batch size or {length}"
        )
        warning = (
            f"This will probably not fit: it needs about {format_bytes(memory)} and {where} is "
            f"{format_bytes(free)}. Try {lighter}."
        )
    elif seconds > 2 * 3600:
        warning = (
            f"This will take a long time (about {format_duration(seconds)} on {device}). "
            f"Frozen or LoRA, fewer epochs or a smaller {length} are much faster."
        )
    return Estimate(
        trainable_params=trainable,
        total_params=total,
        memory_bytes=memory,
        seconds=seconds,
        fits=fits,
        warning=warning,
        device=device,
        approximate_params=approximate,
    )


# --- pictures ------------------------------------------------------------------------------------
def image_probe(model: str, image_size: int | None = None) -> dict[str, Any]:
    """The shape, FLOPs and activations of an image model (``python -m engine.probe``), cached on disk.

    The probe builds the architecture with torch, so it runs in a subprocess: this module stays
    torch-free for the dashboard. About ten seconds the first time for a model and size.
    """
    import hashlib
    import os
    import sys

    from engine.workspace import PROJECT_ROOT, cache_dir, fingerprint

    resolved = resolve_model(model)
    key = hashlib.sha256(f"{model}|{image_size}|{fingerprint(resolved.path)}".encode()).hexdigest()[:32]
    path = cache_dir("probes") / f"{key}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    cmd = [sys.executable, "-m", "engine.probe", model] + (["--image-size", str(image_size)] if image_size else [])
    try:
        done = subprocess.run(
            cmd,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelNotAvailableError(f"Measuring '{model}' for the estimate took too long.") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        why = lines[-1].removeprefix("Error: ") if lines else "the probe failed"
        raise ModelNotAvailableError(f"No estimate for '{model}': {why}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    os.replace(tmp, path)
    return result


def _approximate_probe(model: str, image_size: int) -> dict[str, Any]:
    """A stand-in from the catalog when the model is not on this computer: 16 equal blocks."""
    info = catalog.find(model)
    if info is None or info.gflops is None:
        raise ModelNotAvailableError(
            f"The size of '{model}' is not known until it is downloaded, so no estimate can be made yet. "
            "Training will download it first; or pick a model from the catalog."
        )
    total = int(info.params_millions * 1e6)
    flops = info.gflops * 1e9 * (image_size / 224) ** 2
    return {
        "feature_dim": 1024,
        "before": total // 50,
        "blocks": [total * 9 // 10 // 16] * 16,
        "after": total - total // 50 - total * 9 // 10 // 16 * 16,
        "lora_per_rank": total // 400,
        "forward_flops": flops,
        "activation_floats": flops / 250,  # a ResNet-50 keeps about 30 million values per 224-pixel image
        "approximate": True,
    }


def count_image_params(probe: dict[str, Any], config: TrainConfig, num_labels: int) -> tuple[int, int]:
    """(trainable, total) of the image classifier the engine builds, from a probe."""
    head = probe["feature_dim"] * num_labels + num_labels
    blocks = probe["blocks"]
    backbone = probe["before"] + sum(blocks) + probe["after"]
    total = backbone + head
    if config.strategy == "frozen":
        return head, total
    if config.strategy == "lora":
        adapters = config.lora_r * probe["lora_per_rank"]
        return adapters + head, total + adapters
    if config.strategy == "partial":
        n_frozen = len(blocks) // 2 if config.freeze_layers is None else config.freeze_layers
        if n_frozen > len(blocks):
            raise ConfigError(
                f"freeze_layers is {n_frozen} but this model has only {len(blocks)} blocks; "
                f"choose a number from 0 to {len(blocks)}."
            )
        return sum(blocks[n_frozen:]) + probe["after"] + head, total
    return total, total


def _estimate_images(config: TrainConfig, n_train: int, num_labels: int) -> Estimate:
    try:
        probe = image_probe(config.model, config.image_size)
    except ModelNotAvailableError:
        info = catalog.find(config.model)
        if info is None or info.gflops is None or info.package is not None:
            raise
        probe = _approximate_probe(config.model, config.image_size or 224)  # a hub model not downloaded yet
    trainable, total = count_image_params(probe, config, num_labels)
    on_gpu, threads, device = _hardware(config)
    n_train = max(1, int(n_train))
    n_all = n_train / max(0.2, 1 - config.validation_fraction - config.test_fraction)
    n_val, n_test = n_all * config.validation_fraction, n_all * config.test_fraction
    epochs = config.resolved_epochs()
    steps = math.ceil(n_train / config.batch_size) * epochs

    blocks = probe["blocks"]
    n_frozen = len(blocks) // 2 if config.freeze_layers is None else min(config.freeze_layers, len(blocks))
    # Share of the forward FLOPs above the frozen blocks: what backward runs through with partial.
    block_flops = probe.get("block_flops") or [probe["forward_flops"] / len(blocks)] * len(blocks)
    frozen_flops = sum(block_flops[:n_frozen]) + (probe["forward_flops"] - sum(block_flops)) * (n_frozen > 0) / 2
    top_share = 1 - frozen_flops / max(1, probe["forward_flops"]) if config.strategy == "partial" else 1.0
    activations_per_image = probe["activation_floats"] * 4
    if config.strategy == "frozen":
        activations = IMAGE_FEATURE_BATCH * activations_per_image / 4 + n_all * probe["feature_dim"] * 4
    else:
        activations = config.batch_size * activations_per_image * IMAGE_ACTIVATION_FACTOR * top_share
    memory = int(RUNTIME_BYTES + 4 * total + 12 * trainable + activations)

    forward = probe["forward_flops"]
    if on_gpu:
        infer_rate = train_rate = GPU_FLOPS
        per_step, per_image = GPU_SECONDS_PER_STEP, 0.0
    else:
        infer_rate = CPU_IMAGE_INFERENCE_FLOPS_PER_CORE * threads
        train_rate = CPU_IMAGE_TRAINING_FLOPS_PER_CORE * threads
        per_step, per_image = CPU_SECONDS_PER_STEP, IMAGE_DECODE_SECONDS
    if config.strategy == "frozen":
        seconds = n_all * (forward / infer_rate + per_image) + steps * per_step
    else:
        if config.strategy == "lora":
            train_flops = IMAGE_LORA_FLOPS_FACTOR * forward
        elif config.strategy == "partial":
            train_flops = forward + 2 * forward * top_share
        else:
            train_flops = 3 * forward
        evaluation = (n_val * epochs + n_test) * (forward / infer_rate + per_image)
        seconds = n_train * epochs * (train_flops / train_rate + per_image) + evaluation + steps * per_step
    seconds += IMAGE_STARTUP_SECONDS
    return _finish(
        config, trainable, total, memory, seconds, on_gpu, device, bool(probe.get("approximate")), "image size"
    )


# --- which strategy to suggest --------------------------------------------------------------------
def recommend_strategy(n_examples: int, has_gpu: bool, task: str = "text") -> tuple[str, str]:
    """(strategy, one plain sentence why) from the dataset size, the hardware and the kind of data.

    >>> recommend_strategy(150, has_gpu=False)[0]
    'frozen'
    >>> recommend_strategy(1000, has_gpu=False, task="image")[0]
    'partial'
    """
    n = int(n_examples)
    if task == "image":
        return _recommend_for_pictures(n, has_gpu)
    if n < 300:
        return "frozen", (
            f"With {n:,} examples, training only a small classifier on the frozen model is the safest choice: "
            "too little data to retrain the model itself without overfitting, and it is the fastest."
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
            "model with a small classifier on top gives a good result in minutes."
        )
    return "lora", (
        f"With {n:,} examples, LoRA is usually more accurate than the frozen model and still trains "
        "in minutes on a CPU, because only small adapters change."
    )


def _recommend_for_pictures(n: int, has_gpu: bool) -> tuple[str, str]:
    # Measured on the Fashion demo (700 training pictures, EfficientNet-Lite0, 224 px, 2-core CPU):
    # frozen 0.815 in 74 s, partial 0.845 in 202 s; LoRA on a CNN is no faster than full fine-tuning.
    if n < 300:
        return "frozen", (
            f"With {n:,} pictures, training only a small classifier on the frozen model is the safest choice: "
            "too few to retrain the model itself, and ImageNet features already tell most kinds of pictures apart."
        )
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
            "model with a small classifier on top gives a good result in minutes."
        )
    return "partial", (
        f"With {n:,} pictures, retraining the top half of the model adapts it to your pictures and is usually "
        "more accurate than the frozen model; minutes on a CPU at the Quick look image size."
    )
