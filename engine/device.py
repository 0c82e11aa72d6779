"""Pick the device, precision and CPU thread count deliberately."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceChoice:
    kind: str  # "cuda", "mps" or "cpu"
    name: str  # shown to the user: GPU name or "CPU (2 threads)"
    precision: str  # "bf16", "fp16" or "fp32"
    threads: int


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def choose_device(preference: str = "auto", threads: int | None = None) -> DeviceChoice:
    """CUDA when present (bf16 where supported, else fp16), Apple MPS, else CPU in fp32.

    Also sets torch's thread count: one per available core by default. Two torch processes
    sharing the cores slow each other down several times, so the count is explicit.
    """
    import torch

    n_threads = threads or available_cpus()
    torch.set_num_threads(n_threads)

    if preference in ("auto", "cuda") and torch.cuda.is_available():
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        # TF32 matmuls on Ampere+ are fast and accurate enough for fine-tuning.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        return DeviceChoice("cuda", torch.cuda.get_device_name(0), precision, n_threads)
    if preference in ("auto", "mps") and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return DeviceChoice("mps", "Apple GPU (MPS)", "fp32", n_threads)
    if preference in ("cuda", "mps"):
        from engine.errors import ConfigError

        raise ConfigError(f"device '{preference}' was requested but this computer has none; use --device auto or cpu.")
    return DeviceChoice("cpu", f"CPU ({n_threads} threads)", "fp32", n_threads)


def gpu_names() -> list[str]:
    """NVIDIA GPUs listed by nvidia-smi, without importing torch or initialising CUDA here."""
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def describe_hardware() -> str:
    """One line for the dashboard's sidebar, e.g. "GPU: NVIDIA H100" or "CPU (2 cores)"; torch-free."""
    names = gpu_names()
    if names:
        return f"GPU: {names[0]}" + (f" (+{len(names) - 1} more)" if len(names) > 1 else "")
    return f"CPU ({available_cpus()} cores)"
