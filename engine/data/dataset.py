"""What texts and pictures share: a labeled dataset, its classes, and the seeded per-class split.

>>> from engine.data.text import load_text_dataset
>>> splits = make_splits(load_text_dataset("data/spam_emails.csv"), seed=0)
>>> len(splits.train) + len(splits.validation) + len(splits.test)
5882
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from engine.core.errors import ConfigError, DataError
from engine.core.policy import holds_out_validation
from engine.core.words import plural
from engine.data.columns import is_number

# A class this many times smaller than the largest gets a warning: accuracy can look good while it is
# mostly missed. The Data page and the engine's data warnings both use it.
IMBALANCE_RATIO = 3.0


@dataclass(kw_only=True)
class LabeledDataset:
    """Examples with integer labels: what every task's dataset has.

    Subclasses add their per-example lists (``texts``, ``paths``, ...) and name them in
    ``per_example`` so :meth:`subset` picks them too.
    """

    labels: list[int]  # indices into label_names
    label_names: list[str]
    source: str  # file name shown to the user
    warnings: list[str]
    per_example: ClassVar[tuple[str, ...]] = ()

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        """Examples per class, in label_names order, zeros included."""
        counts = Counter(self.labels)
        return {name: counts.get(i, 0) for i, name in enumerate(self.label_names)}

    def subset(self, indices: Sequence[int]):
        """The examples at ``indices``, in that order (per-example lists picked, the rest copied)."""
        indices = [int(i) for i in indices]
        picked = {
            name: [getattr(self, name)[i] for i in indices] if getattr(self, name) else []
            for name in ("labels", *self.per_example)
        }
        return replace(self, label_names=list(self.label_names), warnings=list(self.warnings), **picked)


def imbalance_ratio(counts: dict[str, int]) -> float:
    """Largest class size over smallest (1.0 = balanced; inf when a class is empty).

    >>> imbalance_ratio({"a": 40, "b": 10})
    4.0
    """
    values = [int(v) for v in counts.values()]
    if not values:
        return 1.0
    return float("inf") if min(values) == 0 else max(values) / min(values)


def imbalance_warning(counts: dict[str, int], unit: str = "example") -> str | None:
    """The warning for strongly imbalanced classes (see ``IMBALANCE_RATIO``), or None."""
    present = {name: int(n) for name, n in counts.items() if n > 0}
    if len(present) < 2 or imbalance_ratio(present) < IMBALANCE_RATIO:
        return None
    smallest, largest = min(present, key=present.get), max(present, key=present.get)
    return (
        f"Classes are imbalanced: '{smallest}' has {plural(present[smallest], unit)}, '{largest}' has "
        f"{present[largest]:,}. Accuracy can look good while '{smallest}' is mostly missed; watch the per-class "
        f"scores, or add {unit}s of '{smallest}'."
    )


def sort_label_names(names: Sequence[str]) -> list[str]:
    """Numerically when every name is a number ('2' before '10'), else alphabetically."""
    if names and all(is_number(n) for n in names):
        return sorted(names, key=lambda n: (float(n), n))
    return sorted(names, key=lambda n: (n.casefold(), n))


@dataclass
class Splits:
    train: LabeledDataset
    validation: LabeledDataset
    test: LabeledDataset
    label_names: list[str]


def make_splits(
    data: LabeledDataset,
    validation: LabeledDataset | None = None,
    test: LabeledDataset | None = None,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 42,
) -> Splits:
    """Split ``data`` per class into train/validation/test; the same seed gives the same split.

    Each class gives ``max(1, round(n * fraction))`` examples to each split that is derived
    here and the rest (at least one) to train. A ``validation`` or ``test`` set the user
    uploaded is used as it is; load it with ``label_names=data.label_names``.
    """
    for name, value in (
        ("validation_fraction", validation_fraction),
        ("test_fraction", test_fraction),
    ):
        if not 0 <= value < 1:
            raise ConfigError(f"{name} is {value}; it must be at least 0 and below 1 (0.2 means 20% of the rows).")
    if validation_fraction + test_fraction >= 1:
        raise ConfigError(
            f"validation_fraction ({validation_fraction}) and test_fraction ({test_fraction}) add up to 1 or more, "
            "which leaves nothing to train on. Lower them."
        )
    for given, what in ((validation, "validation"), (test, "test")):
        if given is not None and given.label_names != data.label_names:
            raise DataError(
                f"The {what} file '{given.source}' has the classes {given.label_names}, but the training file "
                f"'{data.source}' has {data.label_names}. Load it with the training file's classes."
            )

    # A validation fraction of 0 holds no validation split out (small data: every example trains).
    no_validation = validation is None and validation_fraction == 0
    derived = [what for what, given in (("validate", validation), ("test", test)) if given is None]
    if no_validation:
        derived.remove("validate")
    needed = 1 + len(derived)
    rng = np.random.default_rng(seed)
    labels = np.asarray(data.labels, dtype=int)
    # Indices stay numpy arrays: a few million Python ints would cost over 100 MB.
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for label, name in enumerate(data.label_names):
        indices = rng.permutation(np.flatnonzero(labels == label))
        n = len(indices)
        if n < needed:
            uses = ", ".join(["1 to train on"] + [f"1 to {what}" for what in derived])
            raise DataError(
                f"Class '{name}' has only {plural(n, 'example')}; TransferLab needs at least {needed} of each class "
                f"({uses}). Add examples of '{name}' or remove that class."
            )
        n_test = max(1, round(n * test_fraction)) if test is None else 0
        n_val = max(1, round(n * validation_fraction)) if validation is None and not no_validation else 0
        # Small classes: keep one for training by taking back from the larger held-out split.
        while n - n_test - n_val < 1:
            if n_test >= n_val and n_test > 1:
                n_test -= 1
            else:
                n_val -= 1
        parts["test"].append(indices[:n_test])
        parts["validation"].append(indices[n_test : n_test + n_val])
        parts["train"].append(indices[n_test + n_val :])

    # Shuffle within each split so batches are not grouped by class.
    shuffled = {k: rng.permutation(np.concatenate([np.zeros(0, dtype=int), *v]).astype(int)) for k, v in parts.items()}
    return Splits(
        train=data.subset(shuffled["train"]),
        validation=validation if validation is not None else data.subset(shuffled["validation"]),
        test=test if test is not None else data.subset(shuffled["test"]),
        label_names=list(data.label_names),
    )


def training_splits(
    train: LabeledDataset,
    validation: LabeledDataset | None = None,
    test: LabeledDataset | None = None,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 42,
    uses_validation: bool = True,
) -> tuple[Splits, list[str]]:
    """The splits a run trains on, and notes on how they were made, in words (the one rule for the engine
    and the Data page).

    A validation split is held out only when the strategy chooses its model by it (``uses_validation``:
    fine-tuning keeps its best evaluation) and every class keeps at least ``SMALL_DATA_PER_CLASS``
    examples to learn from; otherwise every non-test example trains, and settings are chosen by
    cross-validation on them. A validation file the user gave is always used.
    """
    share = 1 - (0 if test is not None else test_fraction)
    learnable = {name: int(n * share) for name, n in train.class_counts().items()}
    small = not holds_out_validation(learnable)
    hold_out = validation is None and uses_validation and not small
    splits = make_splits(
        train,
        validation=validation,
        test=test,
        validation_fraction=validation_fraction if hold_out else 0.0,
        test_fraction=test_fraction,
        seed=seed,
    )
    notes = []
    if validation is None and small:
        counts = splits.train.class_counts()
        smallest = min(counts, key=counts.get)
        notes.append(
            f"No validation split was held out: with {counts[smallest]} examples of '{smallest}' to learn from, "
            f"it would be too small to choose a model by. All {len(splits.train):,} non-test examples train "
            "the model."
        )
    elif validation is None and not uses_validation:
        notes.append(
            "No validation split was held out: this strategy does not choose among models by one (its settings "
            f"are chosen by cross-validation), so all {len(splits.train):,} non-test examples train the model."
        )
    return splits, notes


@dataclass(kw_only=True)
class CountedLabels(LabeledDataset):
    """Labels alone, in a numpy array: enough to split by, when a file was only counted (a one-pass summary)."""

    def subset(self, indices: Sequence[int]) -> CountedLabels:
        picked = np.asarray(self.labels)[np.asarray(indices, dtype=np.int64)]
        return replace(self, labels=picked, label_names=list(self.label_names), warnings=list(self.warnings))


def counted_labels(class_counts: dict[str, int], source: str = "") -> CountedLabels:
    """As many labels of each class as ``class_counts`` says: what :func:`training_splits` needs to size the
    splits of a file that was only counted (the same rule as training, run on the labels alone).

    >>> splits, _ = training_splits(counted_labels({"ham": 4108, "spam": 1774}))
    >>> len(splits.train), len(splits.validation), len(splits.test)
    (4117, 588, 1177)
    """
    labels = np.repeat(np.arange(len(class_counts)), [int(n) for n in class_counts.values()])
    return CountedLabels(labels=labels, label_names=list(class_counts), source=source, warnings=[])
