"""A labeled text file summarised in one pass, without holding its rows: ``python -m engine.data FILE``.

A user with a file of millions of rows wants to know before uploading it what TransferLab will make of
it: which columns hold the text and the label, how many examples of each class, how long the texts are,
and what will be dropped or needs a look. :func:`summarize` reads the file in chunks of
:data:`CHUNK_ROWS` rows (CSV/TSV through pandas' chunked reader, JSON Lines line by line, Parquet batch by
batch), guesses the columns from the first chunk as training does, and keeps only counts: per class, per
text length, and an 8-byte hash with a label number per row for the duplicates (24 MB for 3 million
rows). The counts are the ones training would see: rows without a text or a label dropped, exact
duplicates removed (``engine.data.text`` says the same in the same words). Excel workbooks and JSON
arrays have no streaming reader and are read whole.

>>> s = summarize("data/spam_emails.csv")
>>> s["text_column"], s["label_column"], s["examples"], s["classes"]
('text', 'label', 5882, {'ham': 4108, 'spam': 1774})
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.errors import DataError
from engine.core.formats import SUPPORTED_TABLES, TABLE_FORMATS
from engine.data.chunks import CHUNK_ROWS, cleaned, first_chunk_columns, read_chunks
from engine.data.columns import looks_like_free_text
from engine.data.dataset import imbalance_warning, sort_label_names
from engine.data.tables import ENCODING_NAMES, ENCODINGS, is_text_lines, read_table
from engine.data.text import (
    case_variant_notes,
    conflicts_note,
    duplicates_note,
    empty_text_note,
    free_text_label_error,
    missing_label_note,
    no_examples_error,
    one_class_error,
    where,
)

_FIRST_ROWS = 10  # row numbers kept for the messages


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def _quantiles(lengths: Counter, points: tuple[float, ...]) -> list[int]:
    """Exact quantiles of a distribution held as {length: count}."""
    keys = sorted(lengths)
    counts = np.cumsum([lengths[k] for k in keys])
    return [int(keys[int(np.searchsorted(counts, q * counts[-1]))]) for q in points]


def summarize(path: str | Path, text_column: str | None = None, label_column: str | None = None) -> dict[str, Any]:
    """What training would make of a labeled file, counted in one pass (see the module's docstring)."""
    started = time.perf_counter()
    path = Path(path)
    fmt = TABLE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"'{path.name}' is not a format TransferLab can read. Save it as {SUPPORTED_TABLES}.")
    if not path.is_file():
        raise DataError(f"The file '{path}' does not exist (or is a folder). Check the name and the folder.")
    if is_text_lines(path):
        read_table(path)  # refuses a .txt of texts without labels, in words
    for encoding in ENCODINGS:
        try:
            summary = _one_pass(path, fmt, encoding, text_column, label_column)
        except UnicodeDecodeError:
            continue
        if encoding != ENCODINGS[0] and fmt in ("CSV", "TSV", "JSONL"):
            summary["problems"].insert(
                0,
                f"'{path.name}' is not UTF-8; it was read as {ENCODING_NAMES[encoding]}. Save it as UTF-8 to be sure.",
            )
        summary["seconds"] = round(time.perf_counter() - started, 2)
        return summary
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def _one_pass(path: Path, fmt: str, encoding: str, text_column: str | None, label_column: str | None) -> dict:
    columns: tuple[str, str] | None = None
    kind = "row"
    rows = 0
    empty_text: list[int] = []
    missing_label: list[int] = []
    n_empty = n_missing = 0
    chars: Counter = Counter()
    words: Counter = Counter()
    label_ids: dict[str, int] = {}
    hashes, labels, numbers = [], [], []
    for chunk in read_chunks(path, fmt, encoding, CHUNK_ROWS):
        chunk = chunk[chunk.notna().any(axis=1)]
        if columns is None:
            if not len(chunk):
                continue
            columns, kind = first_chunk_columns(chunk, text_column, label_column, path.name)
        texts = cleaned(chunk.get(columns[0]), len(chunk))
        names = cleaned(chunk.get(columns[1]), len(chunk))
        index = chunk.index.tolist()
        rows += len(chunk)
        kept_hashes, kept_labels, kept_rows = [], [], []
        for r, t, y in zip(index, texts, names, strict=True):
            if t is None:
                n_empty += 1
                if len(empty_text) < _FIRST_ROWS:
                    empty_text.append(int(r))
            elif y is None:
                n_missing += 1
                if len(missing_label) < _FIRST_ROWS:
                    missing_label.append(int(r))
            else:
                chars[len(t)] += 1
                words[len(t.split())] += 1
                kept_hashes.append(_hash(t))
                kept_labels.append(label_ids.setdefault(y, len(label_ids)))
                kept_rows.append(int(r))
        hashes.append(np.array(kept_hashes, dtype=np.uint64))
        labels.append(np.array(kept_labels, dtype=np.int32))
        numbers.append(np.array(kept_rows, dtype=np.uint32))
    if columns is None:
        raise DataError(f"'{path.name}' holds no data rows. Choose the file that holds your data.")
    return _summary(
        path,
        fmt,
        columns,
        kind,
        rows,
        (n_empty, empty_text),
        (n_missing, missing_label),
        chars,
        words,
        label_ids,
        *(_joined(parts) for parts in (hashes, labels, numbers)),
    )


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """One array from a pass's chunks, the chunks let go as soon as they are copied."""
    joined = np.concatenate(parts)
    parts.clear()
    return joined


def _summary(path, fmt, columns, kind, rows, empty, missing, chars, words, label_ids, hashes, labels, numbers) -> dict:
    text_column, label_column = columns
    if not len(hashes):
        raise no_examples_error(path.name, text_column, label_column)
    if looks_like_free_text(len(label_ids), len(hashes)):
        raise free_text_label_error(label_column, len(label_ids), path.name)
    names = {i: n for n, i in label_ids.items()}
    if len(names) < 2:
        raise one_class_error(names[0], label_column, path.name)

    # Exact duplicates (same text and label): sorted by (hash, label, row), the first of each pair is kept.
    # About 32 bytes a row at the peak: the three arrays (16) and the sort order (8) with one array gathered.
    order = np.lexsort((numbers, labels, hashes))
    h = hashes[order]
    del hashes
    y = labels[order]
    del labels
    r = numbers[order]
    del numbers, order
    first = np.ones(len(h), dtype=bool)
    first[1:] = (h[1:] != h[:-1]) | (y[1:] != y[:-1])
    duplicates = np.sort(r[~first])
    h, y, r = h[first], y[first], r[first]
    # The same text with different labels: a hash seen twice among the kept pairs.
    clash = np.zeros(len(h), dtype=bool)
    clash[1:] = h[1:] == h[:-1]
    clash[:-1] |= clash[1:]
    conflicting = np.unique(h[clash])
    counts = {names[i]: int(c) for i, c in enumerate(np.bincount(y, minlength=len(names)))}
    ordered = {n: counts[n] for n in sort_label_names(list(counts))}

    problems = []
    if empty[0]:
        problems.append(empty_text_note(empty[0], text_column, where(empty[1], kind, empty[0])))
    if missing[0]:
        problems.append(missing_label_note(missing[0], label_column, where(missing[1], kind, missing[0])))
    if len(duplicates):
        problems.append(
            duplicates_note(len(duplicates), where(duplicates[:_FIRST_ROWS].tolist(), kind, len(duplicates)))
        )
    if len(conflicting):
        example = h[clash][np.argmin(r[clash])]  # the text whose first row comes first, as the loaders name it
        problems.append(conflicts_note(len(conflicting), sorted(r[h == example].tolist()), kind))
    problems.extend(case_variant_notes(ordered))
    imbalance = imbalance_warning(ordered, unit="example")
    if imbalance:
        problems.append(imbalance)
    c_q = _quantiles(chars, (0.0, 0.5, 0.9, 0.99, 1.0, 0.95))
    w_q = _quantiles(words, (0.5, 0.9, 1.0))
    return {
        "file": path.name,
        "format": fmt,
        "bytes": path.stat().st_size,
        "text_column": text_column,
        "label_column": label_column,
        "rows": rows,
        "examples": len(h),
        "classes": ordered,
        "dropped": {"empty_text": empty[0], "missing_label": missing[0], "duplicates": len(duplicates)},
        "conflicting_texts": len(conflicting),
        "text_characters": {
            "min": c_q[0],
            "median": c_q[1],
            "p90": c_q[2],
            "p95": c_q[5],
            "p99": c_q[3],
            "max": c_q[4],
            "mean": round(sum(k * v for k, v in chars.items()) / sum(chars.values()), 1),
        },
        "text_words": {"median": w_q[0], "p90": w_q[1], "max": w_q[2]},
        "problems": problems,
    }


def summary_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, ensure_ascii=False)
