"""The baselines a run is scored against, on its own split: the largest class, and a classical model.

- majority: always answer the class with the most training examples;
- classical: a linear model on features that need no pre-training, the kind a statistician would fit
  first. Which one a task gets is named in the task registry (``TaskInfo.baseline``): for texts TF-IDF
  of words (1-2) and characters (2-5) with logistic regression, for pictures logistic regression on
  downscaled grayscale pixels. For pictures its C is chosen by the same stratified cross-validation
  over the same grid as the frozen strategy's head (``engine.training.head``), by held-out log-loss;
  for texts that costs 20 fits of a model with some 300,000 features, so C is fixed (``TEXT_C``).

Both are fitted on the run's training split (the examples the model's weights learned from) and
scored on its test split, with the same metrics and intervals as the model. Torch-free: scikit-learn,
PIL and numpy only. The classical model learns from at most ``MAX_TRAIN_EXAMPLES`` (a random sample
per class beyond), so that it stays a matter of seconds on large data.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.core.baselines import (
    CHAR_NGRAMS,
    MAX_TEXT_CHARS,
    MAX_TRAIN_EXAMPLES,
    PIXEL_BASELINE,
    PIXEL_SIDE,
    TEXT_BASELINE,
    TEXT_C,
    WORD_NGRAMS,
    majority_name,
)
from engine.core.errors import DataError
from engine.core.metrics import classification_metrics
from engine.core.policy import HEAD_CS, HEAD_CV_FOLDS, HEAD_MAX_ITER
from engine.core.tasks import TaskInfo
from engine.data.dataset import LabeledDataset, Splits
from engine.training.head import sample_per_class

log = logging.getLogger(__name__)
SCORES = ("accuracy", "accuracy_ci", "macro_f1", "macro_f1_ci")
TEST_LOT = 10_000  # test texts put through the text baseline at a time


@dataclass
class ClassicalFit:
    """A classical model's test predictions, and how it was fitted."""

    name: str
    predictions: np.ndarray  # one class index per test example
    C: float
    C_chosen: str  # how C was chosen, in words: "was chosen by 5-fold cross-validation", "was fixed"


def score_baselines(task: TaskInfo, splits: Splits, seed: int = 0) -> dict[str, Any]:
    """``{"majority": {...}, "classical": {...}}`` on ``splits.test``, as metrics.json keeps them."""
    baselines = {"majority": majority_baseline(splits)}
    try:
        classical = classical_baseline(task, splits.train, splits.test, splits.label_names, seed)
    except (ValueError, DataError) as exc:  # e.g. texts with no word to count: the run stands without it
        log.warning("no classical baseline: %s", exc)
        classical = None
    if classical is not None:
        baselines["classical"] = classical
    return baselines


def majority_baseline(splits: Splits) -> dict[str, Any]:
    """Always the class with the most training examples (the first in label order on a tie)."""
    counts = np.bincount(np.asarray(splits.train.labels, dtype=int), minlength=len(splits.label_names))
    largest = int(counts.argmax())
    label = splits.label_names[largest]
    scores = classification_metrics(splits.test.labels, [largest] * len(splits.test), splits.label_names)
    return {"name": majority_name(label), "label": label, **{k: scores[k] for k in SCORES}}


def classical_baseline(
    task: TaskInfo, train: LabeledDataset, test: LabeledDataset, label_names: Sequence[str], seed: int = 0
) -> dict[str, Any] | None:
    """The task's classical model (``task.baseline``) fitted on ``train`` (sampled down to
    ``MAX_TRAIN_EXAMPLES``) and scored on ``test``; None, with a logged reason, when it cannot be fitted
    (a single class to learn from)."""
    if len(np.unique(np.asarray(train.labels, dtype=int))) < 2 or not len(test):
        log.info("no classical baseline: fewer than two classes to learn from, or no test examples")
        return None
    started = time.time()
    used = train.subset(sample_per_class(train.labels, MAX_TRAIN_EXAMPLES, seed))
    fit: ClassicalFit = task.load("baseline")(used, test, seed)
    scores = classification_metrics(test.labels, fit.predictions, label_names)
    return {
        "name": fit.name,
        **{k: scores[k] for k in SCORES},
        "seconds": time.time() - started,
        "C": fit.C,
        "C_chosen": fit.C_chosen,
        "train_examples": len(used),
        "of_train_examples": len(train),
    }


def logistic_regression(
    x_train: Any, y_train: Sequence[int], seed: int = 0, C: float | None = None
) -> tuple[Any, float, str]:
    """Logistic regression with ``C``, or, without, C chosen as the frozen head's is: the grid ``HEAD_CS``,
    stratified k-fold (k = min(5, the smallest class)), lowest held-out log-loss, then refitted on every
    example. Dense or sparse features. Returns (the fitted model, C, how C was chosen in words)."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y_train, dtype=int)
    folds = min(HEAD_CV_FOLDS, int(np.bincount(y)[np.unique(y)].min()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes at huge C: the fit is still the best found
        if C is not None or folds < 2:
            how = "was fixed" if C is not None else "was fixed: too few examples to cross-validate"
            C = 1.0 if C is None else C
            return LogisticRegression(C=C, max_iter=HEAD_MAX_ITER).fit(x_train, y), C, how
        model = LogisticRegressionCV(
            Cs=list(HEAD_CS),
            cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
            scoring="neg_log_loss",
            max_iter=HEAD_MAX_ITER,
        ).fit(x_train, y)
    return model, float(np.ravel(model.C_)[0]), f"was chosen by {folds}-fold cross-validation"


def text_baseline(train: LabeledDataset, test: LabeledDataset, seed: int = 0) -> ClassicalFit:
    """TF-IDF of words (1-2) and characters within words (2-5) of each text's first ``MAX_TEXT_CHARS``
    characters, logistic regression with C = ``TEXT_C`` on top."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union

    features = make_union(
        TfidfVectorizer(analyzer="word", ngram_range=WORD_NGRAMS, sublinear_tf=True, min_df=2),
        TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, sublinear_tf=True, min_df=2),
    )
    texts = [text[:MAX_TEXT_CHARS] for text in train.texts]
    try:
        x_train = features.fit_transform(texts)
    except ValueError:  # no n-gram occurs twice (a handful of texts): keep every one
        for _, vectorizer in features.transformer_list:
            vectorizer.set_params(min_df=1)
        x_train = features.fit_transform(texts)
    model, C, how = logistic_regression(x_train, train.labels, seed, C=TEXT_C)
    # The test split a lot at a time: its TF-IDF matrix for a few hundred thousand texts takes gigabytes.
    predictions = [
        model.predict(features.transform([text[:MAX_TEXT_CHARS] for text in test.texts[start : start + TEST_LOT]]))
        for start in range(0, len(test), TEST_LOT)
    ]
    return ClassicalFit(TEXT_BASELINE, np.concatenate(predictions), C, how)


def pixels(paths: Sequence[str], side: int = PIXEL_SIDE) -> np.ndarray:
    """Each picture in grayscale, centre-cropped to a square and shrunk to ``side`` x ``side``, as a row of
    values in 0..1 (read as the model reads pictures: upright, transparency on white)."""
    from PIL import Image, ImageOps

    from engine.data.images import open_image

    rows = np.empty((len(paths), side * side), dtype=np.float32)
    for i, path in enumerate(paths):
        image = ImageOps.fit(open_image(path).convert("L"), (side, side), Image.Resampling.BOX)
        rows[i] = np.asarray(image, dtype=np.float32).ravel() / 255.0
    return rows


def image_baseline(train: LabeledDataset, test: LabeledDataset, seed: int = 0) -> ClassicalFit:
    """Logistic regression on ``PIXEL_SIDE`` x ``PIXEL_SIDE`` grayscale pixels, each pixel standardised."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler()
    x_train = scaler.fit_transform(pixels(train.paths))
    model, C, how = logistic_regression(x_train, train.labels, seed)
    return ClassicalFit(PIXEL_BASELINE, model.predict(scaler.transform(pixels(test.paths))), C, how)
