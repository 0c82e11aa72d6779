"""What every task's estimate shares: the result, the hardware it runs on, the fit check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.core.hardware import (
    available_memory_bytes,
    describe_hardware,
    gpu_memory_bytes,
    threads_for,
    trains_on_gpu,
)
from engine.core.policy import HEAD_CS, HEAD_CV_FOLDS, HEAD_CV_ROWS, MAX_EVALUATIONS, holds_out_validation
from engine.core.strategies import STRATEGIES
from engine.core.words import about_duration, format_bytes

CPU_SECONDS_PER_STEP = 0.004  # Trainer overhead per optimiser step (dominates the frozen head's training)
GPU_FLOPS = 40e12  # effective bf16 rate of a modern data-centre GPU
GPU_SECONDS_PER_STEP = 0.02  # kernel launches and Python per step: small models are overhead-bound
RUNTIME_BYTES = 600 * 1024**2  # Python, torch, the tokenizer and the data themselves
FIT_SHARE = 0.8  # warn when the estimate needs more than this share of the free memory


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
            f"{about_duration(self.seconds)} on {self.device}."
        )


@dataclass(frozen=True)
class Hardware:
    on_gpu: bool
    threads: int
    device: str  # in words


def hardware(config: Any) -> Hardware:
    """Where ``config`` will train, with the thread count the worker will give it."""
    on_gpu = trains_on_gpu(config.device)
    threads = threads_for(config)
    device = describe_hardware() if on_gpu else f"CPU ({threads} {'core' if threads == 1 else 'cores'})"
    return Hardware(on_gpu, threads, device)


@dataclass(frozen=True)
class Work:
    """What a run computes, in examples: what the estimate turns into time."""

    n_train: int
    n_validation: float
    n_test: float
    steps: int  # optimiser steps
    trained: float  # examples through forward and backward (a pair counts as two)
    evaluated: float  # examples through a forward pass only (features, validation, test)


def work(config: Any, n_train: int, num_labels: int) -> Work:
    """The run's steps and passes, by the strategy's recipe (engine.training.recipes), for ``n_train``
    training examples (the Data page's split, which holds out validation only with enough examples)."""
    strategy = STRATEGIES[config.strategy]
    n_train = max(1, int(n_train))
    n_all = n_train / max(0.2, 1 - config.validation_fraction - config.test_fraction)
    per_class = n_train / max(1, num_labels)
    held_out = strategy.uses_validation and holds_out_validation({"c": int(per_class)})
    n_val = n_all * config.validation_fraction if held_out else 0.0
    n_test = n_all * config.test_fraction
    epochs = config.resolved_epochs()
    if strategy.recipe == "features":
        return Work(n_train, n_val, n_test, 0, 0.0, n_train + n_val + n_test)
    if strategy.recipe == "contrastive":  # batches of examples, then the features of every split
        steps = -(-n_train // config.batch_size) * epochs
        return Work(n_train, n_val, n_test, steps, float(n_train * epochs), n_train + n_val + n_test)
    steps = max(-(-n_train // config.batch_size) * epochs, config.resolved_min_steps())
    trained = steps * min(config.batch_size, n_train)
    evaluations = min(MAX_EVALUATIONS, max(1, steps // max(1, -(-n_train // config.batch_size))))
    return Work(n_train, n_val, n_test, steps, float(trained), n_val * evaluations + n_test)


# The fitted head (frozen, setfit; engine.training.head): logistic regressions solved on the CPU, one per
# strength and fold and a last one on every example. Seconds per example x feature x class x fit,
# measured: 800 pictures x 1,280 features x 10 classes took about 35 s on 2 cores, 4,117 texts x 384
# features x 2 classes about 5 s (two classes fit one set of weights).
HEAD_SECONDS_PER_UNIT = 6e-8


def head_seconds(config: Any, n_train: int, feature_dim: int, num_labels: int) -> float:
    """Time to fit the head of a strategy that fits one (0 for the others); CPU-bound on a GPU machine too."""
    if STRATEGIES[config.strategy].recipe not in ("features", "contrastive"):
        return 0.0
    per_class = n_train / max(1, num_labels)
    folds = min(HEAD_CV_FOLDS, int(per_class)) if per_class >= 2 else 0
    searched = min(n_train, HEAD_CV_ROWS)  # the search cross-validates on a sample beyond HEAD_CV_ROWS
    rows_fitted = searched * len(HEAD_CS) * folds + n_train  # the search's fits, then one on every example
    classes = num_labels if num_labels > 2 else 1
    return HEAD_SECONDS_PER_UNIT * rows_fitted * feature_dim * classes


def finish(
    config: Any,
    trainable: int,
    total: int,
    memory: int,
    seconds: float,
    where: Hardware,
    approximate: bool,
    length: str,
) -> Estimate:
    """The fit check and the warning; ``length`` names what shortens the inputs ("max length", "image size")."""
    if where.on_gpu:
        free, space = gpu_memory_bytes(), "the GPU's memory"
    else:
        free, space = available_memory_bytes(), "the free memory of this computer"
    fits = free is None or memory < FIT_SHARE * free
    warning = None
    if not fits:
        light = STRATEGIES[config.strategy].trains in ("head", "adapters")
        lighter = (
            f"a smaller batch size or {length}"
            if light
            else f"LoRA or frozen (far less memory), or a smaller batch size or {length}"
        )
        warning = (
            f"This will probably not fit: it needs about {format_bytes(memory)} and {space} is "
            f"{format_bytes(free)}. Try {lighter}."
        )
    elif seconds > 2 * 3600:
        warning = (
            f"This will take a long time (about {about_duration(seconds)} on {where.device}). "
            f"Frozen or LoRA, fewer epochs or a smaller {length} are much faster."
        )
    return Estimate(
        trainable_params=trainable,
        total_params=total,
        memory_bytes=memory,
        seconds=seconds,
        fits=fits,
        warning=warning,
        device=where.device,
        approximate_params=approximate,
    )
