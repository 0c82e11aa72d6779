"""The worker: one detached process per job, started by ``engine.core.jobs``.

    python -m engine.worker RUN_DIR [--resume]

A job is a training run or an adaptation (``engine.adapt``): what RUN_DIR/config.json holds says which
(``engine.core.adapt_jobs.job_settings``). Both kinds share the device slots and one queue.

It waits for a device slot (an flock on ``workspace/locks/slot-{i}.lock``, one slot per run
allowed at once, first come first served), keeping status.json "queued" with a message that
says which run it waits for, and stops there if the run is cancelled. With a slot held for the
whole job it calls ``engine.training.trainer.train`` (or ``engine.adapt.run.adapt``). It never exits
leaving its run "queued" or "running": whatever happens, the status ends completed, cancelled or failed.

Exit codes as for ``python -m engine.train``: 0 done, 2 a problem with the input or the model
(or the run is already being trained), 3 cancelled, 130 interrupted, 1 an unexpected error.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from engine.core.adapt_jobs import job_settings
from engine.core.adaptation import AdaptConfig
from engine.core.config import TrainConfig
from engine.core.distributed import launch
from engine.core.errors import ConfigError, TransferLabError
from engine.core.hardware import max_concurrent_runs, pinned_gpus, slots_needed, threads_for
from engine.core.jobs import hold_run, refresh_status
from engine.core.locks import slot_holders, try_device_slots
from engine.core.logs import add_verbose_flag, setup_logging, stop_on_sigterm
from engine.core.rundir import ACTIVE, RunDir, list_runs
from engine.core.workspace import adaptations_dir, runs_dir

POLL_SECONDS = 0.5
log = logging.getLogger("engine.worker")


def _wait_for_handover(run: RunDir, timeout: float = 10.0) -> None:
    """The launcher writes this worker's pid into status.json right after spawning it; wait for
    that before writing status ourselves, so the two writes cannot interleave."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if run.status().get("pid") == os.getpid():
            return
        time.sleep(0.02)


def _quoted(names: list[str]) -> str:
    return " and ".join(f"'{n}'" for n in names)


def _queue(run: RunDir, queued_at: float) -> tuple[list[str], list[str]]:
    """(runs training now, live runs queued before this one) among the jobs next to this one and the
    workspace's training runs and adaptations (they wait for the same device slots)."""
    running, ahead = [], []
    roots = dict.fromkeys(p.resolve() for p in (run.path.parent, runs_dir(), adaptations_dir()))
    for summary in (s for root in roots for s in list_runs(root)):
        other = RunDir(summary["path"])
        if other.path.resolve() == run.path.resolve():
            continue
        status = refresh_status(other) if summary["state"] in ACTIVE else {}
        if status.get("state") == "running":
            running.append(other.name)
        elif status.get("state") == "queued" and (status.get("queued_at") or float("inf")) < queued_at:
            ahead.append((status["queued_at"], other.name))
    return running, [name for _, name in sorted(ahead)]


def wait_for_slot(run: RunDir, queued_at: float | None = None) -> int | None:
    """Block until this run may use the device; None when it was cancelled while waiting.

    ``queued_at`` places it in the queue (default: now); runs queued earlier go first.
    """
    slots = wait_for_slots(run, queued_at)
    return slots[0][1] if slots else None


def wait_for_slots(
    run: RunDir, queued_at: float | None = None, count: int = 1, while_waiting: Callable[[], None] | None = None
) -> list[tuple[int, int]] | None:
    """Block until ``count`` device slots are free for this run and take them: [(slot index, locked fd)];
    None when it was cancelled while waiting. A run on several GPUs waits until it can have all of them.
    ``while_waiting`` is called at every look at the slots (rank 0 keeps the other processes waiting)."""
    n_slots = max_concurrent_runs()
    if count > n_slots:
        raise ConfigError(
            f"The run asks for {count} GPUs but this machine hands out {n_slots}: use --devices {n_slots} or fewer."
        )
    queued_at = time.time() if queued_at is None else queued_at
    last_message = None
    while True:
        if run.cancel_requested():
            run.set_status("cancelled", "Cancelled while waiting for the device; nothing was trained.")
            return None
        running, ahead = _queue(run, queued_at)
        # First come, first served: only the oldest waiting run tries for a free slot.
        if not ahead:
            taken = try_device_slots(n_slots, run.path, count)
            if taken is not None:
                return taken
        blockers = running or ahead[:1] or slot_holders(n_slots)
        if len(blockers) == 1:
            message = f"Waiting for the run '{blockers[0]}' to finish"
        elif blockers:
            message = f"Waiting for one of the runs {_quoted(blockers)} to finish"
        else:
            message = "Waiting for another run to finish"
        if len(ahead) > 1:
            message += f" ({len(ahead)} runs are ahead in the queue)"
        if message != last_message:
            run.set_status("queued", message, queued_at=queued_at)
            last_message = message
        if while_waiting is not None:
            while_waiting()
        time.sleep(POLL_SECONDS)


def hold_devices(run: RunDir, config, queued_at: float | None = None) -> tuple[list[int], dict[str, str]] | None:
    """Wait for the device slots a job needs and take them: their locked fds (kept open while it trains) and the
    environment that pins it to their GPUs; None when it was cancelled while waiting."""
    slots = wait_for_slots(run, queued_at, slots_needed(config))
    if slots is None:
        return None
    gpus = pinned_gpus([i for i, _ in slots]) if max_concurrent_runs() > 1 else {}
    return [fd for _, fd in slots], gpus


def run_worker(run_dir: str | Path, resume: bool = False, lock_fd: int | None = None) -> int:
    run = RunDir(Path(run_dir).resolve())
    if not run.config_path.exists():
        log.error("Error: %s is not a run directory (no config.json).", run.path)
        return 2
    if lock_fd is None:
        # Started by hand: take the run lock ourselves (engine.core.jobs hands it over otherwise).
        try:
            lock_fd = hold_run(run)
        except TransferLabError as exc:
            log.error("Error: %s", exc)
            return 2
        if resume:
            run.cancel_path.unlink(missing_ok=True)  # as engine.core.jobs.resume_run does before spawning
        queued_at = None
    else:
        _wait_for_handover(run)
        queued_at = run.status().get("queued_at")  # when the launcher queued it

    log.info("worker %d: %s%s", os.getpid(), run.path, " (resume)" if resume else "")
    held: list[int] = []
    try:
        try:
            config = job_settings(run.config_path)
        except TransferLabError as exc:
            run.set_status("failed", f"The run's settings cannot be read: {exc}")
            return 2
        devices = hold_devices(run, config, queued_at)
        if devices is None:
            return 3
        held, gpus = devices
        run.set_status("running", "Starting", session_started_at=time.time())
        if isinstance(config, TrainConfig) and config.devices > 1:
            return launch(run.path, config.devices, resume, env=gpus)  # torchrun trains it, rank 0 writes
        os.environ.update(gpus)  # before torch sees CUDA in this process
        threads = threads_for(config)
        if threads != config.threads:
            config = dataclasses.replace(config, threads=threads)  # not saved: config.json keeps the user's choice

        if isinstance(config, AdaptConfig):
            from engine.adapt.run import adapt as work
        else:
            from engine.training.trainer import train as work

        metrics = work(config, run, resume=resume)
        return 0 if metrics is not None else 3
    except TransferLabError as exc:  # train() already recorded it as failed
        log.error("Error: %s", exc)
        return 2
    except KeyboardInterrupt:
        if run.status().get("state") in ACTIVE:
            run.set_status("cancelled", "Stopped before training started. Resume the run to start it.")
        return 130
    except Exception as exc:
        log.exception("Unexpected error")
        if run.status().get("state") in ACTIVE:
            run.set_status("failed", f"Unexpected error: {type(exc).__name__}: {exc}")
        return 1
    finally:
        status = run.status()
        if status.get("state") in ACTIVE and status.get("pid") == os.getpid():
            try:
                run.set_status("failed", "The training process stopped without finishing the run.")
            except OSError as exc:  # a full or read-only disk; the pages say it from the process being gone
                log.error("Could not record the run's status: %s", exc)
        for fd in held:
            os.close(fd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine.worker", description="Train one prepared run directory when the device is free."
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="A run directory written by engine.core.jobs.start_run.")
    parser.add_argument("--resume", action="store_true", help="Continue from the run's last checkpoint.")
    parser.add_argument("--lock-fd", type=int, help=argparse.SUPPRESS)  # the run lock handed over by engine.core.jobs
    add_verbose_flag(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    stop_on_sigterm()
    return run_worker(args.run_dir, resume=args.resume, lock_fd=args.lock_fd)


if __name__ == "__main__":
    sys.exit(main())
