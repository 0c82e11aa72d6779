"""The cost of a domain adaptation (``engine.adapt``), before it starts: steps x batch x tokens in FLOPs.

The same cost model as training a text classifier (``engine.estimate.text``: its effective rates, per-step
cost and start-up), with what each method computes per text: the encoder, plus the vocabulary-sized
projection of the masked words (mlm) or of every word (clm); TSDAE encodes what is left after deleting
words and runs a decoder (a copy of the encoder with cross-attention) over the whole text. The held-out
texts are read twice (before and after), and masked-LM first fits its new head alone.

>>> from engine.core.adaptation import AdaptConfig
>>> adaptation_steps(AdaptConfig(data="notes.txt", batch_size=16, epochs=2), n_texts=1000)
114
>>> adaptation_steps(AdaptConfig(data="notes.txt", max_steps=150), n_texts=1000)
150
"""

from __future__ import annotations

from engine.core.adaptation import HEAD_WARMUP_STEPS, MLM_PROBABILITY, TSDAE_DELETION, AdaptConfig, heldout_count
from engine.core.policy import max_length_cap
from engine.core.strategies import STRATEGIES
from engine.estimate.common import (
    CPU_SECONDS_PER_STEP,
    GPU_FLOPS,
    GPU_SECONDS_PER_STEP,
    RUNTIME_BYTES,
    Estimate,
    finish,
    hardware,
)
from engine.estimate.shapes import model_shape, param_counts
from engine.estimate.text import (
    ACTIVATION_FLOATS,
    CPU_INFERENCE_FLOPS_PER_CORE,
    CPU_TRAINING_FLOPS_PER_CORE,
    STARTUP_SECONDS,
)

DECODER_SHARE = 4 / 3  # TSDAE's decoder: the encoder's layers plus cross-attention (a third more per layer)


def adaptation_steps(config: AdaptConfig, n_texts: int) -> int:
    """The optimiser steps of adapting on ``n_texts`` texts (after the held-out ones are set aside)."""
    if config.max_steps:
        return config.max_steps
    n_train = max(1, n_texts - heldout_count(n_texts, config.heldout))
    return -(-n_train // config.batch_size) * config.epochs


def estimate_adaptation(
    config: AdaptConfig, n_texts: int, method: str, mean_tokens: float | None = None
) -> tuple[Estimate, int]:
    """(the estimate, its steps) of adapting ``config.model`` with ``method`` on ``n_texts`` texts whose average
    token count is ``mean_tokens`` (default: 80% of the max length). An estimate, not a measurement."""
    shape = model_shape(config.model)
    where = hardware(config)
    limit = shape.max_positions or 512
    max_length = min(config.max_length or max_length_cap(limit, where.on_gpu), limit)
    tokens = min(float(mean_tokens), max_length) if mean_tokens else 0.8 * max_length
    steps = adaptation_steps(config, n_texts)
    n_heldout = heldout_count(n_texts, config.heldout)
    batch = min(config.batch_size, max(1, n_texts - n_heldout))

    total, vocab = shape.total, shape.embedding  # the word embeddings are (nearly all) of the embedding
    n_active = max(1, total - vocab)
    if method == "tsdae":
        total = int(total * (1 + DECODER_SHARE))  # the decoder starts as a copy of the encoder
        forward = 2 * n_active * tokens * (1 - TSDAE_DELETION + DECODER_SHARE) + 2 * vocab * tokens
    else:
        predicted = tokens * (MLM_PROBABILITY if method == "mlm" else 1.0)
        forward = 2 * n_active * tokens + 2 * vocab * predicted
    strategy = STRATEGIES[config.strategy]
    lora = strategy.trains == "adapters"
    trainable = param_counts(shape, 0, lora=True).lora_per_rank * config.lora_r if lora else total

    per_layer = tokens * shape.hidden * ACTIVATION_FLOATS + shape.heads * tokens * tokens * 3
    layers = shape.layers * (1 + DECODER_SHARE if method == "tsdae" else 1)
    memory = int(RUNTIME_BYTES + 4 * total + 12 * trainable + batch * per_layer * layers * 4)

    if where.on_gpu:
        infer_rate = train_rate = GPU_FLOPS
        per_step = GPU_SECONDS_PER_STEP
    else:
        infer_rate = CPU_INFERENCE_FLOPS_PER_CORE * where.threads
        train_rate = CPU_TRAINING_FLOPS_PER_CORE * where.threads
        per_step = CPU_SECONDS_PER_STEP
    evaluated = 2 * n_heldout + (HEAD_WARMUP_STEPS * batch if method == "mlm" else 0)
    trained = steps * batch * forward * (1 + strategy.backward_cost["text"])
    seconds = trained / train_rate + forward * evaluated / infer_rate + steps * per_step + STARTUP_SECONDS
    return finish(config, trainable, total, memory, seconds, where, shape.approximate, "max length"), steps
