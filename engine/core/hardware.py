"""Facts about this computer, read without torch: cores, GPUs, free memory, and how runs share them.

The dashboard shows them and the estimate uses them; the worker uses the same thread split, so
what the estimate assumes is what training does.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

MAX_CONCURRENT_ENV = "TRANSFERLAB_MAX_CONCURRENT_RUNS"
ONNXRUNTIME_ENV = "TRANSFERLAB_ONNXRUNTIME"  # 0 / false / no: pictures through torch on the CPU too


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _nvidia_smi(query: str) -> list[str]:
    """One line per GPU for an nvidia-smi query, without importing torch or initialising CUDA here."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def gpu_names() -> list[str]:
    """NVIDIA GPUs listed by nvidia-smi."""
    return _nvidia_smi("name")


def has_gpu() -> bool:
    return bool(gpu_names())


def gpu_memory_bytes() -> int | None:
    """Memory of the first GPU."""
    lines = _nvidia_smi("memory.total")
    try:
        return int(lines[0]) * 1024**2 if lines else None
    except ValueError:
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


def describe_hardware() -> str:
    """One line for the dashboard's sidebar, e.g. "GPU: NVIDIA H100" or "CPU (2 cores)"."""
    names = gpu_names()
    if names:
        return f"GPU: {names[0]}" + (f" (+{len(names) - 1} more)" if len(names) > 1 else "")
    return f"CPU ({available_cpus()} cores)"


def max_concurrent_runs() -> int:
    """How many device slots the queue hands out (``TRANSFERLAB_MAX_CONCURRENT_RUNS``; default one per GPU, or
    one on a CPU): a run takes one, or one per GPU it trains on, so two 4-GPU runs share an 8-GPU server."""
    from engine.core.errors import ConfigError

    raw = os.environ.get(MAX_CONCURRENT_ENV, "").strip()
    if not raw:
        return max(1, len(gpu_names()))
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            f"{MAX_CONCURRENT_ENV} must be a whole number of 1 or more (got {raw!r}); "
            "1 runs one training at a time, which suits one GPU or a laptop CPU."
        )
    return value


def pictures_through_onnxruntime(device_type: str) -> bool:
    """Whether picture networks run through onnxruntime (``engine.tasks.image.runtime``) on a device of this
    type: on the CPU, unless ``TRANSFERLAB_ONNXRUNTIME`` turns it off or onnxruntime is not installed. The
    estimate reads the same rule.

    >>> pictures_through_onnxruntime("cuda")
    False
    """
    if device_type != "cpu" or os.environ.get(ONNXRUNTIME_ENV, "1").strip().lower() in ("0", "false", "no"):
        return False
    return importlib.util.find_spec("onnxruntime") is not None


def trains_on_gpu(device: str) -> bool:
    """Whether a run asking for ``device`` (auto, cuda, mps, cpu) will use an NVIDIA GPU here."""
    return device in ("auto", "cuda") and has_gpu()


def threads_for(config: Any) -> int:
    """CPU threads torch gets for a run: the config's, else the cores split between the runs that may
    train at once (two torch processes sharing the cores slow each other down several times)."""
    if config.threads is not None:
        return config.threads
    n_runs = max_concurrent_runs()
    if n_runs > 1 and not trains_on_gpu(config.device):
        return max(1, available_cpus() // n_runs)
    return available_cpus()


def slots_needed(config: Any) -> int:
    """Device slots a job takes: one per GPU it trains on (``devices``), one on a CPU (its processes share it)."""
    devices = getattr(config, "devices", 1)
    return devices if devices > 1 and trains_on_gpu(config.device) else 1


def pinned_gpus(slots: list[int]) -> dict[str, str]:
    """The environment that gives a job the GPUs of its slots (slot i is the i-th GPU this process may see);
    nothing on a machine without GPUs.

    >>> pinned_gpus([1, 2]) if not has_gpu() else {"CUDA_VISIBLE_DEVICES": "1,2"}
    {}
    """
    if not has_gpu():
        return {}
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [v.strip() for v in visible.split(",")] if visible else [str(i) for i in range(len(gpu_names()))]
    return {"CUDA_VISIBLE_DEVICES": ",".join(ids[i] for i in slots if i < len(ids))}
