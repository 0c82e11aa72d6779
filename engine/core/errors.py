"""Errors meant for people.

Every problem a user can cause (a bad upload, a wrong column name, a model that is not
available offline) raises a subclass of :class:`TransferLabError`. Its message is plain
language: what is wrong, where (file, column, row) and what to do about it. The CLI prints
the message and exits non-zero; the dashboard shows it with ``st.error``. Neither shows a
traceback.
"""

from __future__ import annotations

import errno


class TransferLabError(Exception):
    """Base class for errors whose message is written for the end user."""


class DataError(TransferLabError, ValueError):
    """The uploaded data cannot be used as it is (empty, unreadable, wrong columns, ...)."""


class ModelNotAvailableError(TransferLabError):
    """The requested model cannot be loaded (not offline, not a model folder, unsafe weights)."""


class ConfigError(TransferLabError, ValueError):
    """A training setting is invalid; the message names the setting and the fix."""


class TrainingError(TransferLabError):
    """Training stopped for a reason the user can act on (non-finite loss, out of memory)."""


class StorageError(TransferLabError):
    """The workspace or an output folder cannot be written: the disk is full or read-only."""


_STORAGE_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the disk is read-only",
    errno.EACCES: "this user may not write there",
    errno.EPERM: "this user may not write there",
}


def storage_problem(exc: BaseException, where: object, then: str = "resume the run") -> str | None:
    """A plain sentence for an error that comes from storage (full, read-only, no permission), or None.

    Libraries that write files (safetensors, torch) sometimes re-raise the OS error as their own, so
    the message is checked too.
    """
    reason = _STORAGE_REASONS.get(getattr(exc, "errno", None)) if isinstance(exc, OSError) else None
    if reason is None and "no space left on device" in str(exc).lower():
        reason = _STORAGE_REASONS[errno.ENOSPC]
    if reason is None:
        return None
    return (
        f"Could not write to {where}: {reason}. Free some space or choose a writable folder (the workspace is "
        f"TRANSFERLAB_HOME), then {then}; nothing already written is lost."
    )
