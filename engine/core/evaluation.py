"""Scores on new labeled data: a scored file that also says the true label of each example.

A table of texts with the run's label column (or a column named ``label``), or pictures in folders
named after the model's classes, is scored as the test split is: accuracy and macro-F1 with 95%
intervals, per-class scores and the confusion matrix (:func:`engine.core.metrics.classification_metrics`).
Rows whose label the model never learned, or with no label, are counted and named, not scored.

>>> ev = evaluate(["ham", "spam", "spam", "eggs", None], ["ham", "spam", "ham", "ham", "spam"], ["ham", "spam"])
>>> ev.scored, ev.metrics["accuracy"], ev.unknown, ev.missing
(3, 0.6666666666666666, {'eggs': 1}, 1)
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.core.metrics import classification_metrics
from engine.core.words import listed, plural

# A column with this name holds true labels, whatever the run's own label column was called.
LABEL_COLUMN = "label"
# The column a table of pictures names each one by (its path inside the ZIP or folder).
FILE_COLUMN = "file"


@dataclass(frozen=True)
class TrueLabels:
    """The true label of each row (None where it has none) and where they were read, in words."""

    values: list[str | None]
    source: str  # "column 'label'", "the folder names"
    unit: str = "row"  # what a row is, in words


@dataclass
class Evaluation:
    """Scores of the rows with a label the model knows, and what was left out of them."""

    source: str
    rows: int
    scored: int
    metrics: dict[str, Any] | None  # classification_metrics(...); None when no row could be scored
    unknown: dict[str, int] = field(default_factory=dict)  # a label the model never learned -> rows
    missing: int = 0  # rows with no label
    unit: str = "row"

    def notes(self) -> list[str]:
        """What was left out of the scores, in sentences (empty when every row was scored)."""
        notes = []
        if self.unknown:
            count = sum(self.unknown.values())
            notes.append(
                f"{plural(count, self.unit)} {'has' if count == 1 else 'have'} a label this model never learned "
                f"({listed(sorted(self.unknown, key=lambda k: -self.unknown[k]))}): left out of the scores, since "
                "the model cannot predict it."
            )
        if self.missing:
            notes.append(f"{plural(self.missing, self.unit)} with no label in {self.source}: left out of the scores.")
        return notes

    def summary(self) -> str:
        """The scores in one sentence, with their intervals.

        >>> print(evaluate(["a", "b", "b"], ["a", "b", "a"], ["a", "b"], "column 'label'").summary())
        Scored 3 rows against column 'label': accuracy 0.667 (95% interval 0.173-0.962), macro-F1 0.667 (0.168-0.949).
        """
        m = self.metrics
        if m is None:
            return (
                f"None of the {plural(self.rows, self.unit)} has a label this model knows ({self.source}), "
                "so nothing could be scored."
            )
        (a_lo, a_hi), (f_lo, f_hi) = m["accuracy_ci"], m["macro_f1_ci"]
        return (
            f"Scored {plural(self.scored, self.unit)} against {self.source}: accuracy {m['accuracy']:.3f} "
            f"({m['confidence_level']:.0%} interval {a_lo:.3f}-{a_hi:.3f}), macro-F1 {m['macro_f1']:.3f} "
            f"({f_lo:.3f}-{f_hi:.3f})."
        )

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for a metrics JSON file: the scores, then what they cover."""
        return {
            **(self.metrics or {}),
            "labels_from": self.source,
            "rows": self.rows,
            "scored_rows": self.scored,
            "unknown_labels": dict(self.unknown),
            "rows_without_label": self.missing,
        }


def _clean(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return None
    text = str(value).strip()
    return text or None


def folder_label(name: str) -> str | None:
    """The folder a picture is in (its last one), the way training reads a class from a folder name.

    >>> folder_label("fashion/t-shirt/001.png"), folder_label("001.png")
    ('t-shirt', None)
    """
    parts = str(name).replace("\\", "/").split("/")
    return unicodedata.normalize("NFC", parts[-2]) if len(parts) > 1 and parts[-2] else None


def true_labels(
    columns: Mapping[str, Sequence[Any]], label_names: Sequence[str], label_column: str | None = None
) -> TrueLabels | None:
    """The true labels a scored table holds, or None when it holds none.

    From ``label_column`` (the run's own) or a column named ``label`` when the table has one; else, for
    pictures, from the folder each is in, when at least one folder is named after a class of the model.

    >>> true_labels({"text": ["a", "b"], "label": ["x", "y"]}, ["x", "y"]).source
    "column 'label'"
    >>> true_labels({"file": ["cat/1.png", "2.png"]}, ["cat", "dog"]).values
    ['cat', None]
    >>> true_labels({"file": ["holiday/1.png"]}, ["cat", "dog"]) is None
    True
    """
    for column in dict.fromkeys(c for c in (label_column, LABEL_COLUMN) if c):
        if column in columns:
            return TrueLabels([_clean(v) for v in columns[column]], f"column '{column}'")
    if FILE_COLUMN in columns:
        folders = [folder_label(n) for n in columns[FILE_COLUMN]]
        if set(folders) & set(label_names):
            return TrueLabels(folders, "the folder names", "picture")
    return None


def evaluate(
    true: Sequence[str | None],
    predicted: Sequence[str],
    label_names: Sequence[str],
    source: str = "the labels",
    unit: str = "row",
) -> Evaluation:
    """Score ``predicted`` against ``true`` over the rows whose true label is one of ``label_names``."""
    known = {name: i for i, name in enumerate(label_names)}
    pairs = [(known[t], known[p]) for t, p in zip(true, predicted, strict=True) if t in known]
    unknown = Counter(t for t in true if t is not None and t not in known)
    metrics = None
    if pairs:
        y_true, y_pred = zip(*pairs, strict=True)
        metrics = classification_metrics(list(y_true), list(y_pred), list(label_names))
    return Evaluation(
        source=source,
        rows=len(true),
        scored=len(pairs),
        metrics=metrics,
        unknown=dict(unknown.most_common()),
        missing=sum(t is None for t in true),
        unit=unit,
    )


def evaluate_table(
    columns: Mapping[str, Sequence[Any]], label_names: Sequence[str], label_column: str | None = None
) -> Evaluation | None:
    """Scores of a table with a ``predicted_label`` column against the true labels it holds, or None when it
    holds none (see :func:`true_labels`). ``columns`` is a DataFrame or a dict of columns.

    >>> ev = evaluate_table({"file": ["a/1.png", "b/2.png"], "predicted_label": ["a", "a"]}, ["a", "b"])
    >>> ev.source, ev.unit, ev.metrics["accuracy"]
    ('the folder names', 'picture', 0.5)
    """
    found = true_labels(columns, label_names, label_column)
    if found is None:
        return None
    return evaluate(found.values, list(columns["predicted_label"]), label_names, found.source, found.unit)
