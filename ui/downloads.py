"""Files the pages offer for download, built when clicked by an engine command in a subprocess (the model
may have to be loaded; the dashboard never loads torch).

Streamlit runs a download button's callable on its own thread, shows a spinner in the button meanwhile and
ignores Streamlit calls made there; so a failure is kept here and shown in plain words on the page's next run
(the button itself only says the file could not be made).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence
from typing import NoReturn

import streamlit as st

from engine.core.words import markdown_text as md
from engine.core.workspace import PROJECT_ROOT

_failures: dict[str, str] = {}  # button key -> why its last file failed, shown once
_lock = threading.Lock()


class DownloadFailed(RuntimeError):
    pass


def run_engine(argv: Sequence[str], key: str, timeout_s: int, what: str) -> None:
    """Run an engine command for the download button ``key``; its failure (the command's ``Error:`` line, or
    the time limit) is kept for :func:`show_failure` and raised as :class:`DownloadFailed`."""
    try:
        done = subprocess.run(list(argv), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        failed(key, f"Making {what} took longer than {timeout_s // 60} minutes and was stopped.")
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        said = next((line for line in reversed(lines) if "Error:" in line), lines[-1] if lines else "no message")
        failed(key, said.split("Error:", 1)[-1].strip())
    with _lock:
        _failures.pop(key, None)


def failed(key: str, why: str) -> NoReturn:
    with _lock:
        _failures[key] = why
    raise DownloadFailed(why)


def show_failure(key: str, what: str) -> None:
    """The last failure of the button ``key`` in plain words ("``what`` could not be made: ..."), once."""
    with _lock:
        why = _failures.pop(key, None)
    if why:
        st.error(f"{what} could not be made: {md(why)}", icon=":material/error:")
