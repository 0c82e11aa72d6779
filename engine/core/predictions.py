"""Prediction columns, and predictions.csv: one writer for the test split, ``engine.predict`` and Try it.

predictions.csv is for people too: cells that a spreadsheet would run as a formula are escaped
(:mod:`engine.core.csvsafe`); :func:`read_predictions` reads it back unescaped.

Every table of predictions has the example's own columns first (a text, or a picture's ``file``),
then ``predicted_label`` and ``confidence``; predictions.csv adds ``true_label`` and ``correct``
after the label columns, files to predict on add one ``prob_<label>`` column per class.

>>> import numpy as np
>>> prediction_columns(np.array([[0.2, 0.8]]), ["ham", "spam"])["predicted_label"]
['spam']
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.csvsafe import neutralise, restore_table


def prediction_columns(
    probs: np.ndarray, label_names: Sequence[str], probabilities: bool = True
) -> dict[str, list[Any]]:
    """``predicted_label``, ``confidence`` and (``probabilities``) ``prob_<label>`` per class."""
    probs = np.asarray(probs)
    columns: dict[str, list[Any]] = {
        "predicted_label": [label_names[i] for i in probs.argmax(-1)] if len(probs) else [],
        "confidence": probs.max(-1).tolist() if len(probs) else [],
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
    ``correct``, then ``extra`` columns; written to a temp name first."""
    extra = extra or {}
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            [neutralise(c) for c in (*examples, "true_label", "predicted_label", "confidence", "correct", *extra)]
        )
        for i, (y, row) in enumerate(zip(labels, probs, strict=True)):
            p = int(row.argmax())
            cells = [
                *(col[i] for col in examples.values()),
                label_names[y],
                label_names[p],
                f"{row[p]:.6f}",
                y == p,
                *(col[i] for col in extra.values()),
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
