"""Errors meant for people.

Every problem a user can cause (a bad upload, a wrong column name, a model that is not
available offline) raises a subclass of :class:`TransferLabError`. Its message is plain
language: what is wrong, where (file, column, row) and what to do about it. The CLI prints
the message and exits non-zero; the dashboard shows it with ``st.error``. Neither shows a
traceback.
"""

from __future__ import annotations


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
