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


def split_sizes(config: Any, n_train: int) -> tuple[int, float, float, int]:
    """(training examples, validation examples, test examples, optimiser steps) for ``n_train``."""
    n_train = max(1, int(n_train))
    n_all = n_train / max(0.2, 1 - config.validation_fraction - config.test_fraction)
    steps = -(-n_train // config.batch_size) * config.resolved_epochs()
    return n_train, n_all * config.validation_fraction, n_all * config.test_fraction, steps


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
