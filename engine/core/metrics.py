"""Classification metrics on plain arrays (no torch), with 95% intervals (a Bayesian bootstrap).

>>> m = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], ["a", "b"])
>>> m["accuracy"], round(m["macro_f1"], 3)
(0.75, 0.733)
>>> lo, hi = m["accuracy_ci"]
>>> lo <= 0.75 <= hi
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

CONFIDENCE = 0.95  # the level of every interval shown
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0  # the same data give the same interval
# Below this many examples of a class in a split, its scores move a lot with a few examples: say so.
MIN_EVAL_PER_CLASS = 10


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]) -> dict:
    """accuracy, macro/weighted F1 with 95% bootstrap intervals, the confusion matrix (rows true,
    columns predicted) and per-class scores."""
    labels = list(range(len(label_names)))
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    accuracy_ci, macro_f1_ci = bootstrap_intervals(matrix)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "accuracy_ci": accuracy_ci,
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "macro_f1_ci": macro_f1_ci,
        "confidence_level": CONFIDENCE,
        "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "labels": list(label_names),
        "confusion_matrix": matrix.tolist(),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        },
    }


def bootstrap_intervals(
    matrix: np.ndarray | Sequence[Sequence[int]], samples: int = BOOTSTRAP_SAMPLES, level: float = CONFIDENCE
) -> tuple[list[float], list[float]]:
    """Intervals of accuracy and macro-F1 over the examples behind a confusion matrix: a Bayesian
    bootstrap (Rubin 1981) that draws the cells' shares from a Dirichlet posterior.

    The plain percentile bootstrap says "100% (100-100%)" when every test example is right (every
    resample is perfect too), and 9 of 9 right is far from proof of a perfect model. Here the counts
    get half an example of prior, spread over the cells of the classes present (half over the right
    cells, half over the wrong ones), so the accuracy interval is exactly the Jeffreys interval of a
    proportion (Brown, Cai and DasGupta 2001), and macro-F1 comes from the same draws. Classes with no
    example and no prediction score 0 in macro-F1, as in the point estimate. The scores themselves
    always lie inside their interval.

    >>> acc, f1 = bootstrap_intervals([[50, 0], [0, 50]])
    >>> [round(v, 2) for v in acc], [round(v, 2) for v in f1]
    ([0.97, 1.0], [0.97, 1.0])
    >>> acc, f1 = bootstrap_intervals([[5, 0], [0, 4]])
    >>> round(acc[0], 2), acc[1]
    (0.77, 1.0)
    """
    matrix = np.asarray(matrix, dtype=np.int64)
    n = int(matrix.sum())
    if n == 0:
        return [float("nan"), float("nan")], [float("nan"), float("nan")]
    k = matrix.shape[0]
    present = np.flatnonzero(matrix.sum(0) + matrix.sum(1))
    if len(present) < 2:
        present = np.arange(k)
    m = len(present)
    counts = matrix[np.ix_(present, present)].astype(float)
    prior = np.full((m, m), 0.5 / (m * (m - 1)) if m > 1 else 0.5)
    np.fill_diagonal(prior, 0.5 / m)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    shares = rng.dirichlet((counts + prior).ravel(), size=samples).reshape(samples, m, m)
    tp = np.einsum("bii->bi", shares)
    accuracy = tp.sum(1)
    f1 = 2 * tp / (shares.sum(2) + shares.sum(1))  # 2tp / (2tp + fn + fp); every cell is above 0
    macro_f1 = f1.sum(1) / k
    tail = (1 - level) / 2 * 100
    intervals = []
    for draws, point in ((accuracy, float(np.trace(matrix) / n)), (macro_f1, _macro_f1(matrix))):
        low, high = np.percentile(draws, [tail, 100 - tail])
        intervals.append([min(float(low), point), max(float(high), point)])
    return intervals[0], intervals[1]


def _macro_f1(matrix: np.ndarray) -> float:
    tp = np.diag(matrix).astype(float)
    denominator = matrix.sum(0) + matrix.sum(1)
    return float(np.divide(2 * tp, denominator, out=np.zeros(len(tp)), where=denominator > 0).mean())


def small_split_warning(class_counts: Mapping[str, int], split: str, unit: str = "example") -> str | None:
    """A plain sentence when ``split`` has fewer than MIN_EVAL_PER_CLASS examples of some class.

    >>> small_split_warning({"a": 5, "b": 40}, "test")
    "The test split has only 5 examples of 'a': scores on it can move by several points with one or two examples more or less right. Read them with their 95% intervals, or add data."
    >>> small_split_warning({"a": 5, "b": 4, "c": 12}, "validation").split(":")[0]
    "The validation split has fewer than 10 examples in 2 of 3 classes (4 of 'b')"
    """
    counts = {name: int(count) for name, count in class_counts.items()}
    if not counts or min(counts.values()) >= MIN_EVAL_PER_CLASS:
        return None
    smallest = min(counts, key=counts.get)
    count = counts[smallest]
    few = sum(1 for c in counts.values() if c < MIN_EVAL_PER_CLASS)
    if few == 1:
        where = f"only {count} {unit if count == 1 else unit + 's'} of '{smallest}'"
    else:
        where = f"fewer than {MIN_EVAL_PER_CLASS} {unit}s in {few} of {len(counts)} classes ({count} of '{smallest}')"
    return (
        f"The {split} split has {where}: scores on it can move by several points with one or two {unit}s more "
        f"or less right. Read them with their {CONFIDENCE:.0%} intervals, or add data."
    )


def top_confusions(labels: Sequence[str], matrix: Sequence[Sequence[int]], k: int = 10) -> list[dict]:
    """The ``k`` most frequent mistakes in a confusion matrix (rows true, columns predicted), most first:
    true class, predicted class, how many test examples, and their share of the true class's examples.

    >>> top_confusions(["cat", "dog", "fox"], [[8, 2, 0], [1, 9, 0], [3, 0, 1]], k=2)
    [{'true': 'fox', 'predicted': 'cat', 'count': 3, 'share': 0.75}, {'true': 'cat', 'predicted': 'dog', 'count': 2, 'share': 0.2}]
    """
    counts = np.asarray(matrix, dtype=np.int64).reshape(len(labels), len(labels))
    totals = counts.sum(1)
    mistakes = [
        {
            "true": labels[t],
            "predicted": labels[p],
            "count": int(counts[t, p]),
            "share": float(counts[t, p] / totals[t]),
        }
        for t in range(len(labels))
        for p in range(len(labels))
        if t != p and counts[t, p] > 0
    ]
    # Ties: the mistake that takes the larger share of its class first (a small class confused often).
    mistakes.sort(key=lambda m: (-m["count"], -m["share"]))
    return mistakes[: max(k, 0)]


def majority_share(per_class: Mapping[str, Mapping[str, float]]) -> float | None:
    """The test accuracy of always answering the most common class (from each class's support): the
    floor a useful model must beat. None without supports.

    >>> majority_share({"ham": {"support": 75}, "spam": {"support": 25}})
    0.75
    """
    supports = [int(s.get("support") or 0) for s in per_class.values()]
    total = sum(supports)
    return max(supports) / total if total else None
