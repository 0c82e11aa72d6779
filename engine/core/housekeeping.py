"""What the workspace holds, caps on its caches, and cleaning up (the Runs page's "Clean up").

Caches are rebuilt when needed, so each has a size cap: after a write, the least recently used entries
are removed until it fits (an entry's modification time is refreshed when it is used). Runs and
uploads are the user's: they are removed only when asked, and "Clean up" says what each part takes.

``TRANSFERLAB_CACHE_LIMIT_MB`` sets one cap for every cache (default: the per-cache limits below).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from engine.core import workspace
from engine.core.rundir import ACTIVE, RunDir

GB = 1024**3
CACHE_LIMITS = {
    "features": 2 * GB,
    "images": 4 * GB,
    "onnx": 2 * GB,
    "probes": 16 * 1024**2,
}  # "models" (converted) is kept
LIMIT_ENV = "TRANSFERLAB_CACHE_LIMIT_MB"
# Unpacked pictures are read from the cache all through a run's training: entries used in the last day
# are kept even over the cap (features and probes are read once, at the start).
KEEP_RECENT_SECONDS = {"images": 24 * 3600}


def size_of(path: Path) -> int:
    """Bytes a file or folder takes (links not followed; files that vanish meanwhile are skipped)."""
    try:
        if path.is_symlink() or path.is_file():
            return path.lstat().st_size
    except OSError:
        return 0
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(folder) / name).lstat().st_size
            except OSError:
                continue
    return total


def touch(path: Path) -> None:
    """Mark a cache entry as just used (least-recently-used eviction goes by modification time)."""
    try:
        os.utime(path)
    except OSError:
        pass


def cache_limit(kind: str) -> int | None:
    value = os.environ.get(LIMIT_ENV)
    if value:
        return int(float(value) * 1024**2)
    return CACHE_LIMITS.get(kind)


def evict(kind: str, keep: Path | None = None) -> list[str]:
    """Remove the least recently used entries of a cache until it fits its limit; never ``keep`` (the
    entry just written) nor a temporary one being written. Returns the names removed."""
    limit = cache_limit(kind)
    if limit is None:
        return []
    folder = workspace.cache_dir(kind)
    recent = time.time() - KEEP_RECENT_SECONDS.get(kind, 0)
    entries = []
    for path in folder.iterdir():
        if path.name.startswith(".") or ".tmp" in path.name or (keep is not None and path == keep):
            continue
        try:
            entries.append((path.stat().st_mtime, path, size_of(path)))
        except OSError:
            continue
    removable = [e for e in entries if e[0] < recent]
    total = sum(size for _, _, size in entries) + (size_of(keep) if keep is not None else 0)
    removed = []
    for _, path, size in sorted(removable, key=lambda e: e[0]):
        if total <= limit:
            break
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        total -= size
        removed.append(path.name)
    return removed


# --- what the workspace holds, and cleaning it up --------------------------------------------------
@dataclass(frozen=True)
class Part:
    key: str
    title: str
    bytes: int
    items: int
    note: str  # what removing it costs, in words


def _referenced_uploads(folders: list[Path]) -> set[Path]:
    """The files the configs of these runs and adaptations read."""
    used = set()
    for folder in folders:
        config = RunDir(folder).config() or {}
        for key in ("data", "validation_data", "test_data", "image_labels"):
            if config.get(key):
                used.add(Path(str(config[key])).resolve())
    return used


def _in_use(upload: Path, used: set[Path]) -> bool:
    """An upload (a file, or the folder ``save_upload`` keeps one file in) that a config reads."""
    upload = upload.resolve()
    return any(path == upload or upload in path.parents for path in used)


def _parts() -> dict[str, list[Path]]:
    runs = [RunDir(p) for p in workspace.runs_dir().iterdir() if p.is_dir()]
    stopped = [r for r in runs if r.status().get("state") in ("failed", "cancelled") and r.checkpoints_dir.is_dir()]
    adaptations = [p for p in workspace.adaptations_dir().iterdir() if p.is_dir()]
    used = _referenced_uploads([r.path for r in runs] + adaptations)
    uploads = [p for p in workspace.uploads_dir().iterdir() if not p.name.startswith(".") and not _in_use(p, used)]
    caches = [p for kind in CACHE_LIMITS for p in workspace.cache_dir(kind).iterdir()]
    return {"checkpoints": [r.checkpoints_dir for r in stopped], "uploads": uploads, "caches": caches}


def usage() -> list[Part]:
    """What each removable part of the workspace takes, with what removing it costs."""
    parts = _parts()
    notes = {
        "checkpoints": ("Checkpoints of stopped runs", "those runs can no longer be resumed; their results stay"),
        "uploads": ("Uploaded files no run uses", "upload them again to use them"),
        "caches": ("Caches (features, unpacked pictures, model probes)", "rebuilt when needed; the next run is slower"),
    }
    return [
        Part(key, notes[key][0], sum(size_of(p) for p in paths), len(paths), notes[key][1])
        for key, paths in parts.items()
    ]


def runs_usage() -> int:
    return size_of(workspace.runs_dir())


def clean(keys: set[str]) -> int:
    """Remove the chosen parts (``usage()`` keys); returns the bytes freed. Runs being trained are never
    touched (their checkpoints are not "of stopped runs")."""
    freed = 0
    for key, paths in _parts().items():
        if key not in keys:
            continue
        for path in paths:
            if key == "checkpoints" and RunDir(path.parent).status().get("state") in ACTIVE:
                continue  # resumed meanwhile
            size = size_of(path)
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            freed += size
    return freed
