"""The frozen strategy's features: computed once per example by the unchanged backbone, cached on disk.

The cache is keyed by content (the task's ``feature_key``: the model's weights, the preprocessing
and the examples), so a second run on the same data with the same model skips the backbone.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.core.faults import kill_point
from engine.core.housekeeping import evict, touch
from engine.core.rundir import RunDir
from engine.core.workspace import cache_dir

log = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")


class RunCancelled(Exception):
    """The user asked the run to stop (the CANCEL file)."""


def cached_array(key: str, compute: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
    """The array stored under ``key``, or ``compute()`` stored there (atomically).
    Returns the array and whether it came from the cache."""
    path = cache_dir("features") / f"{key}.npy"
    if path.exists():
        touch(path)
        return np.load(path), True
    array = compute()
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)
    evict("features", keep=path)
    return array, False


def features_of_splits(run: RunDir, task: Any, splits: Any) -> dict[str, np.ndarray]:
    """The backbone's features of train, validation and test (from the cache when seen before), with
    progress in status.json, a stop on CANCEL and one event per split."""
    feats = {}
    for name in SPLITS:
        part = getattr(splits, name)
        if not len(part):
            continue  # no validation split (small data)

        def on_batch(done: int, n: int, name: str = name) -> None:
            if run.cancel_requested():
                raise RunCancelled
            run.update_progress(stage=f"features:{name}", done=done, total=n)

        feats[name], hit = cached_array(
            task.feature_key(part), lambda part=part, on_batch=on_batch: task.extract_features(part, on_batch)
        )
        run.append_event({"type": "features", "split": name, "cached": hit, "rows": len(part)})
        kill_point("features")
        log.debug("features of the %s split: %d rows%s", name, len(part), " (cached)" if hit else "")
    return feats
