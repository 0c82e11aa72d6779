"""Fine-tune a foundation model on labeled texts or pictures, headless.

    python -m engine.train --data data/spam_emails.csv --model minilm --strategy lora --out runs/x
    python -m engine.train --data data/fashion_demo.zip --model efficientnet-lite0 --strategy frozen --out runs/y
    python -m engine.train --resume runs/x
    python -m engine.train --data data/spam_emails.csv --model minilm --strategy frozen --out runs/z --track mlflow

The loop itself is ``engine.training.trainer``; this module is the command line around it.
Exit codes: 0 done, 2 a problem with the input or the model, 3 cancelled through the CANCEL
file, 130 interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from engine.core.baselines import baseline_summary, baseline_warning
from engine.core.config import TrainConfig, add_config_arguments, config_from_args
from engine.core.errors import ConfigError, TransferLabError, storage_problem
from engine.core.jobs import hold_run, prepare_run
from engine.core.logs import add_verbose_flag, setup_logging, stop_on_sigterm
from engine.core.rundir import RunDir
from engine.core.tracking import TRACKERS, tracking_record
from engine.training.trainer import resume_hint, train
from engine.worker import wait_for_slot

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
    add_verbose_flag(parser)
    add_config_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    stop_on_sigterm()
    held: list[int] = []  # the run lock, then a device slot: the same as a dashboard worker takes
    try:
        if args.resume:
            run = RunDir(args.resume)
            if not run.config_path.exists():
                raise ConfigError(f"{run.path} is not a run directory (no config.json); nothing to resume.")
            held.append(hold_run(run))
            if run.status().get("state") == "completed":
                raise ConfigError(f"{run.path} already completed; there is nothing to resume.")
            tracked = (tracking_record(run.path) or {}).get("tracker", "none")
            if args.track not in (None, tracked):
                raise ConfigError(
                    f"--track is chosen when a run starts: {run.path} is resumed with the tracking it started with "
                    f"({tracked}). Leave out --track."
                )
            config = TrainConfig.load(run.config_path)
            run.cancel_path.unlink(missing_ok=True)
        else:
            if not args.out:
                raise ConfigError("Missing --out RUN_DIR: the folder where the run is written.")
            config = config_from_args(args)
            run = prepare_run(config, args.out, args.name, args.note, args.track)
            held.append(hold_run(run))
        slot = wait_for_slot(run)
        if slot is None:
            log.warning("Cancelled while waiting for the device. %s", resume_hint(run))
            return 3
        held.append(slot)
        metrics = train(config, run, resume=bool(args.resume))
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
    print(
        f"Done: test accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f} "
        f"({metrics['trainable_params']:,} trainable parameters, {metrics['train_seconds']:.0f} s). Run: {run.path}"
    )
    for line in (baseline_summary(metrics), baseline_warning(metrics)):
        if line:
            print(f"Baselines: {line}" if line[0] in "+-" else line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
