"""Labeled texts larger than memory: read in one pass into a memory-mapped Arrow file, never whole.

A file over ``LARGE_TABLE_BYTES`` (``engine.core.formats``) in a format with a streaming reader (CSV, TSV,
JSON Lines, Parquet) is read chunk by chunk (``engine.data.chunks``); the texts that have a label go to an
Arrow file on disk, which is then memory-mapped, and what stays in memory is, per example, its label, its
position in that file and its row number (24 bytes), plus two 8-byte hashes of its text while duplicates
are found. The result is a :class:`~engine.data.text.TextDataset` like the whole-file loader's, with the
same checks and the same sentences (``engine.data.text``: empty rows, missing labels, duplicates,
conflicting labels, encodings), whose ``texts`` is an :class:`ArrowTexts`: a sequence that reads a batch of
texts at a time, and whose subsets (the splits) are new views on the same file, not copies.

>>> data = load_large_text_dataset("data/spam_emails.csv")
>>> len(data), data.label_names, type(data.texts).__name__, data.texts[0][:25]
(5882, ['ham', 'spam'], 'ArrowTexts', 'Re: [ILUG] Alan Cox doesn')
>>> data.subset([0, 1]).texts.take([1])[0] == data.texts[1]
True
"""

from __future__ import annotations

import atexit
import logging
import mmap
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from itertools import compress
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from engine.core.errors import DataError
from engine.core.formats import TABLE_FORMATS, large_table_bytes
from engine.core.workspace import cache_dir
from engine.data.chunks import CHUNK_ROWS, STREAMED_FORMATS, cleaned, first_chunk_columns, read_chunks
from engine.data.columns import looks_like_free_text
from engine.data.dataset import imbalance_warning, sort_label_names
from engine.data.tables import (
    ENCODINGS,
    UTF16_MARKS,
    binary_error,
    encoding_note,
    is_text_lines,
    read_table,
)
from engine.data.text import (
    TextDataset,
    case_variant_notes,
    conflicts_note,
    duplicates_note,
    empty_text_note,
    free_text_label_error,
    load_text_dataset,
    missing_label_note,
    no_examples_error,
    one_class_error,
    unknown_label_error,
    where,
)

READ_BATCH = 10_000  # texts read from the Arrow file at a time
_LISTED_ROWS = 10  # row numbers kept for the messages (``where`` lists ten)
_HEAD_BYTES = 1 << 20  # the start of a text file, checked for binary data
# Two 64-bit hashes of a text (pandas' SipHash with two keys): 128 bits, so two different texts of a few
# million share both by chance with a probability of about 1e-26.
_HASH_KEYS = ("transferlab-tx-1", "transferlab-tx-2")

log = logging.getLogger(__name__)


def is_large(path: str | Path) -> bool:
    """True for a file the training loader reads through Arrow: over ``LARGE_TABLE_BYTES`` (``engine.core.formats``;
    the environment can lower it), in a format with a streaming reader (an Excel workbook or a JSON array is read whole, up to the upload limit).

    >>> is_large("data/spam_emails.csv"), is_large("no-such-file.csv")
    (False, False)
    """
    path = Path(path)
    return (
        TABLE_FORMATS.get(path.suffix.lower()) in STREAMED_FORMATS
        and path.is_file()
        and path.stat().st_size > large_table_bytes()
    )


def load_for_config(config, path: str | Path | None = None, label_names: list[str] | None = None) -> TextDataset:
    """The run's training file (``path=None``), or a validation/test file with the training classes: read whole
    (``engine.data.text.load_text_dataset``), or through Arrow when it :func:`is_large`."""
    path = path or config.data
    load = load_large_text_dataset if is_large(path) else load_text_dataset
    return load(path, config.text_column, config.label_column, label_names=label_names)


class ArrowTexts(Sequence):
    """Texts in a memory-mapped Arrow column, at ``positions``: read a batch at a time, never all at once.

    ``texts[i]`` is one text, ``texts[a:b]`` a list, iterating reads ``READ_BATCH`` texts at a time, and
    :meth:`take` gives another view on the same file. (Arrow's own ``take`` on a column of many chunks joins
    them into one array first, which would copy the whole file into memory; this reads chunk by chunk.)
    """

    def __init__(
        self, column: pa.ChunkedArray, positions: np.ndarray | None = None, mapping: MappedFile | None = None
    ) -> None:
        self.column, self.mapping = column, mapping
        self.positions = np.arange(len(column), dtype=_index_type(len(column))) if positions is None else positions
        self._starts = np.cumsum([0, *(len(c) for c in column.chunks)], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return self.read(self.positions[i])
        p = int(self.positions[i])
        c = int(np.searchsorted(self._starts, p, side="right")) - 1
        return self.column.chunk(c)[p - int(self._starts[c])].as_py()

    def __iter__(self) -> Iterator[str]:
        for batch in self.batches():
            yield from batch

    def __repr__(self) -> str:
        return f"ArrowTexts({len(self):,} texts)"

    def take(self, indices: Sequence[int] | np.ndarray) -> ArrowTexts:
        """The texts at ``indices`` (of this sequence), as a view."""
        view = ArrowTexts.__new__(ArrowTexts)
        view.column, view._starts, view.mapping = self.column, self._starts, self.mapping
        view.positions = self.positions[np.asarray(indices, dtype=np.int64)]
        return view

    def batches(self, size: int = READ_BATCH) -> Iterator[list[str]]:
        for start in range(0, len(self), size):
            yield self.read(self.positions[start : start + size])

    def read(self, positions: np.ndarray) -> list[str]:
        """The texts at ``positions`` in the file, in that order."""
        return self._gather(positions, lambda part: part.to_pylist(), [None] * len(positions))

    def char_lengths(self) -> np.ndarray:
        """Each text's length in characters, as ``len(text)`` counts them, without making the strings."""
        import pyarrow.compute as pc

        lengths = np.zeros(len(self), dtype=np.int64)
        for start in range(0, len(self), READ_BATCH):
            chunk = self.positions[start : start + READ_BATCH]
            lengths[start : start + len(chunk)] = self._gather(
                chunk, lambda part: pc.utf8_length(part).to_numpy(), np.zeros(len(chunk), dtype=np.int64)
            )
        return lengths

    def _gather(self, positions: np.ndarray, convert, out):
        positions = np.asarray(positions, dtype=np.int64)
        owner = np.searchsorted(self._starts, positions, side="right") - 1
        for c in np.unique(owner):
            picked = np.flatnonzero(owner == c)
            chunk = self.column.chunk(int(c))
            values = convert(chunk.take(pa.array(positions[picked] - self._starts[c])))
            if self.mapping is not None:
                # Texts are read in any order: the kernel maps whole runs of pages around each one read, which
                # would make the file resident within a batch. Its pages are given back chunk by chunk.
                self.mapping.drop_pages(chunk)
            if isinstance(out, list):
                for j, v in zip(picked.tolist(), values, strict=True):
                    out[j] = v
            else:
                out[picked] = values
        return out


class ArrowTextDataset(TextDataset):
    """A :class:`TextDataset` whose texts stay in a memory-mapped Arrow file (``texts`` an :class:`ArrowTexts`,
    ``labels`` and ``rows`` numpy arrays); its subsets are views on the same file."""

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(np.asarray(self.labels, dtype=np.int64), minlength=len(self.label_names))
        return {name: int(counts[i]) for i, name in enumerate(self.label_names)}

    def subset(self, indices: Sequence[int] | np.ndarray) -> ArrowTextDataset:
        indices = np.asarray(indices, dtype=np.int64)
        return replace(
            self,
            texts=self.texts.take(indices),
            labels=self.labels[indices],
            rows=self.rows[indices],
            label_names=list(self.label_names),
            warnings=list(self.warnings),
        )


def load_large_text_dataset(
    path: str | Path,
    text_column: str | None = None,
    label_column: str | None = None,
    label_names: list[str] | None = None,
) -> ArrowTextDataset:
    """What :func:`engine.data.text.load_text_dataset` makes of a file, with the texts in Arrow on disk.

    Same arguments, checks, warnings (word for word, in the same order) and examples in the same order.
    """
    path = Path(path)
    fmt = TABLE_FORMATS.get(path.suffix.lower())
    if fmt not in STREAMED_FORMATS or not path.is_file() or is_text_lines(path):
        read_table(path)  # the whole-file reader's own message: unknown format, missing file, a .txt of texts
        raise DataError(f"'{path.name}' cannot be read in chunks; save it as CSV, JSON Lines or Parquet.")
    encodings: tuple[str, ...] = ENCODINGS
    if fmt != "Parquet":
        with path.open("rb") as f:
            head = f.read(_HEAD_BYTES)
        if head.startswith(UTF16_MARKS):
            encodings = ("utf-16",)
        elif b"\x00" in head:
            raise binary_error(path.name, fmt, head)
    log.info("%s is read in one pass into a memory-mapped Arrow file (a large file: never held whole)", path.name)
    for encoding in encodings:
        try:
            data = _load(path, fmt, encoding, text_column, label_column, label_names)
        except UnicodeDecodeError:
            continue
        if encoding not in (ENCODINGS[0], "utf-16") and fmt != "Parquet":
            data.warnings.insert(0, encoding_note(path.name, encoding))
        return data
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


class _Pass:
    """What one pass over the file keeps: the kept texts on disk, and per kept row two hashes, a label
    number (in order of first appearance) and the row number."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.schema = pa.schema([("text", pa.large_string())])
        self.writer = pa.ipc.new_file(str(path), self.schema)
        self.hashes: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        self.labels: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []
        self.label_ids: dict[str, int] = {}
        self.empty: list[int] = []
        self.missing: list[int] = []
        self.n_empty = self.n_missing = 0

    def add(self, texts: list[str | None], labels: list[str | None], rows: np.ndarray) -> None:
        no_text = np.fromiter((t is None for t in texts), dtype=bool, count=len(texts))
        no_label = np.fromiter((y is None for y in labels), dtype=bool, count=len(labels)) & ~no_text
        for flags, listed, attr in ((no_text, self.empty, "n_empty"), (no_label, self.missing, "n_missing")):
            listed.extend(rows[flags][: _LISTED_ROWS - len(listed)].tolist())
            setattr(self, attr, getattr(self, attr) + int(flags.sum()))
        keep = ~(no_text | no_label)
        kept = list(compress(texts, keep))
        if not kept:
            return
        values = np.asarray(kept, dtype=object)
        for parts, key in zip(self.hashes, _HASH_KEYS, strict=True):
            parts.append(pd.util.hash_array(values, hash_key=key, categorize=False))
        ids = self.label_ids
        self.labels.append(np.fromiter((ids.setdefault(y, len(ids)) for y in compress(labels, keep)), dtype=np.int32))
        self.rows.append(rows[keep].astype(_index_type(int(rows[-1]) + 1)))
        self.writer.write_batch(pa.record_batch([pa.array(kept, type=pa.large_string())], schema=self.schema))

    def finish(self) -> tuple[pa.ChunkedArray, MappedFile]:
        """The kept texts, memory-mapped (the file itself is removed: the mapping holds it until released)."""
        self.writer.close()
        mapped = MappedFile(self.path)
        remove_file(self.path)
        return mapped.table.column("text"), mapped


class MappedFile:
    """An Arrow file memory-mapped read-only, its table's arrays pointing into the mapping (no copy).

    Pages of a mapped file that were read count in the process's resident memory until the kernel needs them
    back; :meth:`drop_pages` gives them back at once after a pass over the file (they are read again from
    the file, or the page cache, when next needed)."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as f:
            self.mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self.whole = pa.py_buffer(self.mapping)
        self.table = pa.ipc.open_file(pa.BufferReader(self.whole)).read_all()

    def drop_pages(self, array: pa.Array | None = None) -> None:
        """Give back the pages of ``array`` (one that lies in the mapping), or of the whole file."""
        if not hasattr(mmap, "MADV_DONTNEED"):  # only Linux and macOS have it
            return
        if array is None:
            self.mapping.madvise(mmap.MADV_DONTNEED)
            return
        for buffer in array.buffers():
            offset = buffer.address - self.whole.address if buffer is not None else -1
            if 0 <= offset < self.whole.size and buffer.size:
                start = offset - offset % mmap.PAGESIZE
                self.mapping.madvise(mmap.MADV_DONTNEED, start, min(offset + buffer.size, self.whole.size) - start)


def remove_file(path: Path) -> None:
    """Remove a file this process has memory-mapped: the mapping keeps its pages until it is let go."""
    try:
        path.unlink()
    except OSError:  # a system that cannot remove an open file: remove it when the process ends
        atexit.register(path.unlink, missing_ok=True)


def arrow_file(kind: str) -> Path:
    """A new file name for an Arrow file of this process under the workspace cache (``kind``: texts, tokens)."""
    return cache_dir("arrow") / f"{kind}-{os.getpid()}-{uuid.uuid4().hex[:12]}.arrow"


def _load(path, fmt, encoding, text_column, label_column, label_names) -> ArrowTextDataset:
    state = _Pass(arrow_file("texts"))
    try:
        columns, kind = None, "row"
        for chunk in read_chunks(path, fmt, encoding, CHUNK_ROWS):
            chunk = chunk[chunk.notna().any(axis=1)]
            if columns is None:
                if not len(chunk):
                    continue
                columns, kind = first_chunk_columns(chunk, text_column, label_column, path.name)
            n = len(chunk)
            rows = chunk.index.to_numpy(dtype=np.int64)
            state.add(cleaned(chunk.get(columns[0]), n), cleaned(chunk.get(columns[1]), n), rows)
        if columns is None:
            raise DataError(f"'{path.name}' holds no data. Choose the file that holds your data.")
        column, mapped = state.finish()
    except BaseException:
        state.writer.close()
        state.path.unlink(missing_ok=True)
        raise
    return _dataset(path.name, columns, kind, state, column, mapped, label_names)


def _index_type(n: int) -> type:
    return np.int32 if n < 2**31 else np.int64


def _joined(parts: list[np.ndarray], dtype) -> np.ndarray:
    joined = np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
    parts.clear()
    return joined


def _dataset(source, columns, kind, state: _Pass, column, mapped, label_names) -> ArrowTextDataset:
    text_column, label_column = columns
    warnings: list[str] = []
    if state.n_empty:
        warnings.append(empty_text_note(state.n_empty, text_column, where(state.empty, kind, state.n_empty)))
    if state.n_missing:
        warnings.append(missing_label_note(state.n_missing, label_column, where(state.missing, kind, state.n_missing)))
    h1, h2 = (_joined(parts, np.uint64) for parts in state.hashes)
    labels, rows = _joined(state.labels, np.int32), _joined(state.rows, np.int32)
    if not len(labels):
        raise no_examples_error(source, text_column, label_column)
    seen = list(state.label_ids)  # label names in order of first appearance (their numbers)
    if looks_like_free_text(len(seen), len(labels)):
        raise free_text_label_error(label_column, len(seen), source)
    if label_names is not None:
        allowed = set(label_names)
        known = np.array([name in allowed for name in seen])
        unknown = np.flatnonzero(~known[labels])
        if len(unknown):
            first = unknown[0]
            raise unknown_label_error(source, kind, int(rows[first]), seen[labels[first]], len(unknown), label_names)
        names = list(label_names)
    else:
        names = sort_label_names(seen)
        if len(names) < 2:
            raise one_class_error(names[0], label_column, source)

    # Exact duplicates (same text and label): sorted by (text, label) and, the sort being stable, by row; the
    # first of each run is kept. One sorted copy at a time, each let go once compared.
    order = np.lexsort((labels, h2, h1))
    same_text = np.zeros(len(order), dtype=bool)
    same_text[1:] = True
    for h in (h1, h2):
        ordered = h[order]
        same_text[1:] &= ordered[1:] == ordered[:-1]
        del ordered
    del h1, h2, h
    ordered = labels[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = ~(same_text[1:] & (ordered[1:] == ordered[:-1]))
    del ordered
    duplicates = np.sort(rows[order[~first]])
    if len(duplicates):
        warnings.append(
            duplicates_note(len(duplicates), where(duplicates[:_LISTED_ROWS].tolist(), kind, len(duplicates)))
        )
    # The same text with different labels: runs of one text among the kept (text, label) pairs.
    unique = order[first]
    text_start = ~same_text[first]
    group = np.cumsum(text_start) - 1
    sizes = np.bincount(group)
    clashing = sizes[group] > 1
    if clashing.any():
        candidates = np.flatnonzero(clashing)
        target = group[candidates[np.argmin(rows[unique[candidates]])]]  # the text whose first row comes first
        example = np.sort(rows[unique[group == target]])
        warnings.append(conflicts_note(int((sizes > 1).sum()), example.tolist(), kind))
    warnings.extend(case_variant_notes(seen))

    # Per example: a position in the file, a label and a row number, 4 bytes each while they fit.
    keep = np.sort(unique).astype(_index_type(len(labels)))
    index = {name: i for i, name in enumerate(names)}
    remap = np.array([index[name] for name in seen], dtype=np.int32)
    data = ArrowTextDataset(
        texts=ArrowTexts(column, keep, mapped),
        labels=remap[labels[keep]],
        label_names=names,
        source=source,
        text_column=text_column,
        label_column=label_column,
        warnings=warnings,
        dropped_empty_text=state.n_empty,
        dropped_missing_label=state.n_missing,
        duplicates_removed=len(duplicates),
        rows=rows[keep],
        row_kind=kind,
    )
    imbalance = imbalance_warning(data.class_counts(), unit="example")
    if imbalance:
        warnings.append(imbalance)
    return data
