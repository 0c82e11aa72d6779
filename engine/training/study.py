"""What a learning curve (``engine.curve``) and a strategy sweep (``engine.sweep``) share.

A study is a folder: ``status.json`` (where it is, for the dashboard), ``CANCEL`` (a stop request),
``runs/`` (each point a real run directory, trained by :func:`engine.training.trainer.train`) and the
study's JSON, rewritten after every point so a stopped study keeps what it measured. The launcher
(``engine.core.study_jobs``) may hand over the folder's lock; a command started by hand takes it.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.core.config import TrainConfig, add_config_arguments, config_from_args
from engine.core.errors import ConfigError, TransferLabError, storage_problem
from engine.core.jobs import hold_run, prepare_run
from engine.core.logs import add_verbose_flag, setup_logging, stop_on_sigterm
from engine.core.rundir import RunDir, write_json_atomic
from engine.core.study_jobs import LAUNCHER_FILES
from engine.data.dataset import Splits

log = logging.getLogger(__name__)

SCORES = ("accuracy", "macro_f1", "accuracy_ci", "macro_f1_ci", "train_seconds")


class StudyCancelled(Exception):
    """The study's CANCEL file appeared (between points, or a point's run was cancelled)."""


def study_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", metavar="FILE.json", required=True, help="The run's settings (its config.json).")
    parser.add_argument("--out", required=True, help="Folder to write the study into (new or empty).")
    parser.add_argument("--lock-fd", type=int, help=argparse.SUPPRESS)  # the dashboard's launcher hands its lock over
    add_verbose_flag(parser)
    add_config_arguments(parser)
    return parser


class Study:
    """The study folder: its status for the dashboard, its stop request, its points' runs."""

    def __init__(self, out: str | Path, kind: str) -> None:
        self.folder = RunDir(out)
        self.kind = kind
        self.path = self.folder.path

    def check_empty(self) -> None:
        theirs = (
            sorted(p.name for p in self.path.iterdir() if p.name not in LAUNCHER_FILES) if self.path.is_dir() else []
        )
        if theirs:
            raise ConfigError(
                f"{self.path} is not empty (it holds {', '.join(theirs[:5])}). A study is written into a new or "
                "empty folder: choose another --out."
            )

    def progress(self, done: int, total: int, message: str, point: Path | None = None) -> None:
        self.folder.set_status(
            "running", message, kind=self.kind, done=done, total=total, point=str(point) if point else None
        )

    def check_cancel(self) -> None:
        if self.folder.cancel_requested():
            raise StudyCancelled

    def train_point(
        self, config: TrainConfig, splits: tuple[Splits, list[str]], name: str, note: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Train one point as a run under ``runs/``: its scores with its run's path, and its whole metrics."""
        from engine.training.trainer import train
        from engine.worker import wait_for_slot

        run = prepare_run(config, self.path / "runs" / name, name, note)
        held = [hold_run(run)]
        try:
            slot = wait_for_slot(run)
            if slot is None:
                raise StudyCancelled
            held.append(slot)
            metrics = train(config, run, splits=splits)
        finally:
            for fd in reversed(held):
                os.close(fd)
        if metrics is None:
            raise StudyCancelled
        return {**{k: metrics[k] for k in SCORES}, "run": str(run.path)}, metrics

    def write(self, filename: str, payload: dict[str, Any]) -> None:
        write_json_atomic(self.path / filename, payload)


def run_study(args: argparse.Namespace, kind: str, body: Callable[[Study, TrainConfig], str]) -> int:
    """The command around a study: logging, the folder's lock, exit codes and the final status.

    ``body`` trains the points and returns the summary. Exit codes as ``engine.train``: 0 done,
    2 a problem with the input, 3 cancelled, 130 interrupted.
    """
    setup_logging(args.verbose)
    stop_on_sigterm()
    study = Study(args.out, kind)
    lock = args.lock_fd  # held from here on: the folder and its status are ours
    try:
        if lock is None:
            study.path.mkdir(parents=True, exist_ok=True)
            study.check_empty()
            lock = hold_run(study.folder)
        config = config_from_args(args)
        study.folder.set_status("running", "Preparing the data", kind=kind)
        summary = body(study, config)
        study.folder.set_status("completed", summary)  # before the lock goes: a new start then finds it done
    except StudyCancelled:  # only raised once the folder is ours
        study.folder.set_status("cancelled", "Cancelled: the points finished before are kept.")
        log.warning("Cancelled.")
        return 3
    except TransferLabError as exc:
        _fail(study, str(exc), lock is not None)
        return 2
    except OSError as exc:
        problem = storage_problem(exc, args.out)
        _fail(study, problem or f"Unexpected error: {exc}", lock is not None)
        if problem is None:
            raise
        return 2
    except KeyboardInterrupt:
        if lock is not None:
            study.folder.set_status("cancelled", "Interrupted: the points finished before are kept.")
        return 130
    except BaseException as exc:
        _fail(study, f"Unexpected error: {type(exc).__name__}: {exc}", lock is not None)
        raise
    finally:
        if lock is not None:
            os.close(lock)
    print(summary)
    return 0


def _fail(study: Study, message: str, owned: bool) -> None:
    """Say it, and in the status when the folder is ours (never into someone else's folder)."""
    log.error("Error: %s", message)
    if owned:
        try:
            study.folder.set_status("failed", message)
        except OSError:
            pass
