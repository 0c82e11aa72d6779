"""Comparing runs honestly: their test scores compare only when they were trained and tested on the same
data and split. Torch-free: the Runs page reads its rules here.

>>> a = {"data": "/ws/uploads/1f/spam.csv", "text_column": "body", "label_column": "y", "seed": 42}
>>> split_differences({"A": a, "B": a})
[]
>>> split_differences({"A": a, "B": {**a, "seed": 7}, "C": a})
['seed: 42 (A, C), 7 (B)']
>>> data_description(a)
'spam.csv (text column: body, label column: y)'
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from engine.core.config import TrainConfig, data_settings
from engine.core.metrics import majority_share
from engine.core.tasks import TASKS, task_of_data

_FILES = ("data", "validation_data", "test_data", "image_labels")
# Every setting that decides which examples a run trains on and which it is tested on: runs that differ
# in one of them were scored on different test examples, so their scores are not comparable.
SPLIT_SETTINGS: tuple[str, ...] = (
    "data",
    "validation_data",
    "test_data",
    *dict.fromkeys(name for task in TASKS for name in data_settings(task)),
    "seed",
    "validation_fraction",
    "test_fraction",
)
TASK_SETTINGS = {name for task in TASKS for name in data_settings(task)}  # columns, labels file
_DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}  # for a config.json written before a setting existed
_WORDS = {"data": "data file", "validation_data": "validation file", "test_data": "test file"}


def _value(config: Mapping[str, Any], name: str) -> Any:
    value = config.get(name, _DEFAULTS.get(name))
    if value in (None, ""):
        return None
    if name in _FILES:
        return os.path.normpath(str(value))
    return value


def _shown(name: str, value: Any, same_file_name: bool) -> str:
    """A setting's value in words: a file by its name (its whole path when two files share a name)."""
    if value is None:
        return "guessed" if name.endswith("_column") else "none"
    if name in _FILES and not same_file_name:
        return Path(value).name
    return str(value)


def split_differences(configs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per setting in SPLIT_SETTINGS on which the runs (run name -> its config.json) differ, each value
    with the runs that have it; empty when the runs share data and split, i.e. their scores compare."""
    lines = []
    tasks = {run: task_of_data(str(config.get("data") or "")).name for run, config in configs.items()}
    if len(set(tasks.values())) > 1:
        kinds = ", ".join(
            f"{TASKS[t].examples} ({', '.join(r for r in tasks if tasks[r] == t)})"
            for t in dict.fromkeys(tasks.values())
        )
        lines.append(f"kind of data: {kinds}")
    for name in SPLIT_SETTINGS:
        by_value: dict[Any, list[str]] = {}
        for run, config in configs.items():
            if name in TASK_SETTINGS and name not in data_settings(tasks[run]):
                continue  # a setting of the other kind of data (a picture run has no text column)
            by_value.setdefault(_value(config, name), []).append(run)
        if len(by_value) < 2:
            continue
        names = [Path(v).name for v in by_value if v is not None and name in _FILES]
        same_file_name = len(names) != len(set(names))
        values = ", ".join(f"{_shown(name, v, same_file_name)} ({', '.join(runs)})" for v, runs in by_value.items())
        lines.append(f"{_WORDS.get(name, name.replace('_', ' '))}: {values}")
    return lines


def data_description(config: Mapping[str, Any]) -> str:
    """The data a run learned from, in one line: the file's name and the columns (or labels file) read.

    >>> data_description({"data": "data/fashion_demo.zip"})
    'fashion_demo.zip'
    >>> data_description({"data": "data/spam_emails.csv"})
    'spam_emails.csv (columns guessed)'
    """
    data = str(config.get("data") or "")
    if not data:
        return ""
    settings = data_settings(task_of_data(data).name)
    chosen = [f"{name.replace('_', ' ')}: {Path(str(config[name])).name}" for name in settings if config.get(name)]
    if chosen:
        return f"{Path(data).name} ({', '.join(chosen)})"
    # Texts need their columns: unset, they were guessed. Pictures in one folder per class need nothing more.
    guessed = any(name.endswith("_column") for name in settings)
    return f"{Path(data).name} (columns guessed)" if guessed else Path(data).name


def interval_bounds(interval: Any) -> tuple[float | None, float | None]:
    """(low, high) of a [low, high] interval; (None, None) for a run written before intervals were, a damaged
    value, or NaN (no test example behind it)."""
    try:
        low, high = (float(v) for v in interval)
    except (TypeError, ValueError):
        return None, None
    return (low, high) if low == low and high == high else (None, None)


def interval_text(interval: Any, digits: int = 3) -> str:
    """A [low, high] interval as "0.812–0.861"; "n/a" when there is none.

    >>> interval_text([0.8123, 0.8611]), interval_text(None), interval_text([float("nan"), 1.0])
    ('0.812–0.861', 'n/a', 'n/a')
    """
    low, high = interval_bounds(interval)
    return "n/a" if low is None else f"{low:.{digits}f}–{high:.{digits}f}"


def shared_majority_share(metrics: Sequence[Mapping[str, Any]]) -> float | None:
    """The accuracy of always answering the most common class, when every run has the same one (the same
    test split); None otherwise."""
    shares = {majority_share(m.get("per_class") or {}) for m in metrics}
    if len(shares) != 1:
        return None
    return shares.pop()


def display_names(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each run's name as lists show it; a name several runs share gets its folder added, so each is told apart.

    >>> display_names([{"run": "r1", "name": "LoRA"}, {"run": "r2", "name": "LoRA"}, {"run": "r3", "name": "full"}])
    ['LoRA (r1)', 'LoRA (r2)', 'full']
    """
    names = [str(r.get("name") or r["run"]) for r in runs]
    return [
        f"{n} ({r['run']})" if names.count(n) > 1 and n != r["run"] else n for n, r in zip(names, runs, strict=True)
    ]
