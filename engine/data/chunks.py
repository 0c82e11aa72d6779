"""A labeled table read in chunks of rows, never whole: what the one-pass summary and the large-file loader share.

CSV/TSV go through pandas' chunked reader, JSON Lines line by line, Parquet batch by batch; Excel workbooks
and JSON arrays have no streaming reader and come as one chunk (``read_table``). Each chunk is a DataFrame of
strings (None for an empty cell) indexed by the row numbers a user sees, as ``read_table`` gives them.

>>> chunk = next(read_chunks(Path("data/spam_emails.csv"), "CSV", "utf-8-sig", chunk_rows=3))
>>> chunk.index.name, chunk.index.tolist(), list(chunk.columns)
('row', [2, 3, 4], ['text', 'label'])
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from engine.core.errors import DataError
from engine.core.formats import SUPPORTED_TABLES, TABLE_FORMATS
from engine.data.cells import cell, records_frame
from engine.data.columns import guess_columns
from engine.data.tables import ENCODINGS, csv_error_message, delimiter, extra_values_error, jsonl_record, read_table

CHUNK_ROWS = 50_000
STREAMED_FORMATS = ("CSV", "TSV", "JSONL", "Parquet")  # the others are read whole


def read_chunks(path: Path, fmt: str, encoding: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The file as DataFrames of strings (None for an empty cell), indexed by the row numbers a user sees.

    A file that is not in ``encoding`` raises ``UnicodeDecodeError`` (the caller tries the next one).
    """
    if fmt in ("CSV", "TSV"):
        with path.open(encoding=encoding, newline="") as f:
            header = f.readline()
        sep, kind = delimiter(header, path.suffix.lower())
        try:
            reader = pd.read_csv(
                path,
                sep=sep,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                skip_blank_lines=False,
                encoding=encoding,
                chunksize=chunk_rows,
            )
            for chunk in reader:
                if not isinstance(chunk.index, pd.RangeIndex):
                    raise extra_values_error(path.name, kind, sep)
                chunk.index = pd.RangeIndex(chunk.index.start + 2, chunk.index.stop + 2, name="row")
                yield chunk
        except pd.errors.ParserError as err:
            raise DataError(csv_error_message(str(err), path.name, kind, sep)) from None
        except pd.errors.EmptyDataError:
            raise DataError(f"'{path.name}' is empty. Choose the file that holds your data.") from None
    elif fmt == "JSONL":
        records, lines = [], []
        with path.open(encoding=encoding) as f:
            for number, line in enumerate(f, start=1):
                if line.strip():
                    records.append(jsonl_record(line, number, path.name))
                    lines.append(number)
                if len(records) == chunk_rows:
                    yield records_frame(records, lines, "line")
                    records, lines = [], []
        if records:
            yield records_frame(records, lines, "line")
    elif fmt == "Parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            start = 1
            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
                columns = {
                    str(n): [cell(v) for v in batch.column(i).to_pylist()] for i, n in enumerate(batch.schema.names)
                }
                yield pd.DataFrame(columns, index=pd.RangeIndex(start, start + batch.num_rows, name="record"))
                start += batch.num_rows
        except (pa.ArrowException, OSError):
            raise DataError(
                f"'{path.name}' is unreadable: it is not a Parquet file, or it is damaged. "
                f"Export it again, or save your data as {SUPPORTED_TABLES}."
            ) from None
    else:  # Excel, JSON arrays: read whole
        df, _ = read_table(path)
        yield df


def cleaned(values: pd.Series | None, n: int) -> list[str | None]:
    """A column's cells stripped of surrounding spaces, None for an empty one (``n`` of them when it is missing)."""
    if values is None:
        return [None] * n
    return [v.strip() or None if isinstance(v, str) else None for v in values.tolist()]


def first_rows(path: str | Path, rows: int) -> pd.DataFrame:
    """The first ``rows`` rows of a labeled table (a preview of a file too large to read whole), read as training
    reads them: encodings tried in turn, rows where every cell is empty left out."""
    path = Path(path)
    fmt = TABLE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        read_table(path)  # its message: not a format TransferLab reads
    for encoding in ENCODINGS:
        try:
            for chunk in read_chunks(path, fmt, encoding, max(rows, 1)):
                chunk = chunk[chunk.notna().any(axis=1)]
                if len(chunk):
                    return chunk.head(rows)
            raise DataError(f"'{path.name}' holds no data. Choose the file that holds your data.")
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def first_chunk_columns(
    chunk: pd.DataFrame, text_column: str | None, label_column: str | None, source: str
) -> tuple[tuple[str, str], str]:
    """The text and label columns of a file read in chunks, from its first non-empty chunk (its columns renamed
    to strings, in place; empty "Unnamed: N" columns left out of the guess), and what its rows are called."""
    chunk.columns = [str(c) for c in chunk.columns]
    unnamed = [c for c in chunk.columns if c.startswith("Unnamed: ") and chunk[c].isna().all()]
    return guess_columns(chunk.drop(columns=unnamed), text_column, label_column, source), chunk.index.name or "row"
