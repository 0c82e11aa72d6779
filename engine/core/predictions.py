"""Prediction columns, and predictions.csv: one writer for the test split, ``engine.predict`` and Try it.

predictions.csv is for people too: cells that a spreadsheet would run as a formula are escaped
(:mod:`engine.core.csvsafe`); :func:`read_predictions` reads it back unescaped.

Every table of predictions has the example's own columns first (a text, or a picture's ``file``),
then ``predicted_label`` and ``confidence``; predictions.csv adds ``true_label`` and ``correct``
after the label columns, files to predict on add ``uncertain`` and one ``prob_<label>`` column per class.

A prediction is *uncertain* when its two most likely classes are close, or the most likely one is
below even odds (the numbers live in :mod:`engine.core.policy`).

>>> import numpy as np
>>> columns = prediction_columns(np.array([[0.2, 0.8], [0.45, 0.55]]), ["ham", "spam"])
>>> columns["predicted_label"], columns["uncertain"]
(['spam', 'spam'], [False, True])
>>> print(uncertainty({"spam": 0.519, "ham": 0.45, "other": 0.031}))
Uncertain: between 'spam' (51.9%) and 'ham' (45.0%).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.csvsafe import neutralise, restore_table
from engine.core.policy import UNCERTAIN_BELOW, UNCERTAIN_MARGIN
from engine.core.words import MAX_LISTED, plural

ROWS_AT_ONCE = 10_000  # predictions.csv rows gathered and written at a time

# The rule in words, for a page or a report to say what "uncertain" means.
UNCERTAIN_RULE = (
    f"the two most likely classes are less than {UNCERTAIN_MARGIN * 100:.0f} percentage points apart, "
    f"or the most likely one is below {UNCERTAIN_BELOW:.0%}"
)


def _close_call(top: Any, second: Any) -> Any:
    # One rule for a single prediction (floats) and a whole file (arrays).
    return (top - second < UNCERTAIN_MARGIN) | (top < UNCERTAIN_BELOW)


def uncertain_rows(probs: np.ndarray) -> np.ndarray:
    """One bool per row of class probabilities: is that prediction uncertain?

    >>> uncertain_rows(np.array([[0.9, 0.05, 0.05], [0.5, 0.4, 0.1], [0.45, 0.2, 0.35], [0.48, 0.26, 0.26]])).tolist()
    [False, True, True, True]
    """
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2 or not len(probs):
        return np.zeros(len(probs), dtype=bool)
    ordered = np.sort(probs, axis=-1)
    second = ordered[:, -2] if probs.shape[1] > 1 else np.zeros(len(probs))
    return np.asarray(_close_call(ordered[:, -1], second), dtype=bool)


def uncertainty(probabilities: Mapping[str, float]) -> str | None:
    """A sentence saying why a prediction is uncertain, or None when it is not.

    >>> uncertainty({"ham": 0.9, "spam": 0.1}) is None
    True
    >>> print(uncertainty({"a": 0.4, "b": 0.15, "c": 0.15, "d": 0.15, "e": 0.15}))
    Uncertain: 'a' has only 40.0%, less than even odds; next is 'b' (15.0%).
    """
    ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])
    if not ranked:
        return None
    (top, p1), (second, p2) = ranked[0], ranked[1] if len(ranked) > 1 else ("", 0.0)
    if not _close_call(p1, p2):
        return None
    if p1 - p2 < UNCERTAIN_MARGIN:
        return f"Uncertain: between '{top}' ({p1:.1%}) and '{second}' ({p2:.1%})."
    return f"Uncertain: '{top}' has only {p1:.1%}, less than even odds; next is '{second}' ({p2:.1%})."


def uncertain_summary(uncertain: Sequence[bool], unit: str = "row") -> str:
    """How many predictions of a file are uncertain, and what that means.

    >>> uncertain_summary([True, False, False, False])
    '1 of 4 rows (25%) is uncertain: the two most likely classes are less than 20 percentage points apart, or the most likely one is below 50%. Check those by hand.'
    """
    n, flagged = len(uncertain), int(sum(bool(u) for u in uncertain))
    if not flagged:
        return f"None of the {plural(n, unit)} is uncertain ({UNCERTAIN_RULE})."
    verb = "is" if flagged == 1 else "are"
    share = f" ({flagged / n:.0%})" if n else ""
    return f"{flagged:,} of {plural(n, unit)}{share} {verb} uncertain: {UNCERTAIN_RULE}. Check those by hand."


def skipped_summary(skipped: Sequence[tuple[str, str]]) -> str | None:
    """What a file's prediction skipped, ``(where, why)`` pairs, in one sentence; None when nothing was.

    >>> skipped_summary([("line 2", "empty line"), ("line 5", "empty line")])
    'Skipped 2 empty lines: line 2, line 5.'
    """
    by_reason: dict[str, list[str]] = {}
    for where, why in skipped:
        by_reason.setdefault(why, []).append(where)
    if not by_reason:
        return None
    parts = []
    for why, places in by_reason.items():
        more = f" and {len(places) - MAX_LISTED:,} more" if len(places) > MAX_LISTED else ""
        parts.append(f"{plural(len(places), why)}: {', '.join(places[:MAX_LISTED])}{more}")
    return f"Skipped {'; '.join(parts)}."


def prediction_columns(
    probs: np.ndarray, label_names: Sequence[str], probabilities: bool = True
) -> dict[str, list[Any]]:
    """``predicted_label``, ``confidence``, ``uncertain`` and (``probabilities``) ``prob_<label>`` per class."""
    probs = np.asarray(probs)
    columns: dict[str, list[Any]] = {
        "predicted_label": [label_names[i] for i in probs.argmax(-1)] if len(probs) else [],
        "confidence": probs.max(-1).tolist() if len(probs) else [],
        "uncertain": uncertain_rows(probs).tolist(),
    }
    if probabilities:
        for i, name in enumerate(label_names):
            columns[f"prob_{name}"] = probs[:, i].tolist() if len(probs) else []
    return columns


def write_test_predictions(
    path: Path,
    examples: Mapping[str, Sequence[Any]],
    labels: Sequence[int],
    probs: np.ndarray,
    label_names: Sequence[str],
    extra: Mapping[str, Sequence[Any]] | None = None,
) -> None:
    """predictions.csv of a run: the example columns, ``true_label``, ``predicted_label``, ``confidence``,
    ``correct``, then ``extra`` columns; written to a temp name first, ``ROWS_AT_ONCE`` rows at a time (a
    column may be a sequence that reads its values from disk, such as texts in Arrow)."""
    extra = extra or {}
    if len(labels) != len(probs):
        raise ValueError(f"{len(labels)} labels but {len(probs)} rows of probabilities")
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            [neutralise(c) for c in (*examples, "true_label", "predicted_label", "confidence", "correct", *extra)]
        )
        for start in range(0, len(labels), ROWS_AT_ONCE):
            end = start + ROWS_AT_ONCE
            named = [list(col[start:end]) for col in examples.values()]
            more = [list(col[start:end]) for col in extra.values()]
            for i, (y, row) in enumerate(zip(labels[start:end], probs[start:end], strict=True)):
                p = int(row.argmax())
                cells = [
                    *(col[i] for col in named),
                    label_names[y],
                    label_names[p],
                    f"{row[p]:.6f}",
                    y == p,
                    *(col[i] for col in more),
                ]
                writer.writerow([neutralise(c) for c in cells])
    os.replace(tmp, path)


def read_predictions(path: str | Path) -> Any:
    """A run's predictions.csv as a DataFrame, with the values as they were (undoing the spreadsheet
    escape of :mod:`engine.core.csvsafe`)."""
    import pandas as pd

    table = pd.read_csv(
        path, dtype={"text": str, "file": str, "true_label": str, "predicted_label": str}, keep_default_na=False
    )
    return restore_table(table)


def read_mistakes(path: str | Path, limit: int) -> tuple[Any, int, int]:
    """The ``limit`` most confident wrong predictions of a run's predictions.csv (most confident first, as
    :func:`read_predictions` gives them), how many are wrong and how many there are: read ``ROWS_AT_ONCE`` rows
    at a time, so a test split of millions is never in memory at once."""
    import pandas as pd

    kept, wrong, total = None, 0, 0
    chunks = pd.read_csv(
        path,
        dtype={"text": str, "file": str, "true_label": str, "predicted_label": str},
        keep_default_na=False,
        chunksize=ROWS_AT_ONCE,
    )
    for chunk in chunks:
        total += len(chunk)
        mistakes = chunk[chunk["correct"].astype(str) != "True"]
        wrong += len(mistakes)
        kept = mistakes if kept is None else pd.concat([kept, mistakes])
        kept = kept.sort_values("confidence", ascending=False, kind="stable").head(limit)
    if kept is None:  # a header and no rows
        kept = pd.read_csv(path, dtype=str, keep_default_na=False)
    return restore_table(kept.reset_index(drop=True)), wrong, total
