"""The cost of training a text classifier: parameters from the safetensors headers, FLOPs for time.

Time is a FLOP count (2 x parameters x tokens for a forward pass, plus the strategy's backward
cost through the part that trains: 2 forwards for weight and input gradients, 1 for LoRA, which
needs no weight gradients for the frozen weights) divided by an effective rate measured on a
2-core CPU with MiniLM, plus a small cost per step and a fixed start-up cost.
"""

from __future__ import annotations

from typing import Any

from engine.core.policy import TEXT_INFERENCE_BATCH, max_length_cap
from engine.core.strategies import STRATEGIES
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
from engine.estimate.shapes import ModelShape, model_shape, param_counts

# Effective rates fitted (worst error 12% against the time to train, every strategy) to runs on this project's 2-core CPU (torch 2.13 CPU build,
# fp32) with MiniLM-L6 on the demo spam e-mails, started as the dashboard starts them
# (python -m bench.calibrate): see MEASURED in tests/test_estimate.py.
CPU_INFERENCE_FLOPS_PER_CORE = 70e9  # forward passes (frozen features, evaluation)
CPU_TRAINING_FLOPS_PER_CORE = 48e9  # forward + backward + AdamW step
# Load the model and tokenise the data: the time to train (what Results shows) starts after the worker has
# started Python and imported torch (about 7 s more on 2 cores, shown apart on the Train page).
STARTUP_SECONDS = 6.0
ACTIVATION_FLOATS = 20  # stored activations per token, per hidden unit, per layer while training
CHARS_PER_TOKEN = 4  # about four characters per token in English text


def mean_tokens_from_chars(median_chars: float) -> float:
    """A text's token count guessed from its length in characters (the estimate caps it at the max length)."""
    return max(4.0, median_chars / CHARS_PER_TOKEN)


def count_params(shape: ModelShape, config: Any, num_labels: int = 2) -> tuple[int, int]:
    """(trainable, total) of the classifier the engine builds: backbone prepared by the strategy + head."""
    strategy = STRATEGIES[config.strategy]
    return strategy.trainable_params(param_counts(shape, num_labels, lora=strategy.trains == "adapters"), config)


def estimate_texts(config: Any, n_train: int, num_labels: int = 2, mean_tokens: float | None = None) -> Estimate:
    """``mean_tokens`` is the average token count of the texts after cutting at max length
    (default: 80% of the max length)."""
    strategy = STRATEGIES[config.strategy]
    shape = model_shape(config.model)
    trainable, total = count_params(shape, config, num_labels)
    where = hardware(config)

    limit = shape.max_positions or 512
    max_length = min(config.max_length or max_length_cap(limit, where.on_gpu), limit)
    tokens = min(float(mean_tokens), max_length) if mean_tokens else 0.8 * max_length
    todo = work(config, n_train, num_labels)
    share = strategy.trained_share(config, [1.0] * max(1, shape.layers))

    # Memory: fp32 weights, gradients and AdamW's two moments for what trains, and activations.
    per_layer_act = tokens * shape.hidden * ACTIVATION_FLOATS + shape.heads * tokens * tokens * 3
    if strategy.cached_features:
        # Inference only: one layer's activations at a time, plus the features kept for the head.
        n_all = todo.n_train + todo.n_validation + todo.n_test
        activations = TEXT_INFERENCE_BATCH * per_layer_act * 4 + n_all * shape.hidden * 4
    else:
        layers = max(1, round(shape.layers * share))
        activations = config.batch_size * per_layer_act * layers * 4
    memory = int(RUNTIME_BYTES + 4 * total + 12 * trainable + activations)

    # Time: FLOPs over an effective rate. Embedding lookups cost no FLOPs.
    n_active = max(1, shape.total - shape.embedding)
    if where.on_gpu:
        infer_rate = train_rate = GPU_FLOPS
        per_step = GPU_SECONDS_PER_STEP
    else:
        infer_rate = CPU_INFERENCE_FLOPS_PER_CORE * where.threads
        train_rate = CPU_TRAINING_FLOPS_PER_CORE * where.threads
        per_step = CPU_SECONDS_PER_STEP
    forward = 2 * n_active * tokens  # FLOPs per text
    train_flops = forward * (1 + strategy.backward_cost["text"] * share)
    seconds = train_flops * todo.trained / train_rate + forward * todo.evaluated / infer_rate
    seconds += todo.steps * per_step + STARTUP_SECONDS + head_seconds(config, todo.n_train, shape.hidden, num_labels)
    return finish(config, trainable, total, memory, seconds, where, shape.approximate, "max length")
