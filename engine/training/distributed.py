"""What the processes of a distributed run (``engine.core.distributed``) do together, through torch.distributed.

The transformers Trainer runs DDP itself once the process group exists; this module adds what the run
needs around it: one process group for the engine's own exchanges (gloo, which moves Python objects
between CPU processes, beside NCCL for the GPUs), decisions every process takes together (stop on CANCEL,
save a checkpoint now), and work split among the processes and gathered back in order (the frozen
strategy's features, the test predictions). With one process each function is the plain computation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np

from engine.core.distributed import World, collective_timeout_seconds, current_world

log = logging.getLogger(__name__)
T = TypeVar("T")


def join(world: World, device_kind: str) -> None:
    """Join the run's process group (once). GPUs: this process's GPU is its local rank's."""
    import torch
    import torch.distributed as dist

    if not world.distributed or dist.is_initialized():
        return
    backend = "gloo"
    if device_kind == "cuda":
        torch.cuda.set_device(world.local_rank)
        backend = "cpu:gloo,cuda:nccl"
    dist.init_process_group(backend=backend, timeout=timedelta(seconds=collective_timeout_seconds()))
    log.debug("rank %d of %d joined (%s)", world.rank, world.size, backend)


def active() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def agree(flag: bool) -> bool:
    """True on every process when it is true on any: a decision (stop, save) the processes take at the same step."""
    if not active():
        return flag
    import torch
    import torch.distributed as dist

    value = torch.tensor([int(flag)], dtype=torch.int32)
    dist.all_reduce(value, op=dist.ReduceOp.MAX, group=_objects_group())
    return bool(value.item())


def from_main(value: T) -> T:
    """Rank 0's ``value`` on every process (a Python object)."""
    if not active():
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0, group=_objects_group())
    return box[0]


def split_among(part: Any, compute: Callable[[Any], np.ndarray]) -> np.ndarray:
    """``compute(part)`` with the rows of ``part`` (a dataset with ``subset`` and ``len``) shared among the
    processes: each computes its contiguous share, and every process gets all rows back in order."""
    world = current_world()
    if not active() or len(part) < world.size:
        return compute(part)
    import torch.distributed as dist

    mine = compute(part.subset(list(world.share(len(part)))))
    pieces: list[Any] = [None] * world.size
    dist.all_gather_object(pieces, mine, group=_objects_group())
    return np.concatenate(pieces)


def _objects_group():
    """The gloo group Python objects and small flags travel through (the default group on CPUs; NCCL
    cannot carry objects without a GPU round trip)."""
    import torch.distributed as dist

    return None if "gloo" in str(dist.get_backend()) else _gloo()


_GLOO: list[Any] = []


def _gloo():
    import torch.distributed as dist

    if not _GLOO:
        _GLOO.append(dist.new_group(backend="gloo"))
    return _GLOO[0]


def leave() -> None:
    """Leave the process group at the end of the run (torchrun waits for every process to exit)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
