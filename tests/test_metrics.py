"""The 95% intervals shown beside every score."""

from __future__ import annotations

import numpy as np
import pytest

from engine.core.metrics import bootstrap_intervals, classification_metrics


def test_a_perfect_score_on_a_small_test_set_is_not_shown_as_certain():
    """The bug (CI, stop 21): 9 of 9 right read "1.000 (95% interval 1.000–1.000)": every percentile
    bootstrap resample of a perfect confusion matrix is perfect too."""
    scores = classification_metrics([0, 0, 0, 1, 1, 1, 2, 2, 2], [0, 0, 0, 1, 1, 1, 2, 2, 2], ["a", "b", "c"])
    for name in ("accuracy", "macro_f1"):
        low, high = scores[f"{name}_ci"]
        assert scores[name] == high == 1.0 and 0.6 < low < 0.85, (name, low)
    # Nothing right: the interval reaches 0 and stays below half.
    low, high = classification_metrics([0, 1] * 5, [1, 0] * 5, ["a", "b"])["accuracy_ci"]
    assert low == 0.0 and 0.05 < high < 0.3


@pytest.mark.parametrize("n, p", [(20, 0.95), (60, 0.8)])
def test_accuracy_intervals_hold_the_true_accuracy_about_95_times_in_100(n, p):
    rng = np.random.default_rng(7)
    hits = 0
    trials = 300
    for _ in range(trials):
        right = rng.binomial(n, p)
        matrix = [[right // 2, 0], [n - right, right - right // 2]]
        low, high = bootstrap_intervals(matrix, samples=1000)[0]
        hits += low <= p <= high
    assert 0.90 <= hits / trials <= 0.995


def test_every_score_lies_inside_its_interval_and_absent_classes_count_as_zero():
    # 'c' never appears and is never predicted: macro-F1 averages it as 0, the interval too.
    scores = classification_metrics([0, 0, 1, 1, 1], [0, 1, 1, 1, 1], ["a", "b", "c"])
    for name in ("accuracy", "macro_f1"):
        low, high = scores[f"{name}_ci"]
        assert low <= scores[name] <= high
    assert scores["macro_f1_ci"][1] <= 2 / 3 + 1e-9
