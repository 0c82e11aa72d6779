"""Labeled texts: read a table, pick the columns, clean and validate it.

The people who upload files are not engineers, so every problem raises one
:class:`~engine.core.errors.DataError` whose message says what is wrong, where (file, column, the
row number a spreadsheet would show) and what to do. The user's file is only ever read.

>>> data = load_text_dataset("data/spam_emails.csv")
>>> data.label_names, len(data)
(['ham', 'spam'], 5882)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.core.adaptation import MIN_TEXTS
from engine.core.errors import DataError
from engine.core.words import listed, plural
from engine.data.columns import guess_columns, guess_text_column, looks_like_free_text
from engine.data.dataset import LabeledDataset, imbalance_warning, sort_label_names
from engine.data.tables import ROW_KINDS, is_text_lines, read_table, read_text_lines

_MAX_LISTED_ROWS = 10


@dataclass(kw_only=True)
class TextDataset(LabeledDataset):
    """Cleaned texts with integer labels, and what cleaning did, in words for the user."""

    texts: list[str]
    text_column: str
    label_column: str
    dropped_empty_text: int = 0
    dropped_missing_label: int = 0
    duplicates_removed: int = 0
    rows: list[int] = field(default_factory=list)  # where each example is in the file (see row_kind)
    row_kind: str = "row"  # "row" (CSV/Excel, header is row 1), "line" (JSONL) or "record"
    per_example = ("texts", "rows")


def where(rows: Sequence[int], kind: str, total: int | None = None) -> str:
    """'rows 5, 9, 12' with at most ten numbers listed (``total``: how many there are, when ``rows`` holds
    only the first ones).

    >>> where([5, 9], "row"), where([3], "line", total=40)
    ('rows 5, 9', 'lines 3 and 39 more')
    """
    total = len(rows) if total is None else total
    shown = ", ".join(str(r) for r in rows[:_MAX_LISTED_ROWS])
    more = f" and {total - min(len(rows), _MAX_LISTED_ROWS):,} more" if total > min(len(rows), _MAX_LISTED_ROWS) else ""
    return f"{kind}{'s' if total > 1 else ''} {shown}{more}"


# What reading a labeled file drops or flags, in words: the training loader and the one-pass summary
# (engine.data.summary) say the same.
def empty_text_note(count: int, column: str, at: str) -> str:
    return f"Dropped {plural(count, 'row')} with an empty text in column '{column}' ({at})."


def missing_label_note(count: int, column: str, at: str) -> str:
    return f"Dropped {plural(count, 'row')} with no label in column '{column}' ({at})."


def duplicates_note(count: int, at: str) -> str:
    return (
        f"Removed {plural(count, 'duplicate row')} (same text and label as an earlier row; {at}); "
        "the first of each was kept."
    )


def conflicts_note(count: int, example_rows: Sequence[int], kind: str) -> str:
    example = " and ".join(str(r) for r in example_rows[:3])
    return (
        f"{plural(count, 'text')} appear with different labels (for example {kind}s {example}). "
        "They are kept, but check them: the model cannot learn both answers for the same text."
    )


def case_variant_notes(labels: Iterable[str]) -> list[str]:
    """Labels that differ only in capital letters, one note per group.

    >>> case_variant_notes(["Spam", "spam", "ham"])
    ["Labels 'Spam', 'spam' differ only in capital letters and are treated as different classes. Make them the same if they mean the same thing."]
    """
    by_case: dict[str, set[str]] = {}
    for n in labels:
        by_case.setdefault(n.casefold(), set()).add(n)
    return [
        f"Labels {listed(sorted(variants), limit=len(variants))} differ only in capital letters and are treated as "
        "different classes. Make them the same if they mean the same thing."
        for variants in by_case.values()
        if len(variants) > 1
    ]


def free_text_label_error(label_column: str, distinct: int, source: str) -> DataError:
    return DataError(
        f"Column '{label_column}' of '{source}' has {distinct:,} different values; it looks like free text or an "
        "id, not a label. Pick the column that holds the category of each text (with --label-column, or the "
        "picker in the dashboard); if the file has none, add one."
    )


def one_class_error(name: str, label_column: str, source: str) -> DataError:
    return DataError(
        f"'{source}' has only one class, '{name}', in column '{label_column}' (after dropping empty "
        "rows). TransferLab learns to tell classes apart, so it needs at least two. Add examples of another "
        "class, or check that this is the label column."
    )


def no_examples_error(source: str, text_column: str, label_column: str) -> DataError:
    return DataError(
        f"'{source}' has no row with both a text (column '{text_column}') and a label (column "
        f"'{label_column}'). Check that these are the right columns and that they are filled in."
    )


def unknown_label_error(source: str, kind: str, row: int, label: str, count: int, label_names: list[str]) -> DataError:
    """A validation or test file's first row whose label the training file does not have (``count`` such rows)."""
    others = f" ({plural(count, 'row')} in all)" if count > 1 else ""
    names = ", ".join(f"'{n}'" for n in label_names)
    return DataError(
        f"'{source}' {kind} {row} has the label '{label}'{others}, which is not one of the training file's classes: "
        f"{names}. Correct the label, or remove the row."
    )


def load_text_dataset(
    path: str | Path,
    text_column: str | None = None,
    label_column: str | None = None,
    label_names: list[str] | None = None,
) -> TextDataset:
    """Read, pick columns, clean and validate a labeled text file.

    Give ``label_names`` for a validation or test file, so it must use the training file's
    classes (in that order). Rows with an empty text or no label are dropped and exact
    duplicates removed; each is counted and reported in ``warnings`` with row numbers.
    """
    df, warnings = read_table(path)
    source = Path(path).name
    text_column, label_column = guess_columns(df, text_column, label_column, source)
    kind = df.index.name if df.index.name in ROW_KINDS else "row"
    rows = [int(r) for r in df.index]

    def clean(column: str) -> list[str | None]:
        return [None if pd.isna(v) or not str(v).strip() else str(v).strip() for v in df[column].tolist()]

    texts, labels = clean(text_column), clean(label_column)

    empty_text = [r for r, t in zip(rows, texts, strict=True) if t is None]
    if empty_text:
        warnings.append(empty_text_note(len(empty_text), text_column, where(empty_text, kind)))
    missing_label = [r for r, t, y in zip(rows, texts, labels, strict=True) if t is not None and y is None]
    if missing_label:
        warnings.append(missing_label_note(len(missing_label), label_column, where(missing_label, kind)))
    kept = [(r, t, y) for r, t, y in zip(rows, texts, labels, strict=True) if t is not None and y is not None]
    if not kept:
        raise no_examples_error(source, text_column, label_column)

    distinct = {y for _, _, y in kept}
    if looks_like_free_text(len(distinct), len(kept)):
        raise free_text_label_error(label_column, len(distinct), source)

    if label_names is not None:
        known = set(label_names)
        unknown = [(r, y) for r, _, y in kept if y not in known]
        if unknown:
            raise unknown_label_error(source, kind, *unknown[0], len(unknown), label_names)
        names = list(label_names)
    else:
        names = sort_label_names(list(distinct))
        if len(names) < 2:
            raise one_class_error(names[0], label_column, source)

    seen: dict[tuple[str, str], int] = {}
    duplicates: list[int] = []
    unique: list[tuple[int, str, str]] = []
    for r, t, y in kept:
        if (t, y) in seen:
            duplicates.append(r)
        else:
            seen[(t, y)] = r
            unique.append((r, t, y))
    if duplicates:
        warnings.append(duplicates_note(len(duplicates), where(duplicates, kind)))
    first_rows: dict[str, list[int]] = {}
    first_labels: dict[str, set[str]] = {}
    for r, t, y in unique:
        first_rows.setdefault(t, []).append(r)
        first_labels.setdefault(t, set()).add(y)
    conflicts = [first_rows[t] for t in first_rows if len(first_labels[t]) > 1]
    if conflicts:
        warnings.append(conflicts_note(len(conflicts), conflicts[0], kind))
    warnings.extend(case_variant_notes(distinct))

    index = {n: i for i, n in enumerate(names)}
    data = TextDataset(
        texts=[t for _, t, _ in unique],
        labels=[index[y] for _, _, y in unique],
        label_names=names,
        source=source,
        text_column=text_column,
        label_column=label_column,
        warnings=warnings,
        dropped_empty_text=len(empty_text),
        dropped_missing_label=len(missing_label),
        duplicates_removed=len(duplicates),
        rows=[r for r, _, _ in unique],
        row_kind=kind,
    )
    imbalance = imbalance_warning(data.class_counts(), unit="example")
    if imbalance:
        warnings.append(imbalance)
    return data


def describe(data: TextDataset) -> dict:
    """A plain summary for the UI: sizes, classes, text lengths in characters, warnings."""
    counter = getattr(data.texts, "char_lengths", None)  # texts in Arrow (engine.data.large) count themselves
    lengths = counter() if counter else np.asarray([len(t) for t in data.texts], dtype=int)
    stats = (
        {
            "min": int(lengths.min()),
            "median": int(np.median(lengths)),
            "p95": int(np.percentile(lengths, 95)),
            "max": int(lengths.max()),
        }
        if len(lengths)
        else {"min": 0, "median": 0, "p95": 0, "max": 0}
    )
    return {
        "source": data.source,
        "rows": len(data),
        "classes": list(data.label_names),
        "class_counts": data.class_counts(),
        "text_column": data.text_column,
        "label_column": data.label_column,
        "text_length": stats,
        "dropped_empty_text": data.dropped_empty_text,
        "dropped_missing_label": data.dropped_missing_label,
        "duplicates_removed": data.duplicates_removed,
        "warnings": list(data.warnings),
    }


def read_inputs(path: str | Path, text_column: str | None = None) -> tuple[pd.DataFrame, list[str], list]:
    """A file of texts to predict on: (its table, the texts, what was skipped as ``(where, why)``).

    A table skips nothing; a .txt of one text per line skips its empty lines, ``("line 3", "empty line")``.
    """
    if is_text_lines(path):
        df, empty = read_text_lines(path)
        return df, df["text"].tolist(), [(f"line {n}", "empty line") for n in empty]
    df, _warnings = read_table(path)
    column = guess_text_column(df, text_column, source=Path(path).name)
    return df, df[column].fillna("").astype(str).tolist(), []


@dataclass
class UnlabeledTexts:
    """Texts without labels (to adapt a model to their domain), and what reading them skipped, in words."""

    texts: list[str]
    source: str
    text_column: str | None  # None for a .txt of one text per line
    empty: int = 0
    duplicates: int = 0
    warnings: list[str] = field(default_factory=list)


def load_unlabeled_texts(path: str | Path, text_column: str | None = None) -> UnlabeledTexts:
    """The distinct, non-empty texts of a table's column (named, or guessed as for training data) or of a
    .txt with one text per line. Fewer than ``MIN_TEXTS`` raise a :class:`DataError` that says so.

    >>> data = load_unlabeled_texts("data/spam_emails.csv")
    >>> data.text_column, len(data.texts) > 5000
    ('text', True)
    """
    source = Path(path).name
    if is_text_lines(path):
        if text_column is not None:
            raise DataError(
                f"'{source}' is a plain text file with one text per line: it has no columns, so leave out "
                f"--text-column (it asked for '{text_column}')."
            )
        column = None
        _df, raw, _skipped = read_inputs(path)
    else:
        df, _warnings = read_table(path)
        column = guess_text_column(df, text_column, source=source)
        raw = [None if pd.isna(v) else str(v) for v in df[column].tolist()]
    stripped = [t.strip() for t in raw if t is not None and t.strip()]
    texts = list(dict.fromkeys(stripped))
    data = UnlabeledTexts(texts, source, column, empty=len(raw) - len(stripped), duplicates=len(stripped) - len(texts))
    where = "lines" if column is None else f"rows (column '{column}')"
    if data.empty:
        data.warnings.append(f"Skipped {plural(data.empty, 'empty text')} among the {where} of '{source}'.")
    if data.duplicates:
        data.warnings.append(
            f"Removed {plural(data.duplicates, 'repeated text')} (each kept once, so no held-out text is also "
            "trained on)."
        )
    if len(texts) < MIN_TEXTS:
        raise DataError(
            f"'{source}' has {plural(len(texts), 'different non-empty text')}; adapting a model to a domain needs at "
            f"least {MIN_TEXTS} (hundreds or thousands help more). Add more texts of the same kind"
            + ("." if column is None else f", or check that '{column}' is the column that holds them.")
        )
    return data
