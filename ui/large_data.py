"""The Data page's reading of a labeled table too large to read whole (``engine.data.large.is_large``): its
first rows to look at, and the counts training will see from one pass over the file (``engine.data.summary``),
never the rows themselves. Uploads are limited to ``MAX_FILE_BYTES``; larger files are given as a path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd

from engine.core.errors import DataError
from engine.core.formats import MAX_FILE_BYTES, SUPPORTED_TABLES, TABLE_FORMATS
from engine.data import chunks, summary
from ui.memo import memo

PREVIEW_ROWS = 50


# Keyed by the file's modification time too: a path on this machine, unlike an upload, can change.
@memo("Reading the first rows…")
def first_rows(path: str, mtime: float) -> pd.DataFrame:
    return chunks.first_rows(path, PREVIEW_ROWS)


@memo("Counting every row once, without holding the file (about 15 seconds a million rows)…")
def summarize(path: str, mtime: float, text_column: str, label_column: str) -> dict[str, Any]:
    return summary.summarize(path, text_column, label_column)


def typed_path(text: str) -> Path:
    """The path in what a user typed or pasted, as a file manager or a shell copies it: in quotes, or as a
    file:// address. The shared dashboard's folder rule (``ui.gate``) reads it the same way.

    >>> typed_path("'/data/my reviews.csv'") == typed_path("file:///data/my%20reviews.csv") == Path("/data/my reviews.csv")
    True
    """
    text = text.strip().strip("\"'")
    if text.startswith("file://"):
        text = unquote(urlparse(text).path)
    return Path(text).expanduser()


def checked_path(text: str) -> str:
    """The absolute path of a labeled table on this machine (typed as :func:`typed_path` reads it), or a
    :class:`DataError` that says what is wrong.

    >>> checked_path("data/spam_emails.csv").endswith("/data/spam_emails.csv")
    True
    """
    path = typed_path(text)
    if not text.strip().strip("\"'"):
        raise DataError("Type the path of a file on this computer, e.g. /data/reviews.csv.")
    if not path.exists():
        raise DataError(f"There is no file '{path}' on this computer. Check the folder and the name.")
    if not path.is_file():
        raise DataError(f"'{path}' is a folder. Type the path of the data file inside it.")
    if path.suffix.lower() not in TABLE_FORMATS:
        raise DataError(f"'{path.name}' is not a table TransferLab reads. Give {SUPPORTED_TABLES}.")
    return str(path.resolve())


def page_summary(s: dict[str, Any]) -> dict[str, Any]:
    """The one-pass summary in the keys the other pages read from the Data page (``engine.data.text.describe``'s)."""
    chars = s["text_characters"]
    return {
        "source": s["file"],
        "rows": s["examples"],
        "classes": list(s["classes"]),
        "class_counts": dict(s["classes"]),
        "text_column": s["text_column"],
        "label_column": s["label_column"],
        "text_length": {key: chars[key] for key in ("min", "median", "p95", "max")},
        "dropped_empty_text": s["dropped"]["empty_text"],
        "dropped_missing_label": s["dropped"]["missing_label"],
        "duplicates_removed": s["dropped"]["duplicates"],
        "warnings": list(s["problems"]),
    }


UPLOAD_LIMIT_NOTE = (
    f"Uploads are limited to {MAX_FILE_BYTES // 1024**2} MB. A larger file (millions of rows) can be given by its "
    "path on this computer: it is counted in one pass and trained on without being read into memory."
)
