"""Who holds what: flock-based locks (a run's lock, the device slots) and process liveness.

One home for locking, shared by the job launcher, the worker and the training CLI. Locks are
``flock``s on files under the run directory or ``workspace/locks/``; the kernel releases them
when the holder dies, so a killed process never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Any

from engine.core.workspace import home

RUN_LOCK = "worker.lock"


def locks_dir() -> Path:
    path = home() / "locks"
    path.mkdir(parents=True, exist_ok=True)
    return path


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


def try_lock(path: Path, tries: int = 1, wait: float = 0.05) -> int | None:
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


def run_lock_held(run_path: Path) -> bool:
    """True while a worker (or the launcher handing over to it) holds the run's lock."""
    path = Path(run_path) / RUN_LOCK
    if not path.exists():
        return False
    fd = try_lock(path)
    if fd is None:
        return True
    os.close(fd)  # we got it, so nobody held it; closing releases it again
    return False


def try_device_slot(n_slots: int, holder: Path) -> int | None:
    """Take the first free device slot; returns its locked fd (kept open while training)."""
    taken = try_device_slots(n_slots, holder, 1)
    return taken[0][1] if taken else None


def try_device_slots(n_slots: int, holder: Path, count: int) -> list[tuple[int, int]] | None:
    """Take ``count`` free device slots at once (a run on several GPUs): [(slot index, locked fd)], or None
    (and nothing held) when fewer are free."""
    taken: list[tuple[int, int]] = []
    for i in range(n_slots):
        if len(taken) == count:
            break
        fd = os.open(locks_dir() / f"slot-{i}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(holder).encode(), 0)
        taken.append((i, fd))
    if len(taken) < count:
        for _, fd in taken:
            os.close(fd)
        return None
    return taken


def slot_holders(n_slots: int) -> list[str]:
    names = []
    for i in range(n_slots):
        try:
            text = (locks_dir() / f"slot-{i}.lock").read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if text:
            names.append(Path(text).name)
    return names
