"""Learning curves and strategy sweeps as background jobs, started from a run's Results page.

A study of a run lives in ``RUN_DIR/curve`` or ``RUN_DIR/sweep``. :func:`start_study` takes the
folder's lock, clears what an earlier study of the same kind left, writes a "queued" status and
spawns ``python -m engine.curve`` (or ``engine.sweep``) detached, handing the lock over: the command
survives page switches, reloads and the dashboard itself, and a second click finds the lock held.
Everything the page shows afterwards is read from the folder. Torch-free.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from engine.core.errors import ConfigError, TrainingError
from engine.core.jobs import start_detached
from engine.core.locks import RUN_LOCK, run_lock_held, try_lock
from engine.core.rundir import ACTIVE, RunDir, read_object
from engine.core.studies import CURVE_FILE, CURVE_FOLDER, SWEEP_FILE, SWEEP_FOLDER

STUDY_LOG = "study.log"
# What the launcher writes into a study's folder before the command starts (the command accepts them).
LAUNCHER_FILES = frozenset({RUN_LOCK, "status.json", STUDY_LOG, "CANCEL"})
KINDS = {  # kind: (folder in the run, command module, result file, in words)
    "curve": (CURVE_FOLDER, "engine.curve", CURVE_FILE, "learning curve"),
    "sweep": (SWEEP_FOLDER, "engine.sweep", SWEEP_FILE, "strategy sweep"),
}
LOST_MESSAGE = "The study's process stopped unexpectedly. Start it again; the points it finished are in its folder."


def study_dir(run_path: str | Path, kind: str) -> RunDir:
    """The study's folder, with the run folder's status, cancel and lock files."""
    return RunDir(Path(run_path) / KINDS[kind][0])


def study_status(run_path: str | Path, kind: str) -> dict[str, Any]:
    """The study's status (empty when none was started); one whose process is gone is marked failed."""
    study = study_dir(run_path, kind)
    if not study.status_path.exists():
        return {}
    status = study.status()
    # Alive while the lock is held: the command holds it, inherited, from its start to its exit (the pid
    # in status.json is whoever wrote last, the dashboard included).
    if status.get("state") in ACTIVE and not run_lock_held(study.path):
        latest = study.status()
        if latest.get("updated_at") == status.get("updated_at"):
            study.set_status("failed", LOST_MESSAGE)
        return study.status()
    return status


def study_result(run_path: str | Path, kind: str) -> dict[str, Any] | None:
    """The study's JSON (``curve.json`` or ``sweep.json``), or None when it has none yet."""
    return read_object(study_dir(run_path, kind).path / KINDS[kind][2])


def study_log_tail(run_path: str | Path, kind: str, lines: int = 5) -> str:
    path = study_dir(run_path, kind).path / STUDY_LOG
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _clear(folder: Path) -> None:
    """Remove an earlier study's files (only from a folder a study made: it has a status.json)."""
    leftovers = [p for p in folder.iterdir() if p.name != RUN_LOCK]
    if leftovers and not (folder / "status.json").exists():
        raise ConfigError(f"{folder} holds files TransferLab did not write; move them away to start the study.")
    for path in leftovers:
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def start_study(run_path: str | Path, kind: str, options: list[str]) -> RunDir:
    """Start the study of a completed run in a detached process; returns at once.

    ``options`` are the command's own flags, e.g. ``["--fractions", "0.1,0.5,1"]``. Raises a
    ConfigError when one is already running for this run.
    """
    run = RunDir(Path(run_path).resolve())
    if not run.config_path.is_file():
        raise ConfigError(f"{run.path} is not a run folder (no config.json); there is nothing to study.")
    _, module, _, words = KINDS[kind]
    study = study_dir(run.path, kind)
    study.path.mkdir(parents=True, exist_ok=True)
    fd = try_lock(study.path / RUN_LOCK, tries=5)
    if fd is None:
        raise ConfigError(f"A {words} of this run is already running: wait for it, or stop it first.")
    try:
        _clear(study.path)
        study.set_status("queued", "Starting", kind=kind)
        cmd = [sys.executable, "-m", module, "--config", str(run.config_path), "--out", str(study.path)]
        cmd += ["--lock-fd", str(fd), *options]
        try:
            start_detached(cmd, study.path / STUDY_LOG, fd)  # reaped when it ends
        except OSError as exc:
            message = f"Could not start the {words}: {exc}."
            study.set_status("failed", message)
            raise TrainingError(message) from exc
    finally:
        os.close(fd)  # the command keeps its inherited copy of the locked file until it exits
    return study


def cancel_study(run_path: str | Path, kind: str) -> None:
    """Ask the study to stop: the point being trained stops after its current step, and no other starts."""
    study = study_dir(run_path, kind)
    if study_status(run_path, kind).get("state") not in ACTIVE:
        return
    study.request_cancel()
    point = study.status().get("point")
    if point and Path(point).resolve().parent == (study.path / "runs").resolve():  # only a run of this study
        RunDir(point).request_cancel()
