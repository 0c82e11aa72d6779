"""The class of each picture: from its folder (cat/1.jpg), or from a table of file names and labels."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from engine.core.errors import DataError
from engine.core.words import MAX_LISTED, listed, plural
from engine.data.archives import Listing, suffix
from engine.data.columns import LABEL_HINTS, hint_score
from engine.data.tables import read_table

LAYOUT_HINT = (
    "Put each class's images in a folder named after the class (for example cat/1.jpg, dog/2.jpg) and "
    "ZIP those folders, or upload a CSV file with two columns, the image file name and its label, "
    "together with the ZIP."
)


_SPLIT_NAMES = frozenset({"train", "training", "test", "testing", "val", "valid", "validation", "dev"})


def folder_labels(listing: Listing, source: str, names: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Class of each image from its folder; one wrapping folder (fashion/bag/1.png) is skipped."""
    split = {n: n.split("/") for n in names}
    depth = 0
    while split and all(len(p) >= depth + 3 for p in split.values()) and len({p[depth] for p in split.values()}) == 1:
        depth += 1
    prefix = "/".join(next(iter(split.values()))[:depth]) + "/" if depth else ""
    top = sorted(n for n, p in split.items() if len(p) == depth + 1)
    if len(top) == len(split):
        where = f"at the top of '{prefix}'" if prefix else "at the top level"
        tables = (
            f" The ZIP holds {listed(listing.tables, 2)}: upload that file as the labels file."
            if listing.tables
            else ""
        )
        raise DataError(
            f"The images in '{source}' are not in class folders (for example '{top[0]}' is {where}), so TransferLab "
            f"cannot tell their classes. {LAYOUT_HINT}{tables}"
        )
    splits = sorted({p[depth] for p in split.values() if len(p) >= depth + 3 and p[depth].lower() in _SPLIT_NAMES})
    if splits:
        raise DataError(
            f"'{source}' holds the folders {listed(splits)}, each with folders of its own: it looks like data already "
            "split into training and test sets. Upload each as its own ZIP (the training folder as the data, the other "
            "as the validation or test set), with one folder per class inside."
        )
    warnings: list[str] = []
    if top:
        warnings.append(
            f"Left out {plural(len(top), 'image')} that {'is' if len(top) == 1 else 'are'} not in a class folder "
            f"({listed(top)}). Move {'it' if len(top) == 1 else 'them'} into the folder of {'its' if len(top) == 1 else 'their'} "
            "class to use them."
        )
    labels = {n: unicodedata.normalize("NFC", p[depth]) for n, p in split.items() if len(p) > depth + 1}
    holding = {n.split("/")[depth] for n in labels}
    empty = sorted(
        f for f in listing.folders if f.count("/") == depth and f.startswith(prefix) and f.split("/")[-1] not in holding
    )
    if empty:
        warnings.append(f"Ignored {plural(len(empty), 'folder')} with no images in it ({listed(empty)}).")
    return labels, warnings


def _norm_name(value: str) -> str:
    name = unicodedata.normalize("NFC", value.strip()).replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def table_labels(
    listing: Listing, source: str, names: Sequence[str], labels_file: str | Path
) -> tuple[dict[str, str], list[str]]:
    """Class of each image from a table with a file-name column and a label column."""
    df, warnings = read_table(labels_file)
    table = Path(labels_file).name
    by_path = {n: n for n in names}
    by_base: dict[str, list[str]] = {}
    by_stem: dict[str, list[str]] = {}
    for n in names:
        base = n.rsplit("/", 1)[-1]
        by_base.setdefault(base, []).append(n)
        by_stem.setdefault(os.path.splitext(base)[0], []).append(n)

    def match(value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return None
        name = _norm_name(value)
        if name in by_path:
            return name
        base = name.rsplit("/", 1)[-1]
        for candidates in (by_base.get(base), by_stem.get(base) if not suffix(base) else None):
            if candidates and len(candidates) == 1:
                return candidates[0]
        return None

    columns = [str(c) for c in df.columns]
    if len(columns) < 2:
        raise DataError(
            f"'{table}' has {plural(len(columns), 'column')}; TransferLab needs two: the image file name and its "
            "label. Add the missing column."
        )
    hits = {c: sum(match(v) is not None for v in df[c].tolist()) for c in columns}
    file_column = max(columns, key=lambda c: hits[c])
    if hits[file_column] == 0:
        example = names[0] if names else "cat/1.jpg"
        raise DataError(
            f"None of the columns of '{table}' ({listed(columns, 10)}) holds the file names of the images in "
            f"'{source}' (they are named like '{example}'). Put each image's file name, as it is in the ZIP, in one "
            "column and its label in another."
        )
    others = [c for c in columns if c != file_column]
    label_column = _table_label_column(df, others, table)

    labels: dict[str, str] = {}
    missing: list[tuple[int, str]] = []
    no_label: list[tuple[int, str]] = []
    conflicts: list[str] = []
    for row, value, label in zip(df.index, df[file_column].tolist(), df[label_column].tolist(), strict=True):
        if not isinstance(value, str) or not value.strip():
            continue
        name = match(value)
        if name is None:
            missing.append((int(row), value.strip()))
            continue
        if not isinstance(label, str) or not label.strip():
            no_label.append((int(row), name))
            continue
        label = unicodedata.normalize("NFC", label.strip())
        if name in labels and labels[name] != label:
            conflicts.append(name)
            continue
        labels.setdefault(name, label)
    kind = df.index.name or "row"
    if missing:
        shown = ", ".join(f"'{v}' ({kind} {r})" for r, v in missing[:MAX_LISTED])
        more = f" and {len(missing) - MAX_LISTED:,} more" if len(missing) > MAX_LISTED else ""
        raise DataError(
            f"'{table}' names {plural(len(missing), 'file')} that {'is' if len(missing) == 1 else 'are'} not in "
            f"'{source}': {shown}{more}. Check the spelling and the folders (names as in the ZIP, e.g. "
            f"'{names[0]}'), add the missing images, or remove those rows."
        )
    if no_label:
        rows = ", ".join(str(r) for r, _ in no_label[:10]) + (" ..." if len(no_label) > 10 else "")
        warnings.append(
            f"Left out {plural(len(no_label), 'image')} with no label in column '{label_column}' of '{table}' "
            f"({kind}s {rows})."
        )
    if conflicts:
        warnings.append(
            f"{plural(len(conflicts), 'image')} appear in '{table}' with two different labels ({listed(conflicts)}); "
            "the first label was used. Correct the table to be sure."
        )
    unlabeled = {n for _, n in no_label}
    unlisted = [n for n in names if n not in labels and n not in unlabeled]
    if unlisted:
        warnings.append(
            f"Left out {plural(len(unlisted), 'image')} of '{source}' that '{table}' does not list "
            f"({listed(unlisted)})."
        )
    return labels, warnings


def _table_label_column(df: pd.DataFrame, candidates: list[str], table: str) -> str:
    if len(candidates) == 1:
        return candidates[0]
    scores = {c: hint_score(c, LABEL_HINTS) for c in candidates}
    best = max(scores.values())
    if best > 0 and sum(s == best for s in scores.values()) == 1:
        return max(candidates, key=lambda c: scores[c])
    rows = len(df)
    plausible = [c for c in candidates if 2 <= df[c].dropna().nunique() < rows]
    if len(plausible) == 1:
        return plausible[0]
    raise DataError(
        f"Cannot tell which column of '{table}' holds the label: {listed(plausible or candidates, 10)} could each be it. "
        "Name the label column 'label', or remove the other columns."
    )
