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

from engine.core.distributed import current_world
from engine.core.faults import kill_point
from engine.core.housekeeping import evict, touch
from engine.core.rundir import RunDir
from engine.core.workspace import cache_dir
from engine.training.distributed import from_main, split_among

log = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")


class RunCancelled(Exception):
    """The user asked the run to stop (the CANCEL file)."""


def cached_array(key: str, compute: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
    """The array stored under ``key``, or ``compute()`` stored there (atomically).
    Returns the array and whether it came from the cache. In a distributed run every process takes rank 0's
    answer (all compute or none) and rank 0 alone writes."""
    path = cache_dir("features") / f"{key}.npy"
    if from_main(path.exists()):
        touch(path)
        return np.load(path), True
    array = compute()
    if not current_world().is_main:
        return array, False
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)
    evict("features", keep=path)
    return array, False


def features_of_splits(run: RunDir, task: Any, splits: Any) -> dict[str, np.ndarray]:
    """The backbone's features of train, validation and test (from the cache when seen before), with
    progress in status.json, a stop on CANCEL and one event per split. The processes of a distributed run
    each compute their share of every split (rank 0's progress stands for all)."""
    feats = {}
    share = current_world().size
    for name in SPLITS:
        part = getattr(splits, name)
        if not len(part):
            continue  # no validation split (small data)

        def on_batch(done: int, n: int, name: str = name, rows: int = len(part)) -> None:
            if run.cancel_requested():
                raise RunCancelled
            run.update_progress(stage=f"features:{name}", done=min(done * share, rows), total=rows)

        def compute(part=part, on_batch=on_batch) -> np.ndarray:
            return split_among(part, lambda rows: task.extract_features(rows, on_batch))

        feats[name], hit = cached_array(task.feature_key(part), compute)
        run.append_event({"type": "features", "split": name, "cached": hit, "rows": len(part)})
        kill_point("features")
        log.debug("features of the %s split: %d rows%s", name, len(part), " (cached)" if hit else "")
    return feats
