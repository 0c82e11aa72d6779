"""Pick the device, precision and CPU thread count deliberately (torch; the facts are in engine.core.hardware)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.distributed import World, current_world
from engine.core.errors import ConfigError
from engine.core.hardware import available_cpus


@dataclass(frozen=True)
class DeviceChoice:
    kind: str  # "cuda", "mps" or "cpu"
    name: str  # shown to the user: GPU name or "CPU (2 cores)"
    precision: str  # "bf16", "fp16" or "fp32"
    threads: int


def choose_device(preference: str = "auto", threads: int | None = None, world: World | None = None) -> DeviceChoice:
    """CUDA when present (bf16 where supported, else fp16), Apple MPS, else CPU in fp32.

    Also sets torch's thread count: one per available core by default, shared among the processes of a
    distributed run on this machine. Two torch processes sharing the cores slow each other down several
    times, so the count is explicit.
    """
    import torch

    world = world or current_world()
    n_threads = max(1, (threads or available_cpus()) // world.local_size)
    torch.set_num_threads(n_threads)

    if preference in ("auto", "cuda") and torch.cuda.is_available():
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        # TF32 matmuls on Ampere+ are fast and accurate enough for fine-tuning.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        name = torch.cuda.get_device_name(world.local_rank if world.distributed else 0)
        return DeviceChoice("cuda", f"{world.size} × {name}" if world.distributed else name, precision, n_threads)
    if preference in ("auto", "mps") and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return DeviceChoice("mps", "Apple GPU (MPS)", "fp32", n_threads)
    if preference in ("cuda", "mps"):
        raise ConfigError(f"device '{preference}' was requested but this computer has none; use --device auto or cpu.")
    # The words the dashboard's sidebar and estimate use for the same thing.
    cores = n_threads * world.local_size
    name = f"CPU ({cores} {'core' if cores == 1 else 'cores'})"
    return DeviceChoice("cpu", f"{name}, {world.size} processes" if world.distributed else name, "fp32", n_threads)
