"""The baselines every run is scored against, and what its scores mean beside them, in words.

Each run also scores two baselines on its own test split (``engine.training.baselines``, stored in
metrics.json as ``baselines``): always answering the largest training class, and a classical model
(TF-IDF + logistic regression for texts, logistic regression on downscaled pixels for pictures). A
score means little alone: "0.95" on e-mails where 87% are ham is 8 points over guessing. Torch-free:
Results, Compare, the model card and the report read their sentences here.

>>> metrics = {"accuracy": 0.76, "baselines": {
...     "majority": {"name": "the largest class ('ham')", "label": "ham", "accuracy": 0.43,
...                  "accuracy_ci": [0.39, 0.47]},
...     "classical": {"name": "TF-IDF + logistic regression", "accuracy": 0.71, "accuracy_ci": [0.67, 0.75]}}}
>>> print(baseline_summary(metrics))
+5 points of accuracy over a classical model (TF-IDF + logistic regression, 0.710), +33 over always answering the largest class ('ham', 0.430).
>>> baseline_warning(metrics) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.core.compare import interval_bounds, interval_text
from engine.core.words import format_seconds

# The classical model learns from at most this many training examples (a random sample per class beyond),
# so that it stays a matter of seconds however large the data.
MAX_TRAIN_EXAMPLES = 10_000
# Texts: each is read up to this many characters (the model itself reads at most its max length, 128 to
# 512 tokens): the character n-grams cost time in proportion to the characters.
MAX_TEXT_CHARS = 2_000
# Texts: C is fixed. Choosing it by cross-validation over the head's grid (11 values, 5 folds) took 20 times
# the one fit on the demo e-mails (52 s against 2.6 s for 500 texts), and C from 1 to 100 moved the test
# accuracy by a quarter of a point there (0.9856-0.9881).
TEXT_C = 10.0
# Pictures: the classical model sees each picture in grayscale, squeezed to this many pixels a side.
PIXEL_SIDE = 16
WORD_NGRAMS = (1, 2)  # texts: single words and pairs of words ...
CHAR_NGRAMS = (2, 5)  # ... and 2 to 5 letters inside word boundaries (typos, word endings)
TEXT_BASELINE = "TF-IDF + logistic regression"
PIXEL_BASELINE = f"logistic regression on {PIXEL_SIDE}x{PIXEL_SIDE} pixels"
ORDER = ("classical", "majority")  # strongest first


def majority_name(label: str) -> str:
    """The majority baseline's name.

    >>> majority_name("spam")
    "the largest class ('spam')"
    """
    return f"the largest class ('{label}')"


def _baselines(metrics: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = metrics.get("baselines")
    if not isinstance(found, Mapping):
        return {}
    return {k: found[k] for k in ORDER if isinstance(found.get(k), Mapping) and _number(found[k].get("accuracy"))}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def points(model: float, baseline: float) -> int:
    """The difference in accuracy in percentage points, rounded.

    >>> points(0.763, 0.71), points(0.70, 0.71)
    (5, -1)
    """
    return round((model - baseline) * 100)


def _described(kind: str, baseline: Mapping[str, Any]) -> str:
    """A baseline in words: "a classical model (TF-IDF + logistic regression, 0.710)", or "always answering the
    largest class ('ham', 0.430)"."""
    if kind == "majority":
        label = baseline.get("label")
        what = f"'{label}', " if label is not None else ""
        return f"always answering the largest class ({what}{baseline['accuracy']:.3f})"
    return f"a classical model ({baseline.get('name') or 'classical'}, {baseline['accuracy']:.3f})"


def baseline_summary(metrics: Mapping[str, Any]) -> str | None:
    """One sentence: the run's accuracy in points over each baseline. None for a run without baselines
    (written before they were kept)."""
    found = _baselines(metrics)
    accuracy = metrics.get("accuracy")
    if not found or not _number(accuracy):
        return None
    parts = []
    for i, (kind, baseline) in enumerate(found.items()):
        diff = points(accuracy, baseline["accuracy"])
        words = " points of accuracy" if i == 0 else ""
        parts.append(f"{diff:+d}{words} {'over' if diff >= 0 else 'against'} {_described(kind, baseline)}")
    return ", ".join(parts) + "."


def baseline_warning(metrics: Mapping[str, Any]) -> str | None:
    """A plain warning when the model does not beat a baseline clearly: its accuracy at or below the
    baseline's, or inside the baseline's 95% interval (the difference may be chance). None otherwise.

    >>> m = {"accuracy": 0.72, "baselines": {"classical": {"name": "TF-IDF + logistic regression",
    ...      "accuracy": 0.71, "accuracy_ci": [0.67, 0.75]}}}
    >>> print(baseline_warning(m))
    Not clearly better than a classical model (TF-IDF + logistic regression, 0.710): this model's accuracy, 0.720, is inside that model's 95% interval (0.670–0.750), so the difference may be chance. A model that is simpler to run and explain does about as well on this test split.
    """
    accuracy = metrics.get("accuracy")
    if not _number(accuracy):
        return None
    for kind in reversed(ORDER):  # falling short of the largest class says the most
        baseline = _baselines(metrics).get(kind)
        if baseline is None:
            continue
        described = _described(kind, baseline)
        simpler = (
            "A model that is simpler to run and explain does about as well on this test split."
            if kind == "classical"
            else "The model has not learned much beyond how common each class is: check the labels, add examples "
            "of the smaller classes, or try another strategy."
        )
        if accuracy <= baseline["accuracy"]:
            return (
                f"Not better than {described}: this model's accuracy is {accuracy:.3f}. "
                + simpler.replace("does about as well", "does better")
                if accuracy < baseline["accuracy"]
                else f"No better than {described}: this model's accuracy is the same. {simpler}"
            )
        _, high = interval_bounds(baseline.get("accuracy_ci"))
        if high is not None and accuracy <= high:
            return (
                f"Not clearly better than {described}: this model's accuracy, {accuracy:.3f}, is inside that model's "
                f"95% interval ({interval_text(baseline.get('accuracy_ci'))}), so the difference may be chance. "
                f"{simpler}"
            )
    return None


def baseline_rows(metrics: Mapping[str, Any], model: str = "this model") -> list[dict[str, str]]:
    """The run and its baselines as table rows (strings): accuracy and macro-F1 with their 95% intervals and
    the time each took. Empty for a run without baselines.

    >>> rows = baseline_rows({"accuracy": 0.9, "accuracy_ci": [0.85, 0.94], "macro_f1": 0.88, "train_seconds": 61,
    ...     "baselines": {"classical": {"name": "TF-IDF + logistic regression", "accuracy": 0.8, "seconds": 2.4}}})
    >>> [(r["model"], r["accuracy"], r["accuracy 95% interval"], r["time"]) for r in rows]
    [('this model', '0.900', '0.850–0.940', '1 min 1 s'), ('TF-IDF + logistic regression', '0.800', 'n/a', '2 s')]
    """
    found = _baselines(metrics)
    if not found:
        return []
    rows = [(model, metrics, metrics.get("train_seconds"))]
    rows += [(b.get("name") or kind, b, b.get("seconds")) for kind, b in found.items()]
    return [
        {
            "model": name,
            "accuracy": f"{m['accuracy']:.3f}" if _number(m.get("accuracy")) else "n/a",
            "accuracy 95% interval": interval_text(m.get("accuracy_ci")),
            "macro-F1": f"{m['macro_f1']:.3f}" if _number(m.get("macro_f1")) else "n/a",
            "macro-F1 95% interval": interval_text(m.get("macro_f1_ci")),
            "time": format_seconds(seconds) if _number(seconds) else "–",
        }
        for name, m, seconds in rows
    ]


def classical_note(metrics: Mapping[str, Any], examples: str = "examples") -> str | None:
    """How the classical model was fitted, in words (its C, and the sample it learned from when the
    training split was larger than ``MAX_TRAIN_EXAMPLES``).

    >>> classical_note({"baselines": {"classical": {"accuracy": 0.7, "C": 10.0, "C_chosen": "was fixed",
    ...     "train_examples": 10000, "of_train_examples": 84000}}}, "texts")
    'The classical model learned from a random sample of 10,000 of the 84,000 training texts (per class), to stay fast; its regularisation (C = 10) was fixed.'
    """
    classical = _baselines(metrics).get("classical")
    if classical is None:
        return None
    used, of = classical.get("train_examples"), classical.get("of_train_examples")
    sample = (
        f"learned from a random sample of {used:,} of the {of:,} training {examples} (per class), to stay fast"
        if _number(used) and _number(of) and used < of
        else f"learned from the same {used:,} training {examples} as the model"
        if _number(used)
        else "learned from the same training split as the model"
    )
    C, how = classical.get("C"), classical.get("C_chosen")
    chosen = f"its regularisation (C = {C:g}) {how}" if _number(C) and how else ""
    return f"The classical model {sample}" + (f"; {chosen}." if chosen else ".")
