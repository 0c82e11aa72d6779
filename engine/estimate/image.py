"""The cost of training an image classifier, from a probe of the model's architecture.

``python -m engine.probe`` builds the architecture with random weights in a subprocess (this
module stays torch-free) and measures its parameters per block, what LoRA adds, the forward
FLOPs and the activations; the answer is cached per model and image size. Rates were measured on
this project's 2-core CPU with EfficientNet-Lite0 on the Fashion demo (depthwise convolutions use
a CPU far less well than a transformer's matrix products do).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from typing import Any

from engine.core import catalog
from engine.core.errors import ModelNotAvailableError
from engine.core.hardware import pictures_through_onnxruntime
from engine.core.housekeeping import evict
from engine.core.policy import IMAGE_INFERENCE_BATCH
from engine.core.resolve import resolve_model
from engine.core.rundir import read_object
from engine.core.strategies import STRATEGIES, ParamCounts
from engine.core.workspace import PROJECT_ROOT, cache_dir, fingerprint
from engine.estimate.common import (
    CPU_SECONDS_PER_STEP,
    GPU_FLOPS,
    GPU_SECONDS_PER_STEP,
    RUNTIME_BYTES,
    Estimate,
    finish,
    hardware,
    head_seconds,
    work,
)

CPU_IMAGE_INFERENCE_FLOPS_PER_CORE = 5.3e9
# Frozen features through onnxruntime (engine.tasks.image.runtime): EfficientNet-Lite0 at 224 ran 134-137
# pictures/s against torch's 21-22 end to end on 2 cores (bench/results/onnx_speed.json), about 8x once the
# decoding both share is taken out; the first run on a model and size also exports and checks its graph.
CPU_IMAGE_ONNX_FLOPS_PER_CORE = 43e9
ONNX_EXPORT_SECONDS = 7.0
# Fitted (worst error 27%) to the time to train of EfficientNet-Lite0 on the Fashion demo, every strategy
# (python -m bench.calibrate ... --data data/fashion_demo.zip: MEASURED_IMAGES in tests/test_estimate.py).
CPU_IMAGE_TRAINING_FLOPS_PER_CORE = 28e9
IMAGE_DECODE_SECONDS = 0.002  # open, convert, resize and normalise one picture
IMAGE_STARTUP_SECONDS = 8.0  # load the model, index and check the pictures
IMAGE_ACTIVATION_FACTOR = 2.0  # stored activations while training vs the module outputs of a forward pass


def image_probe(model: str, image_size: int | None = None) -> dict[str, Any]:
    """The shape, FLOPs and activations of an image model (``python -m engine.probe``), cached on disk.

    The probe builds the architecture with torch, so it runs in a subprocess: this module stays
    torch-free for the dashboard. About ten seconds the first time for a model and size.
    """
    resolved = resolve_model(model)
    key = hashlib.sha256(f"{model}|{image_size}|{fingerprint(resolved.path)}".encode()).hexdigest()[:32]
    path = cache_dir("probes") / f"{key}.json"
    cached = read_object(path)
    if cached is not None:
        return cached
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
    evict("probes", keep=path)
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


def param_counts(probe: dict[str, Any], num_labels: int) -> ParamCounts:
    return ParamCounts(
        before=probe["before"],
        blocks=probe["blocks"],
        after=probe["after"],
        head=probe["feature_dim"] * num_labels + num_labels,
        lora_per_rank=probe["lora_per_rank"],
    )


def count_image_params(probe: dict[str, Any], config: Any, num_labels: int) -> tuple[int, int]:
    """(trainable, total) of the image classifier the engine builds, from a probe."""
    return STRATEGIES[config.strategy].trainable_params(param_counts(probe, num_labels), config)


def estimate_images(config: Any, n_train: int, num_labels: int = 2, mean_tokens: float | None = None) -> Estimate:
    strategy = STRATEGIES[config.strategy]
    try:
        probe = image_probe(config.model, config.image_size)
    except ModelNotAvailableError:
        info = catalog.find(config.model)
        if info is None or info.gflops is None or info.package is not None:
            raise
        probe = _approximate_probe(config.model, config.image_size or 224)  # a hub model not downloaded yet
    trainable, total = count_image_params(probe, config, num_labels)
    where = hardware(config)
    todo = work(config, n_train, num_labels)
    n_all = todo.n_train + todo.n_validation + todo.n_test

    forward = probe["forward_flops"]
    blocks = probe["blocks"]
    block_flops = probe.get("block_flops") or [forward / len(blocks)] * len(blocks)
    # Share of the forward FLOPs the backward pass runs through (partial stops at the frozen blocks).
    share = strategy.trained_share(config, block_flops, outside_cost=forward - sum(block_flops))
    activations_per_image = probe["activation_floats"] * 4
    if strategy.cached_features:
        activations = IMAGE_INFERENCE_BATCH * activations_per_image / 4 + n_all * probe["feature_dim"] * 4
    else:
        activations = config.batch_size * activations_per_image * IMAGE_ACTIVATION_FACTOR * share
    memory = int(RUNTIME_BYTES + 4 * total + 12 * trainable + activations)

    extra = 0.0  # seconds once per run
    if where.on_gpu:
        infer_rate = train_rate = GPU_FLOPS
        per_step, per_image = GPU_SECONDS_PER_STEP, 0.0
    else:
        infer_rate = CPU_IMAGE_INFERENCE_FLOPS_PER_CORE * where.threads
        train_rate = CPU_IMAGE_TRAINING_FLOPS_PER_CORE * where.threads
        per_step, per_image = CPU_SECONDS_PER_STEP, IMAGE_DECODE_SECONDS
        if strategy.cached_features and pictures_through_onnxruntime("cpu"):
            infer_rate = CPU_IMAGE_ONNX_FLOPS_PER_CORE * where.threads
            extra = ONNX_EXPORT_SECONDS
    train_flops = forward * (1 + strategy.backward_cost["image"] * share)
    seconds = todo.trained * (train_flops / train_rate + per_image)
    seconds += todo.evaluated * (forward / infer_rate + per_image) + todo.steps * per_step
    seconds += extra + IMAGE_STARTUP_SECONDS + head_seconds(config, todo.n_train, int(probe["feature_dim"]), num_labels)
    return finish(config, trainable, total, memory, seconds, where, bool(probe.get("approximate")), "image size")
