"""Runs as background jobs: start, queue, cancel, resume and delete them from the dashboard.

Training never happens in the calling process. :func:`start_run` writes the run directory
(config.json and a "queued" status) and spawns ``python -m engine.worker RUN_DIR``, a detached
process that waits for a device slot (see ``engine.worker``) and then trains. Everything the
pages need afterwards is on disk, so a refreshed browser tab finds the run again.

>>> run = start_run(TrainConfig(data="data/spam_emails.csv", model="minilm", strategy="frozen"))
>>> refresh_status(run)["state"]
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
import fcntl
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from engine.config import TrainConfig
from engine.errors import ConfigError, TrainingError
from engine.rundir import FINISHED, RunDir, list_runs, read_json, write_json_atomic
from engine.workspace import PROJECT_ROOT, home, runs_dir

MAX_CONCURRENT_ENV = "TRANSFERLAB_MAX_CONCURRENT_RUNS"
ACTIVE = ("queued", "running")
LOST_MESSAGE = "The training process stopped unexpectedly. Resume the run to continue from its last checkpoint."
RUN_LOCK = "worker.lock"
WORKER_LOG = "worker.log"


def max_concurrent_runs() -> int:
    """How many runs may train at once (``TRANSFERLAB_MAX_CONCURRENT_RUNS``, default 1 per device)."""
    raw = os.environ.get(MAX_CONCURRENT_ENV, "").strip()
    if not raw:
        return 1
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            f"{MAX_CONCURRENT_ENV} must be a whole number of 1 or more (got {raw!r}); "
            "1 runs one training at a time, which suits one GPU or a laptop CPU."
        )
    return value


def locks_dir() -> Path:
    path = home() / "locks"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- names -----------------------------------------------------------------------------------
def _slug(text: str, max_len: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:max_len].strip("-")


def _model_slug(model: str) -> str:
    # A hub id or a folder path: its last part ("HuggingFaceTB/SmolLM2-360M" -> "smollm2-360m").
    last = re.split(r"[\\/]+", str(model).strip().rstrip("/\\"))[-1]
    return _slug(last) or "model"


def new_run_name(config: TrainConfig, root: Path | None = None) -> str:
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


def _check_name(name: str) -> str:
    name = str(name).strip()
    if not name or name in (".", "..") or not re.fullmatch(r"[\w.\-]+", name) or name.startswith("."):
        raise ConfigError(
            f"'{name}' cannot be used as a run name: use letters, digits, '-', '_' and '.', "
            "without slashes or a leading dot."
        )
    return name


def _reserve(root: Path, config: TrainConfig, name: str | None) -> Path:
    """Create the run folder; two starts in the same second get different names."""
    root.mkdir(parents=True, exist_ok=True)
    if name is not None:
        path = root / _check_name(name)
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
def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def _process_start(pid: int) -> float | None:
    """When ``pid`` started (seconds since the epoch), or None when it is a zombie or unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        raise ProcessLookupError(pid) from None
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) "
    if fields[0] in ("Z", "X"):  # exited, waiting to be reaped: not running
        raise ProcessLookupError(pid)
    boot = _boot_time()
    if boot is None:
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def pid_alive(pid: Any, written_at: float | None = None) -> bool:
    """True when ``pid`` is a running process that already existed at ``written_at`` (if given)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        started = _process_start(pid)
    except ProcessLookupError:
        return False
    if started is not None and written_at is not None and started > written_at + 1.0:
        return False  # the pid was recycled by a process started after the status was written
    return True


def _lock_fd(path: Path, tries: int = 1, wait: float = 0.05) -> int | None:
    """Open ``path`` and take an exclusive flock without blocking; None when someone else holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    for attempt in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if attempt + 1 < tries:
                time.sleep(wait)
    os.close(fd)
    return None


def run_lock_held(run: RunDir) -> bool:
    """True while a worker (or the launcher handing over to it) holds the run's lock."""
    path = run.path / RUN_LOCK
    if not path.exists():
        return False
    fd = _lock_fd(path)
    if fd is None:
        return True
    os.close(fd)  # we got it, so nobody held it; closing releases it again
    return False


def is_alive(run: RunDir, status: dict[str, Any] | None = None) -> bool:
    status = run.status() if status is None else status
    return pid_alive(status.get("pid"), status.get("updated_at")) or run_lock_held(run)


# --- status ------------------------------------------------------------------------------------
def refresh_status(run: RunDir) -> dict[str, Any]:
    """The run's status; a queued or running run whose process is gone is marked failed first."""
    status = run.status()
    if status.get("state") in ACTIVE and not is_alive(run, status):
        # Re-read: the worker may have finished between the two reads.
        latest = run.status()
        if latest.get("state") in ACTIVE and latest.get("updated_at") == status.get("updated_at"):
            run.set_status("failed", LOST_MESSAGE)
        return run.status()
    return status


def _runs(root: Path | None) -> list[RunDir]:
    root = Path(root) if root is not None else runs_dir()
    return [RunDir(r["path"]) for r in list_runs(root)]  # newest first


def active_runs(root: Path | None = None) -> list[RunDir]:
    """Queued or running runs whose process is alive, oldest first."""
    active = [run for run in _runs(root) if refresh_status(run).get("state") in ACTIVE]
    return sorted(active, key=lambda run: run.status().get("created_at") or 0)


def latest_run(root: Path | None = None) -> RunDir | None:
    """The newest run by creation time (what the Train page shows after a browser refresh)."""
    runs = _runs(root)
    return runs[0] if runs else None


# --- start, resume, cancel, delete -----------------------------------------------------------------
def _reap(proc: subprocess.Popen) -> None:
    # Wait for the worker in a daemon thread so a finished worker does not linger as a zombie
    # in a long-lived dashboard process.
    threading.Thread(target=proc.wait, name=f"reap-worker-{proc.pid}", daemon=True).start()


def _spawn(run: RunDir, lock_fd: int, resume: bool) -> int:
    """Start the worker, hand it the run lock and record its pid in status.json."""
    cmd = [sys.executable, "-m", "engine.worker", str(run.path), "--lock-fd", str(lock_fd)]
    if resume:
        cmd.append("--resume")
    try:
        with (run.path / WORKER_LOG).open("ab") as log:
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
    _reap(proc)
    return proc.pid


def _acquire_run_lock(run: RunDir, grace: float = 15.0) -> int:
    """Take the run lock, so no worker can be training this run while we change it."""
    fd = _lock_fd(run.path / RUN_LOCK, tries=5)
    # A worker writes its last status just before it exits: give a stopping worker time to go.
    deadline = time.time() + grace
    while fd is None and run.status().get("state") in FINISHED and time.time() < deadline:
        time.sleep(0.1)
        fd = _lock_fd(run.path / RUN_LOCK)
    if fd is None:
        if run.status().get("state") in FINISHED:
            raise ConfigError(f"The run '{run.name}' is still stopping; try again in a few seconds.")
        raise ConfigError(f"The run '{run.name}' is still running or queued: wait for it, or cancel it first.")
    return fd


def _absolute_paths(config: TrainConfig) -> TrainConfig:
    """Files named relative to this process's folder, made absolute for the worker (which runs in the project root)."""
    from engine.catalog import find

    changes = {}
    for key in ("data", "validation_data", "test_data", "model"):
        value = getattr(config, key)
        if not value or (key == "model" and find(value) is not None):
            continue
        path = Path(value).expanduser()
        if not path.is_absolute() and path.exists():
            changes[key] = str(path.resolve())
    return dataclasses.replace(config, **changes) if changes else config


def start_run(config: TrainConfig, name: str | None = None, root: Path | None = None) -> RunDir:
    """Create a run (config.json, status "queued") and start its worker; returns at once."""
    from engine.train import prepare_run  # torch-free at import: torch loads inside train()

    config = _absolute_paths(config)
    root = Path(root).resolve() if root is not None else runs_dir()
    path = _reserve(root, config, name)
    fd = _acquire_run_lock(RunDir(path))  # held from before "queued" is written until the worker exits
    try:
        run = prepare_run(config, path)
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
