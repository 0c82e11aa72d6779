"""Measuring tools: step clocks, summary statistics, FLOP counts, the matmul peak, memory, the machine.

Nothing here knows which figure it serves; ``bench.figures`` puts the pieces together.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


# --- statistics -----------------------------------------------------------------------------
def stat(values: Sequence[float]) -> dict[str, Any]:
    """Median, min and max of the repeats, and the repeats themselves."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("no repeats to summarise")
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "repeats": values}


def windows(times: Sequence[float], sizes: Sequence[int], warmup: int, repeats: int, steps: int) -> list[dict]:
    """Split a step clock into ``repeats`` windows of ``steps`` steps after ``warmup`` steps.

    ``times[k]`` is the wall clock at the end of step k (``times[0]``: when training began) and
    ``sizes[k]`` the examples in step k + 1.

    >>> windows([0, 5, 6, 7, 8, 9], [4, 4, 4, 4, 4], warmup=1, repeats=2, steps=2)
    [{'seconds': 2, 'samples': 8, 'first_step': 2}, {'seconds': 2, 'samples': 8, 'first_step': 4}]
    """
    out = []
    for r in range(repeats):
        a, b = warmup + r * steps, warmup + (r + 1) * steps
        if b >= len(times):
            raise ValueError(f"the step clock has {len(times) - 1} steps, fewer than the {b} needed")
        out.append({"seconds": times[b] - times[a], "samples": sum(sizes[a:b]), "first_step": a + 1})
    return out


# --- the step clock -------------------------------------------------------------------------------
def step_clock(stop_after: int | None = None, sync: Callable[[], None] | None = None, at_stop=None):
    """A TrainerCallback noting the wall clock at the end of every optimisation step.

    The interval between two step ends covers everything the engine does per step: fetching and
    padding the batch, forward, backward, clipping, the optimizer, the scheduler and the engine's
    own callback (events.jsonl, status.json). Evaluation and checkpoints come after the last step
    of an epoch, so they never fall inside a window. ``stop_after`` ends training after that many
    steps; ``at_stop()`` runs right at that step's end (e.g. to read the peak memory).
    """
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_train_begin(self, args, state, control, **kw):
            if sync is not None:
                sync()
            self.times = [time.perf_counter()]

        def on_step_end(self, args, state, control, **kw):
            if sync is not None:
                sync()  # CUDA runs asynchronously: wait for the step to really finish
            self.times.append(time.perf_counter())
            if stop_after is not None and len(self.times) - 1 >= stop_after:
                if at_stop is not None:
                    at_stop()
                control.should_training_stop = True

    return StepClock()


class BatchRecorder:
    """Wraps a data collator and keeps the examples of every batch it pads, in order.

    The bare loop replays exactly these batches, so both sides see the same examples, in the
    same order, with the same padding.
    """

    def __init__(self, collator: Callable[[list[dict]], Any]) -> None:
        self.collator = collator
        self.batches: list[list[dict]] = []

    def __call__(self, features: list[dict]) -> Any:
        self.batches.append(features)
        return self.collator(features)


# --- FLOPs -------------------------------------------------------------------------------------
def non_embedding_parameters(model) -> int:
    """Parameters that take part in the matmuls of every token: all but the embedding tables.

    The pooler of BERT-style models is left out too: TextClassifier pools by averaging and never
    back-propagates through it.
    """
    seen: dict[int, Any] = {}
    for name, p in model.named_parameters():
        if "embeddings" in name or "pooler" in name:
            continue
        seen.setdefault(id(p), p)
    return sum(p.numel() for p in seen.values())


def training_flops(n_params: int, layers: int, hidden: int, lengths: Sequence[int]) -> float:
    """6 x parameters x tokens, plus attention: 12 x layers x hidden x length^2 per sequence.

    >>> training_flops(10, 1, 2, [3])
    396.0
    """
    return float(sum(6 * n_params * n + 12 * layers * hidden * n * n for n in lengths))


def batch_lengths(batch: list[dict]) -> tuple[list[int], list[int]]:
    """Real token counts of a batch's sequences, and the counts after padding to its longest."""
    real = [int(sum(f["attention_mask"])) if "attention_mask" in f else len(f["input_ids"]) for f in batch]
    width = max(len(f["input_ids"]) for f in batch)
    return real, [width] * len(batch)


# --- the machine's own limit ----------------------------------------------------------------------
def matmul_peak(device: str, sizes: Sequence[int], tries: int) -> dict[str, Any]:
    """Dense matmul FLOP/s: torch.matmul on square matrices, fp32 on a CPU and bf16 on a GPU; best try."""
    import torch

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    per_size = {}
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        torch.matmul(a, b)  # warm-up: kernel choice, page faults
        rates = []
        for _ in range(tries):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            torch.matmul(a, b)
            if device == "cuda":
                torch.cuda.synchronize()
            rates.append(2 * n**3 / (time.perf_counter() - start))
        per_size[str(n)] = stat(rates)
        del a, b
    best = max(s["max"] for s in per_size.values())
    return {"flops_per_second": best, "dtype": str(dtype).replace("torch.", ""), "per_size": per_size}


# --- memory --------------------------------------------------------------------------------------
def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_mb() -> float | None:
    kb = _status_kb("VmRSS")
    return kb / 1024 if kb is not None else None


def peak_rss_mb() -> float | None:
    """VmHWM: the most resident memory this process has had (since the last reset)."""
    kb = _status_kb("VmHWM")
    return kb / 1024 if kb is not None else None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs); False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# --- the machine ---------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device) -> dict[str, Any]:
    import torch
    import transformers

    from engine.core.hardware import available_cpus

    info = {
        "cpu_model": cpu_model(),
        "cores": available_cpus(),
        "logical_cpus": os.cpu_count(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "device": device.kind,
        "device_name": device.name,
        "precision": device.precision,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
    }
    return info


# --- other processes --------------------------------------------------------------------------------
def _machine_cpu_seconds() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    ticks = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
    hz = os.sysconf("SC_CLK_TCK")
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class CpuMeter:
    """How much of the machine's CPU other processes took while a figure was measured.

    Throughput on a shared machine is only as good as the quiet around it: a share of a few percent
    is noise, tens of percent mean the figure is pessimistic (and its min/max spread shows it).
    """

    def __init__(self) -> None:
        self._machine = _machine_cpu_seconds()
        self._own = _own_cpu_seconds()

    def others_share(self) -> float | None:
        now = _machine_cpu_seconds()
        if now is None or self._machine is None:
            return None
        busy, total = now[0] - self._machine[0], now[1] - self._machine[1]
        own = _own_cpu_seconds() - self._own
        return max(0.0, busy - own) / total if total > 0 else None
