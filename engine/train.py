"""Fine-tune a foundation model on labeled texts or pictures, headless.

    python -m engine.train --data data/spam_emails.csv --model minilm --strategy lora --out runs/x
    python -m engine.train --data data/fashion_demo.zip --model efficientnet-lite0 --strategy frozen --out runs/y
    python -m engine.train --resume runs/x
    python -m engine.train --data data/spam_emails.csv --model minilm --strategy frozen --out runs/z --track mlflow
    python -m engine.train --data big.csv --model minilm --strategy full --devices 4 --out runs/g   # 4 GPUs, DDP
    torchrun --nproc_per_node 4 -m engine.train --data big.csv --model minilm --strategy full --out runs/g

Under torchrun (or ``accelerate launch``) every process runs this command; rank 0 prepares and writes the
run directory, the others train their share (``engine.core.distributed``). ``--devices N`` starts torchrun
itself on this machine and turns a failed process into the run's reason.

The loop itself is ``engine.training.trainer``; this module is the command line around it.
Exit codes: 0 done, 2 a problem with the input or the model, 3 cancelled through the CANCEL
file, 130 interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Callable

from engine.core.baselines import baseline_summary, baseline_warning
from engine.core.config import TrainConfig, add_config_arguments, config_from_args
from engine.core.distributed import World, current_world, launch, sharding_refused, waiting_signal_seconds
from engine.core.errors import ConfigError, TransferLabError, storage_problem
from engine.core.hardware import slots_needed
from engine.core.jobs import hold_run, prepare_run
from engine.core.logs import add_verbose_flag, setup_logging, stop_on_sigterm
from engine.core.rundir import FollowerRunDir, RunDir
from engine.core.tracking import TRACKERS, tracking_record
from engine.training.trainer import resume_hint, train
from engine.worker import hold_devices, wait_for_slots

log = logging.getLogger("engine.train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine.train",
        description="Fine-tune a foundation model on labeled texts or pictures and write a run directory.",
    )
    parser.add_argument("--out", help="Run directory to create (must not already hold a run).")
    parser.add_argument("--resume", metavar="RUN_DIR", help="Continue an interrupted run from its last checkpoint.")
    parser.add_argument("--config", metavar="FILE.json", help="Settings as JSON; flags given here override it.")
    parser.add_argument(
        "--name", help="A name for the run, shown in the dashboard's lists (default: its folder's name)."
    )
    parser.add_argument("--note", help="A note kept with the run (what you tried, and why).")
    parser.add_argument(
        "--track",
        choices=TRACKERS,
        help="Also log the run to MLflow: its settings, the loss and validation scores per step, the final "
        "scores and the model. Where: MLFLOW_TRACKING_URI when set (a team server), else $TRANSFERLAB_HOME/mlruns. "
        "Default: none. A resumed run keeps the choice it started with.",
    )
    # A run prepared by a launcher that holds its lock and device slots (engine.core.distributed.launch).
    parser.add_argument("--prepared", metavar="RUN_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--launched", action="store_true", help=argparse.SUPPRESS)
    add_verbose_flag(parser)
    add_config_arguments(parser)
    return parser


def open_run(args: argparse.Namespace, world: World, held: list[int]) -> tuple[TrainConfig, RunDir, bool]:
    """The run to train (prepared, or one to resume), its settings and whether it resumes; takes the run's
    lock and a device slot into ``held`` unless a launcher holds them. Rank 0's part of a distributed run."""
    if args.resume or args.prepared:
        run = RunDir(args.resume or args.prepared)
        if not run.config_path.exists():
            raise ConfigError(f"{run.path} is not a run directory (no config.json); nothing to resume.")
        if not args.launched:
            held.append(hold_run(run))
        if args.resume and run.status().get("state") == "completed":
            raise ConfigError(f"{run.path} already completed; there is nothing to resume.")
        tracked = (tracking_record(run.path) or {}).get("tracker", "none")
        if args.track not in (None, tracked):
            raise ConfigError(
                f"--track is chosen when a run starts: {run.path} is resumed with the tracking it started with "
                f"({tracked}). Leave out --track."
            )
        config = TrainConfig.load(run.config_path)
        devices = world.size if world.distributed else (args.devices or config.devices)
        if devices != config.devices:  # resumed on another number of processes: the steps stay the same
            config = dataclasses.replace(config, devices=devices)
            config.save(run.config_path)
        if args.resume:
            run.cancel_path.unlink(missing_ok=True)
    else:
        if not args.out:
            raise ConfigError("Missing --out RUN_DIR: the folder where the run is written.")
        config = config_from_args(args)
        if world.distributed:
            config = dataclasses.replace(config, devices=world.size)
        run = prepare_run(config, args.out, args.name, args.note, args.track)
        held.append(hold_run(run))
    return config, run, bool(args.resume)


def _join(world: World, args: argparse.Namespace) -> None:
    """This process joins the run's process group (GPUs when the run may use them)."""
    import torch

    from engine.training.distributed import join

    join(world, "cuda" if torch.cuda.is_available() and args.device in (None, "auto", "cuda") else "cpu")


def _still_waiting() -> Callable[[], None]:
    """Rank 0's sign of life to the other processes while it waits for the device, every
    ``waiting_signal_seconds``: a queued run may wait longer than they wait at a collective step."""
    from engine.training.distributed import from_main

    last = time.monotonic()

    def tell() -> None:
        nonlocal last
        if time.monotonic() - last >= waiting_signal_seconds():
            from_main({"waiting": True})
            last = time.monotonic()

    return tell


def _distributed(args: argparse.Namespace, world: World, held: list[int]) -> tuple[TrainConfig, RunDir, bool] | None:
    """Rank 0 opens the run, waits for its device slots (one per GPU, as a worker would take) unless a launcher
    holds them, and tells the others which run it is (None on a process told of a problem)."""
    from engine.training.distributed import from_main

    _join(world, args)
    if world.is_main:
        try:
            config, run, resume = open_run(args, world, held)
            if not args.launched:
                slots = wait_for_slots(run, None, slots_needed(config), while_waiting=_still_waiting())
                if slots is None:
                    raise ConfigError(f"Cancelled while waiting for the device. {resume_hint(run)}")
                held.extend(fd for _, fd in slots)
        except TransferLabError as exc:
            from_main({"problem": str(exc)})
            raise
        from_main({"run": str(run.path), "resume": resume})
        return config, run, resume
    told = from_main(None)
    while told.get("waiting"):
        told = from_main(None)
    if "problem" in told:
        return None
    run = FollowerRunDir(told["run"])
    return TrainConfig.load(run.config_path), run, told["resume"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    world = current_world()
    setup_logging(args.verbose)
    if not world.is_main:
        logging.getLogger("engine").setLevel(logging.WARNING)  # one account of the run: rank 0's
    stop_on_sigterm()
    held: list[int] = []  # the run lock, then a device slot: the same as a dashboard worker takes
    refused = sharding_refused()
    if refused:
        log.error("Error: %s", refused)
        return 2
    try:
        if world.distributed:
            opened = _distributed(args, world, held)
            if opened is None:
                return 2  # rank 0 says why
            config, run, resume = opened
        else:
            config, run, resume = open_run(args, world, held)
            devices = hold_devices(run, config)
            if devices is None:
                log.warning("Cancelled while waiting for the device. %s", resume_hint(run))
                return 3
            held.extend(devices[0])
            gpus = devices[1]
            if config.devices > 1:  # torchrun trains it; this process keeps the lock and the slots
                return _report(run, launch(run.path, config.devices, resume, env=gpus))
            os.environ.update(gpus)
        metrics = train(config, run, resume=resume)
    except TransferLabError as exc:
        log.error("Error: %s", exc)
        return 2
    except OSError as exc:  # the run's settings could not even be read or written
        problem = storage_problem(exc, args.resume or args.out)
        if problem is None:
            raise
        log.error("Error: %s", problem)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        for fd in reversed(held):
            os.close(fd)
    if metrics is None:
        log.warning("Cancelled. %s", resume_hint(run))
        return 3
    if not world.is_main or args.launched:
        return 0  # a launcher reports a distributed run's end
    _print_done(metrics, run)
    return 0


def _report(run: RunDir, code: int) -> int:
    """What a launcher says once torchrun is done: the results, or the run's reason."""
    if code == 0 and run.metrics():
        _print_done(run.metrics(), run)
    elif code == 3:
        log.warning("Cancelled. %s", resume_hint(run))
    else:
        log.error("Error: %s", run.status().get("message") or "the distributed run failed.")
    return code


def _print_done(metrics: dict, run: RunDir) -> None:
    print(
        f"Done: test accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f} "
        f"({metrics['trainable_params']:,} trainable parameters, {metrics['train_seconds']:.0f} s). Run: {run.path}"
    )
    for line in (baseline_summary(metrics), baseline_warning(metrics)):
        if line:
            print(f"Baselines: {line}" if line[0] in "+-" else line)


if __name__ == "__main__":
    sys.exit(main())
