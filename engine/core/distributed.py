"""Training on several processes (one per GPU) through PyTorch's ``torchrun``: the facts without torch.

``engine.train`` runs unchanged under ``torchrun --nproc_per_node N -m engine.train ...`` (or
``accelerate launch -m engine.train ...``): the launcher sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``
and ``LOCAL_WORLD_SIZE`` in each process, and :func:`current_world` reads them. Rank 0 alone writes the
run directory; the others train their share of every batch and of every prediction
(``engine.training.distributed``). ``python -m engine.train --devices N`` and the dashboard's worker
start torchrun themselves (:func:`torchrun_command`), wait for it, and turn a failed process into the
run's reason (:func:`failure_reason`).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from engine.core.errors import ConfigError

# One home for the variables torchrun (and accelerate launch) set in every process it starts.
RANK_ENV, LOCAL_RANK_ENV, WORLD_SIZE_ENV, LOCAL_WORLD_SIZE_ENV = "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE"
# Seconds a process waits for the others at a collective step before the run fails (a rank that hangs);
# the environment variable can change it.
COLLECTIVE_TIMEOUT_SECONDS = 600
COLLECTIVE_TIMEOUT_ENV = "TRANSFERLAB_COLLECTIVE_TIMEOUT"


def _int_env(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


# What accelerate's launcher sets for the sharding engines it offers. Runs are plain DDP (the Trainer's own),
# whose rank 0 writes the model whole: a sharded model would need every process to gather it first.
SHARDING_ENVS = {"ACCELERATE_USE_FSDP": "FSDP", "ACCELERATE_USE_DEEPSPEED": "DeepSpeed"}


def sharding_refused() -> str | None:
    """Why this run cannot start, when it was launched to shard the model (FSDP or DeepSpeed); else None.

    >>> sharding_refused() if not any(os.environ.get(name) for name in SHARDING_ENVS) else None
    """
    asked = [name for env, name in SHARDING_ENVS.items() if os.environ.get(env, "").lower() in ("1", "true", "yes")]
    if not asked:
        return None
    return (
        f"TransferLab trains on several GPUs with DDP (each GPU holds the whole model), not {asked[0]}: "
        "launch it without sharding (accelerate launch --multi_gpu, or torchrun; engine/launch/accelerate.yaml). "
        "For a model too large for one GPU, LoRA or the frozen strategy need far less memory than full fine-tuning."
    )


def collective_timeout_seconds() -> int:
    """``COLLECTIVE_TIMEOUT_SECONDS``, or the number in ``TRANSFERLAB_COLLECTIVE_TIMEOUT``."""
    return max(1, _int_env(COLLECTIVE_TIMEOUT_ENV, COLLECTIVE_TIMEOUT_SECONDS))


def waiting_signal_seconds() -> float:
    """How often rank 0 tells the other processes it is still waiting for the device (a queued run can wait
    longer than the collective timeout; each sign of life restarts their wait).

    >>> waiting_signal_seconds() if COLLECTIVE_TIMEOUT_ENV not in os.environ else 30.0
    30.0
    """
    return min(30.0, collective_timeout_seconds() / 4)


@dataclass(frozen=True)
class World:
    """The processes of one run: this one's rank among ``size``, and those on this machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes the run directory."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def share(self, n: int) -> range:
        """This process's part of ``n`` rows: contiguous, in rank order, sizes differing by at most one.

        >>> [list(World(rank=r, size=3).share(7)) for r in range(3)]
        [[0, 1], [2, 3], [4, 5, 6]]
        """
        return range(n * self.rank // self.size, n * (self.rank + 1) // self.size)


def current_world() -> World:
    """This process's place in a distributed run, from the launcher's variables (one process without them).

    >>> current_world() if "WORLD_SIZE" not in os.environ else World()
    World(rank=0, size=1, local_rank=0, local_size=1)
    """
    size = max(1, _int_env(WORLD_SIZE_ENV, 1))
    return World(
        rank=_int_env(RANK_ENV, 0),
        size=size,
        local_rank=_int_env(LOCAL_RANK_ENV, 0),
        local_size=max(1, _int_env(LOCAL_WORLD_SIZE_ENV, size)),
    )


def per_process_batch(batch_size: int, processes: int) -> int:
    """Each process's share of a training step's examples: the run's batch size stays the whole step's, so a
    run gives the same steps on any number of processes and resumes on another number.

    >>> per_process_batch(16, 4)
    4
    >>> per_process_batch(16, 3)
    Traceback (most recent call last):
    ...
    engine.core.errors.ConfigError: The batch size (16) must divide evenly among the 3 processes: each takes an equal share of every step. Use a batch size of 15 or 18, or 4 processes.
    """
    if batch_size % processes == 0:
        return batch_size // processes
    lower, upper = batch_size // processes * processes, -(-batch_size // processes) * processes
    near = min((d for d in range(1, batch_size + 1) if batch_size % d == 0), key=lambda d: (abs(d - processes), -d))
    sizes = " or ".join(str(s) for s in (lower, upper) if s > 0)
    raise ConfigError(
        f"The batch size ({batch_size}) must divide evenly among the {processes} processes: each takes an equal "
        f"share of every step. Use a batch size of {sizes}, or {near} processes."
    )


def torchrun_command(run_path: Path, processes: int, resume: bool) -> list[str]:
    """The command that trains a prepared run directory on ``processes`` processes of this machine.

    The caller holds the run's lock and its device slots; ``--launched`` tells rank 0 not to take them.
    """
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={processes}",
        "-m",
        "engine.train",
        "--resume" if resume else "--prepared",
        str(run_path),
        "--launched",
    ]


# torchrun's summary of a failed process: "rank : 1 (local_rank: 1)" then "exitcode : -9 (pid: 123)" and the
# signal, if any ("Signal 9 (SIGKILL) received by PID 123").
_FAILURE = re.compile(r"rank\s*:\s*(\d+)\s*\(local_rank:\s*\d+\)\s*\n\s*exitcode\s*:\s*(-?\d+)[^\n]*(?:\n[^\n]*){0,2}")
_SIGNAL = re.compile(r"\((SIG[A-Z]+)\)")


def root_failure(output: str) -> tuple[int, int, str | None] | None:
    """(rank, exit code, signal name) of the process torchrun names as the root cause, from its report."""
    root = output.split("Root Cause", 1)[-1]
    found = _FAILURE.search(root) or _FAILURE.search(output)
    if not found:
        return None
    signal_name = _SIGNAL.search(found.group(0))
    return int(found.group(1)), int(found.group(2)), signal_name.group(1) if signal_name else None


def failure_reason(output: str, processes: int) -> str:
    """The run's reason, in words, from torchrun's report of the processes that failed.

    >>> failure_reason('''Root Cause (first observed failure):
    ... [0]:
    ...   rank      : 1 (local_rank: 1)
    ...   exitcode  : -9 (pid: 4242)  (SIGKILL)
    ...   error_file: <N/A>''', 2)
    'Process 1 of the 2 training processes was killed (SIGKILL, by hand or because the system ran out of memory), so torchrun stopped the others. It can be resumed from its last checkpoint, on as many processes as you like.'
    """
    tail = " It can be resumed from its last checkpoint, on as many processes as you like."
    failure = root_failure(output)
    if failure is None:
        return f"One of the {processes} training processes failed, so torchrun stopped the others.{tail}"
    rank, code, signal_name = failure
    if code < 0 or signal_name:
        name = signal_name or f"signal {-code}"
        why = ", by hand or because the system ran out of memory" if name == "SIGKILL" else ""
        what = f"was killed ({name}{why})"
    else:
        what = f"ended with exit code {code}"
    return f"Process {rank} of the {processes} training processes {what}, so torchrun stopped the others.{tail}"


def check_processes(processes: int, device_kind: str, gpus: int) -> None:
    """Refuse more processes than this machine has GPUs (on a CPU, processes share the cores: allowed, for tests)."""
    if processes < 1:
        raise ConfigError(f"devices must be 1 or more (got {processes}).")
    if device_kind == "cuda" and processes > gpus:
        raise ConfigError(
            f"{processes} GPUs were asked for but this machine has {gpus}. Use --devices {max(gpus, 1)} or fewer."
        )


def launch(run_path: Path, processes: int, resume: bool, env: dict[str, str] | None = None) -> int:
    """Train a prepared run directory on ``processes`` processes through torchrun and wait for it; the caller
    holds the run's lock and its device slots. torchrun's output goes on to this process's standard error.
    When a process fails and the run is left "running", its status becomes "failed" with torchrun's reason.
    Returns the exit code of ``python -m engine.train`` for the run's end: 0 completed, 3 cancelled, 2 failed."""
    import subprocess

    from engine.core.rundir import ACTIVE, RunDir

    run = RunDir(run_path)
    child_env = {**os.environ, **(env or {})}
    child_env.setdefault("OMP_NUM_THREADS", "1")  # each process sets its own share (engine.training.device)
    lines: list[str] = []
    with subprocess.Popen(
        torchrun_command(run.path, processes, resume),
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as child:
        assert child.stdout is not None
        try:
            for line in child.stdout:
                sys.stderr.write(line)
                lines.append(line)
                del lines[:-400]  # torchrun's failure report is at the end
            code = child.wait()
        except KeyboardInterrupt:
            child.terminate()  # torchrun passes SIGTERM on; rank 0 records the run as interrupted
            child.wait()
            raise
    state = run.status().get("state")
    output = "".join(lines)
    failure = root_failure(output)
    # Rank 0 records its own end; when another process failed first, what rank 0 saw (a broken connection,
    # SIGTERM from torchrun) is a consequence, and torchrun's account is the reason.
    another_failed = failure is not None and failure[0] != 0 and not run.cancel_requested()
    if code != 0 and (state in ACTIVE or (state in ("failed", "cancelled") and another_failed)):
        run.set_status("failed", failure_reason(output, processes))
        state = "failed"
    return {"completed": 0, "cancelled": 3}.get(str(state), 2)
