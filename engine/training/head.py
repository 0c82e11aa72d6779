"""A classifier head fitted to convergence on fixed features: L2-regularised logistic regression.

The frozen and the few-shot (SetFit) strategies end here: the backbone's features of every
training example are known, so the head is a convex problem, solved exactly (L-BFGS) instead of
with a few noisy epochs of SGD, and its regularisation strength is chosen by stratified k-fold
cross-validation on the training data (on a sample of ``HEAD_CV_ROWS`` of them when there are more, so a
million rows cost one fit on all of them, not 55). Features are L2-normalised first, the way sentence
encoders are trained to be compared (and a good scale for any backbone's pooled features); the
fitted classifier applies the same normalisation (``Classifier.normalize``).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = np.r_[rng.normal(1, 1, (20, 4)), rng.normal(-1, 1, (20, 4))]
>>> fit = fit_head(x, [0] * 20 + [1] * 20, n_classes=2)
>>> fit.weight.shape, fit.folds
((2, 4), 5)
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.core.policy import HEAD_CS, HEAD_CV_FOLDS, HEAD_CV_ROWS, HEAD_MAX_ITER


@dataclass
class HeadFit:
    weight: np.ndarray  # (classes, features): logits = normalise(x) @ weight.T + bias
    bias: np.ndarray
    C: float  # inverse regularisation strength chosen
    folds: int  # cross-validation folds used to choose C (0: too few examples to cross-validate)
    cv_accuracy: float | None  # held-out accuracy of the chosen C over the folds
    cv_log_loss: float | None  # held-out log-loss of the chosen C (what chose it)
    scores: dict[float, tuple[float, float]] = field(default_factory=dict)  # C -> (log-loss, accuracy)
    cv_rows: int = 0  # examples the cross-validation used (all of them, or a sample of HEAD_CV_ROWS)


def normalise(features: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def sample_per_class(labels: Sequence[int], limit: int, seed: int = 0, least: int = 1) -> list[int]:
    """Indices of at most about ``limit`` examples, each class keeping its share but at least ``least`` of it
    (or all it has), in their original order; every index when there are no more than ``limit``.

    >>> sample_per_class([0] * 90 + [1] * 10, 20)[-2:], len(sample_per_class([0] * 90 + [1] * 10, 20))
    ([90, 94], 20)
    >>> len(sample_per_class([0] * 990 + [1] * 10, 100, least=5))  # by share 99 + 1, but 5 of class 1
    104
    """
    labels = np.asarray(labels, dtype=int)
    if len(labels) <= limit:
        return list(range(len(labels)))
    rng = np.random.default_rng(seed)
    kept = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        share = max(least, round(limit * len(members) / len(labels)))
        kept.append(rng.choice(members, size=min(share, len(members)), replace=False))
    return sorted(int(i) for i in np.concatenate(kept))


def _fit(x: np.ndarray, y: np.ndarray, C: float, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes at huge C: the fit is still the best found
        model = LogisticRegression(C=C, max_iter=HEAD_MAX_ITER).fit(x, y)
    coef, intercept = model.coef_, model.intercept_
    weight = np.zeros((n_classes, x.shape[1]), dtype=np.float32)
    bias = np.zeros(n_classes, dtype=np.float32)
    if len(model.classes_) == 2 and coef.shape[0] == 1:
        # Binary: sigmoid(w.x + b) is the softmax of (-w.x - b, w.x + b) / 2.
        coef = np.r_[-coef / 2, coef / 2]
        intercept = np.r_[-intercept / 2, intercept / 2]
    weight[model.classes_] = coef
    bias[model.classes_] = intercept
    if len(model.classes_) < n_classes:  # a class with no training example is never predicted
        bias[[c for c in range(n_classes) if c not in set(model.classes_)]] = -1e4
    return weight, bias


def fit_head(features: np.ndarray, labels: Sequence[int], n_classes: int, seed: int = 0) -> HeadFit:
    """Logistic regression on normalised features, C chosen by stratified k-fold CV when every class
    has at least 2 examples (k = min(5, the smallest class)), then refitted on all the examples. Beyond
    ``HEAD_CV_ROWS`` examples the CV runs on a sample of them (``sample_per_class``), and the features are
    held in float32 rather than float64 (half the memory of millions of rows).

    C is chosen by held-out log-loss rather than accuracy: with a few dozen examples, accuracy ties
    between many values of C, while the log-loss also rewards probabilities that mean what they say.
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels, dtype=int)
    x = normalise(np.asarray(features, dtype=np.float64 if len(y) <= HEAD_CV_ROWS else np.float32))
    searched = np.asarray(sample_per_class(y, HEAD_CV_ROWS, seed, least=HEAD_CV_FOLDS))
    x_cv, y_cv = (x, y) if len(searched) == len(y) else (x[searched], y[searched])
    smallest = min(Counter(y_cv.tolist()).values())
    folds = min(HEAD_CV_FOLDS, smallest)
    scores: dict[float, tuple[float, float]] = {}
    if folds >= 2 and len(set(y_cv.tolist())) > 1:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        splits = list(splitter.split(x_cv, y_cv))
        for C in HEAD_CS:
            loss, correct = 0.0, 0
            for train, held in splits:
                w, b = _fit(x_cv[train], y_cv[train], C, n_classes)
                logits = x_cv[held] @ w.T + b
                logits -= logits.max(1, keepdims=True)
                log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
                loss -= float(log_p[np.arange(len(held)), y_cv[held]].sum())
                correct += int((logits.argmax(1) == y_cv[held]).sum())
            scores[C] = (loss / len(y_cv), correct / len(y_cv))
        C = min(scores, key=lambda c: scores[c][0])
    else:
        folds, C = 0, 1.0
    weight, bias = _fit(x, y, C, n_classes)
    chosen = scores.get(C)
    cv_rows = len(y_cv) if folds else 0
    return HeadFit(
        weight, bias, C, folds, chosen[1] if chosen else None, chosen[0] if chosen else None, scores, cv_rows
    )
