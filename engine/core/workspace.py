"""The workspace: one directory holding uploads, runs and caches.

Set by the environment variable ``TRANSFERLAB_HOME`` (default: ``./workspace`` under the
project). ``--out`` of the CLI may point anywhere; the dashboard keeps its runs here.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def home() -> Path:
    """The workspace root, created on first use."""
    root = Path(os.environ.get("TRANSFERLAB_HOME") or PROJECT_ROOT / "workspace")
    root.mkdir(parents=True, exist_ok=True)
    return root


def runs_dir() -> Path:
    path = home() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def adaptations_dir() -> Path:
    """Where the dashboard keeps domain adaptations (``engine.adapt``): apart from the runs, which are classifiers."""
    path = home() / "adaptations"
    path.mkdir(parents=True, exist_ok=True)
    return path


def uploads_dir() -> Path:
    path = home() / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(kind: str) -> Path:
    """A cache sub-directory, e.g. ``cache_dir("models")`` or ``cache_dir("features")``."""
    path = home() / "cache" / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def fingerprint(path: str | Path) -> str:
    """A hash of a model's path and of its files' names, sizes and modification times: a cache key
    that changes when the weights do (a weights file, or every file of a model folder)."""
    target = Path(path)
    h = hashlib.sha256(str(path).encode())
    files = (
        [target] if target.is_file() else sorted(f for f in target.iterdir() if f.is_file()) if target.is_dir() else []
    )
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()
