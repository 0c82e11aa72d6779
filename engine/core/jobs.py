"""Runs as background jobs: start, queue, cancel, resume and delete them from the dashboard.

Training never happens in the calling process. :func:`start_run` writes the run directory
(config.json and a "queued" status) and spawns ``python -m engine.worker RUN_DIR``, a detached
process that waits for a device slot (see ``engine.worker``) and then trains. Everything the
pages need afterwards is on disk, so a refreshed browser tab finds the run again.

>>> run = start_run(TrainConfig(data="data/spam_emails.csv", model="minilm", strategy="frozen"))  # doctest: +SKIP
>>> refresh_status(run)["state"]  # doctest: +SKIP
'queued'

Torch-free: the Streamlit process imports this module.

Liveness. A run whose status says queued or running is alive while either
- its ``pid`` (the last process that wrote status.json) is a live process that already existed
  when that status was written (a recycled pid of a newer process does not count), or
- its run lock (``RUN_DIR/worker.lock``) is held. The launcher takes that lock before it spawns
  the worker and hands it over (the worker inherits the locked file), so there is no moment
  between "queued" being written and the worker's first write in which a run looks dead.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.core.config import TrainConfig
from engine.core.errors import ConfigError, StorageError, TrainingError, storage_problem
from engine.core.locks import RUN_LOCK, pid_alive, run_lock_held, try_lock
from engine.core.rundir import (
    ACTIVE,
    FINISHED,
    RunDir,
    check_about,
    completed_message,
    list_runs,
    read_json,
    write_json_atomic,
)
from engine.core.tracking import check_tracker, request_tracking
from engine.core.words import format_bytes, listed
from engine.core.workspace import PROJECT_ROOT, runs_dir

# A run written from another machine is taken for lost after this long without a status update (its rank 0
# updates the status at least every few seconds while training; a long evaluation may be silent for minutes).
REMOTE_SILENCE_SECONDS = 30 * 60
LOST_MESSAGE = "The training process stopped unexpectedly. Resume the run to continue from its last checkpoint."
WORKER_LOG = "worker.log"
LOW_DISK_BYTES = 64 * 1024**2  # below this much free space, a died worker is blamed on the disk


# --- names -----------------------------------------------------------------------------------
def _slug(text: str, max_len: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:max_len].strip("-")


def _model_slug(model: str) -> str:
    # A hub id or a folder path: its last part ("HuggingFaceTB/SmolLM2-360M" -> "smollm2-360m").
    last = re.split(r"[\\/]+", str(model).strip().rstrip("/\\"))[-1]
    last = re.sub(r"^\d{8}-\d{6}-", "", last)  # a job folder (an adapted model): not its time twice
    return _slug(last) or "model"


def new_run_name(config: Any, root: Path | None = None) -> str:
    """A readable, filesystem-safe run name not yet taken under ``root`` (default: the workspace's runs).

    >>> new_run_name(TrainConfig(data="a.csv", model="minilm", strategy="lora"))  # doctest: +SKIP
    '20261126-143012-minilm-lora'
    """
    root = Path(root) if root is not None else runs_dir()
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{_model_slug(config.model)}-{_slug(config.strategy)}"
    name, n = base, 1
    while (root / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


MAX_RUN_NAME = 100  # characters: a folder name must stay well under the file system's 255 bytes


def _check_name(name: str) -> str:
    name = str(name).strip()
    if len(name) > MAX_RUN_NAME:
        raise ConfigError(f"A run name can have at most {MAX_RUN_NAME} characters (this one has {len(name)}).")
    if not name or name in (".", "..") or not re.fullmatch(r"[\w.\-]+", name) or name.startswith("."):
        raise ConfigError(
            f"'{name}' cannot be used as a run name: use letters, digits, '-', '_' and '.', "
            "without slashes or a leading dot."
        )
    return name


def reserve_folder(root: Path, config: Any, folder: str | None = None) -> Path:
    """Create a new job's folder under ``root`` (named ``folder``, or by the time, ``config.model`` and
    ``config.strategy``); two starts in the same second get different names."""
    root.mkdir(parents=True, exist_ok=True)
    if folder is not None:
        path = root / _check_name(folder)
        try:
            path.mkdir()
        except FileExistsError:
            raise ConfigError(f"A run named '{path.name}' already exists; choose another name.") from None
        return path
    for _ in range(100):
        path = root / new_run_name(config, root)
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue  # taken between the check and the mkdir
    raise ConfigError(f"Could not find a free run name under {root}.")  # pragma: no cover


# --- process liveness ------------------------------------------------------------------------------


def is_alive(run: RunDir, status: dict[str, Any] | None = None) -> bool:
    """Whether the process writing the run is still there. A run written from another machine (a multi-machine
    run on a shared file system) counts as alive while it keeps writing its status."""
    status = run.status() if status is None else status
    host = status.get("host")
    if host and host != socket.gethostname():
        updated = status.get("updated_at")
        return isinstance(updated, (int, float)) and time.time() - updated < REMOTE_SILENCE_SECONDS
    return pid_alive(status.get("pid"), status.get("updated_at")) or run_lock_held(run.path)


# --- status ------------------------------------------------------------------------------------
def refresh_status(run: RunDir) -> dict[str, Any]:
    """The run's status; a queued or running run whose process is gone is marked failed first."""
    status = run.status()
    if status.get("state") in ACTIVE and not is_alive(run, status):
        # Re-read: the worker may have finished between the two reads.
        latest = run.status()
        if latest.get("state") in ACTIVE and latest.get("updated_at") == status.get("updated_at"):
            metrics = run.metrics()
            if metrics is not None and run.model_dir.is_dir():  # killed after its last result, during cleanup
                state, message = "completed", completed_message(metrics)
            else:
                state, message = "failed", LOST_MESSAGE + _disk_hint(run)
            try:
                run.set_status(state, message)
            except OSError:  # a full or read-only disk: say it on the page all the same
                return {**latest, "state": state, "message": message}
        return run.status()
    return status


def _disk_hint(run: RunDir) -> str:
    """A sentence when the run's disk is (nearly) full: the likely reason a worker died silently."""
    try:
        free = shutil.disk_usage(run.path).free
    except OSError:
        return ""
    if free >= LOW_DISK_BYTES:
        return ""
    return f" The disk holding the run has only {format_bytes(free)} free, which is the likely reason: free some space, then resume the run."


def _runs(root: Path | None) -> list[RunDir]:
    root = Path(root) if root is not None else runs_dir()
    return [RunDir(r["path"]) for r in list_runs(root)]  # newest first


def active_runs(root: Path | None = None) -> list[RunDir]:
    """Queued or running runs whose process is alive, oldest first."""
    active = [run for run in _runs(root) if refresh_status(run).get("state") in ACTIVE]
    return sorted(active, key=lambda run: run.status().get("created_at") or 0)


def runs_with_status(root: Path | None = None) -> list[dict[str, Any]]:
    """Every run's summary (``list_runs``, newest first), a run whose worker died marked failed first."""
    runs = list_runs(Path(root) if root is not None else runs_dir())
    for run in runs:
        if run["state"] in ACTIVE:
            status = refresh_status(RunDir(run["path"]))
            run["state"], run["message"] = status.get("state"), status.get("message", "")
    return runs


def latest_run(root: Path | None = None) -> RunDir | None:
    """The newest run by creation time (what the Train page shows after a browser refresh)."""
    runs = _runs(root)
    return runs[0] if runs else None


def prepare_run(
    config: TrainConfig, out: str | Path, name: str | None = None, note: str | None = None, track: str | None = None
) -> RunDir:
    """Create the run directory and write config.json, the run's name and note, its tracking choice
    (``engine.core.tracking``: "mlflow" or "none") and a queued status (before any training)."""
    run = RunDir(out)
    about = about_or_error(name, note)
    track = check_tracker(track)
    if run.config_path.exists():
        raise ConfigError(
            f"{run.path} already holds a run. Use --resume {run.path} to continue it, or choose another --out."
        )
    if run.path.exists() and not run.path.is_dir():
        raise ConfigError(f"{run.path} is a file, not a folder: choose another --out for the run.")
    theirs = sorted(p.name for p in run.path.iterdir() if p.name != RUN_LOCK) if run.path.is_dir() else []
    if theirs:
        raise ConfigError(
            f"{run.path} is not empty (it holds {listed(theirs)}). A run is written into a new or empty folder, so "
            "that TransferLab never deletes or overwrites files it did not make: choose another --out."
        )
    # Absolute paths: the run can be resumed from any folder, and compared with the dashboard's runs.
    config = _absolute_paths(config)
    try:
        run.path.mkdir(parents=True, exist_ok=True)
        config.save(run.config_path)
        if about["name"] or about["note"]:
            run.set_about(**about)
        request_tracking(run.path, track)
        run.set_status("queued", "Waiting to start")
    except OSError as exc:
        problem = storage_problem(exc, run.path, then="start again")
        raise StorageError(problem or f"Could not create the run folder {run.path}: {exc}.") from exc
    return run


# --- start, resume, cancel, delete -----------------------------------------------------------------
def _reap(proc: subprocess.Popen) -> None:
    # Wait for the worker in a daemon thread so a finished worker does not linger as a zombie
    # in a long-lived dashboard process.
    threading.Thread(target=proc.wait, name=f"reap-worker-{proc.pid}", daemon=True).start()


def start_detached(cmd: list[str], log_path: Path, lock_fd: int) -> subprocess.Popen:
    """Start an engine command that outlives the dashboard, its output appended to ``log_path``, holding the
    inherited lock ``lock_fd``; reaped when it ends. OSError when it cannot start."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=PROJECT_ROOT,
            env=os.environ.copy(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the dashboard; Ctrl-C there does not reach it
            pass_fds=(lock_fd,),
        )
    _reap(proc)
    return proc


def _spawn(run: RunDir, lock_fd: int, resume: bool) -> int:
    """Start the worker, hand it the run lock and record its pid in status.json."""
    cmd = [sys.executable, "-m", "engine.worker", str(run.path), "--lock-fd", str(lock_fd)]
    if resume:
        cmd.append("--resume")
    try:
        proc = start_detached(cmd, run.path / WORKER_LOG, lock_fd)
    except OSError as exc:
        message = f"Could not start the training process: {exc}."
        run.set_status("failed", message)
        raise TrainingError(message) from exc
    # The worker waits until status.json names its pid before writing anything itself, so this
    # read-modify-write cannot overwrite one of its updates.
    # queued_at orders the queue: first come (to start_run/resume_run), first served.
    status = read_json(run.status_path) or {}
    now = time.time()
    status.update(pid=proc.pid, updated_at=now, queued_at=now)
    write_json_atomic(run.status_path, status)
    return proc.pid


def hold_run(run: RunDir) -> int:
    """Take the run's lock for a trainer started by hand (``engine.train``, ``engine.worker``), or refuse:
    two trainers must never share one run folder."""
    fd = try_lock(run.path / RUN_LOCK, tries=5)
    if fd is None:
        raise ConfigError(
            f"Another process (the dashboard or another command) is already training {run.path}. Wait for it "
            f"to finish, or stop it first (create the file {run.cancel_path})."
        )
    return fd


def _acquire_run_lock(run: RunDir, grace: float = 15.0) -> int:
    """Take the run lock, so no worker can be training this run while we change it."""
    fd = try_lock(run.path / RUN_LOCK, tries=5)
    # A worker writes its last status just before it exits: give a stopping worker time to go.
    deadline = time.time() + grace
    while fd is None and run.status().get("state") in FINISHED and time.time() < deadline:
        time.sleep(0.1)
        fd = try_lock(run.path / RUN_LOCK)
    if fd is None:
        if run.status().get("state") in FINISHED:
            raise ConfigError(f"The run '{run.name}' is still stopping; try again in a few seconds.")
        raise ConfigError(f"The run '{run.name}' is still running or queued: wait for it, or cancel it first.")
    return fd


def _absolute_paths(config: TrainConfig) -> TrainConfig:
    """Files named relative to this process's folder, made absolute for the worker (which runs in the project root)."""
    from engine.core.catalog import find

    changes = {}
    for key in ("data", "validation_data", "test_data", "image_labels", "model"):
        value = getattr(config, key)
        if not value or (key == "model" and find(value) is not None):
            continue
        path = Path(value).expanduser()
        if not path.is_absolute() and path.exists():
            changes[key] = str(path.resolve())
    return dataclasses.replace(config, **changes) if changes else config


def about_or_error(name: str | None, note: str | None) -> dict[str, str | None]:
    """The run's name and note as stored, or a ConfigError that says what is too long."""
    try:
        return check_about(name, note)
    except ValueError as exc:
        raise ConfigError(f"{exc} Shorten it.") from None


class TwinRunError(ConfigError):
    """A run with exactly the same settings is queued or training (a second click on Start?)."""

    def __init__(self, twin: RunDir) -> None:
        self.twin = twin
        super().__init__(
            f"The run '{twin.about()['name']}' with exactly these settings is already "
            f"{twin.status().get('state')}: another would give the same result. Wait for it, or change a setting "
            "(the seed, for example) to start another."
        )


def start_run(
    config: TrainConfig,
    name: str | None = None,
    note: str | None = None,
    root: Path | None = None,
    folder: str | None = None,
    allow_twin: bool = False,
    track: str | None = None,
) -> RunDir:
    """Create a run (config.json, status "queued") and start its worker; returns at once.

    ``name`` and ``note`` are the user's words for the run (lists show the name); ``folder`` names
    the run's folder (default: the time, the model and the strategy). The same settings as a run
    queued or training raise :class:`TwinRunError` unless ``allow_twin`` (the user confirmed); whether
    a run is tracked (``track="mlflow"``) is not a setting, so it does not tell twins apart.
    """
    about_or_error(name, note)  # before anything is created
    check_tracker(track)
    config = _absolute_paths(config)
    root = Path(root).resolve() if root is not None else runs_dir()
    settings = config.to_dict()
    twin = next((run for run in active_runs(root) if run.config() == settings), None)
    if twin is not None and not allow_twin:  # a second click on Start, or the same settings started twice
        raise TwinRunError(twin)
    path = reserve_folder(root, config, folder)
    return launch(path, lambda run: prepare_run(config, run.path, name, note, track))


def launch(path: Path, prepare: Callable[[RunDir], RunDir]) -> RunDir:
    """Write the new, empty job folder ``path`` with ``prepare`` (config.json and a "queued" status) and start
    its worker (``engine.worker`` runs what config.json holds: a training run or an adaptation)."""
    fd = _acquire_run_lock(RunDir(path))  # held from before "queued" is written until the worker exits
    try:
        run = prepare(RunDir(path))
        _spawn(run, fd, resume=False)
    finally:
        os.close(fd)  # the worker keeps its inherited copy of the locked file
    return run


def resume_run(run: RunDir) -> None:
    """Continue a failed or cancelled run from its last checkpoint, in a new worker."""
    run = RunDir(Path(run.path).resolve())
    if not run.config_path.exists():
        raise ConfigError(f"{run.path} is not a run folder (no config.json); there is nothing to resume.")
    fd = _acquire_run_lock(run)
    try:
        state = refresh_status(run).get("state")
        if state in ACTIVE:
            raise ConfigError(f"The run '{run.name}' is still {state}; there is nothing to resume.")
        if state == "completed":
            raise ConfigError(f"The run '{run.name}' already completed; there is nothing to resume.")
        run.cancel_path.unlink(missing_ok=True)  # the old stop request must not stop the new worker
        run.set_status("queued", "Waiting to resume")
        _spawn(run, fd, resume=True)
    finally:
        os.close(fd)


def cancel_run(run: RunDir) -> None:
    """Ask the run to stop (the CANCEL file). Training stops after the current step; a queued run ends at once."""
    if run.status().get("state") in ACTIVE:
        run.request_cancel()


def delete_run(run: RunDir) -> None:
    """Remove a finished run's folder."""
    if not (run.config_path.exists() or run.status_path.exists()):
        raise ConfigError(f"{run.path} is not a run folder (no config.json or status.json); nothing was deleted.")
    state = refresh_status(run).get("state")
    if state in ACTIVE:
        raise ConfigError(f"The run '{run.name}' is still {state}: cancel it first, then delete it.")
    fd = _acquire_run_lock(run) if (run.path / RUN_LOCK).exists() else None
    try:
        shutil.rmtree(run.path)
    finally:
        if fd is not None:
            os.close(fd)
