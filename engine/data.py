"""Loading and validating a user's labeled text data.

The people who upload files are not engineers, so every problem raises one
:class:`~engine.errors.DataError` whose message says what is wrong, where (file, column, the
row number a spreadsheet would show) and what to do. The user's file is only ever read.

>>> data = load_text_dataset("data/spam_emails.csv")
>>> data.label_names, len(data)
(['ham', 'spam'], 5882)
>>> splits = make_splits(data, seed=0)

No torch here: pages import this module to preview uploads.
"""

from __future__ import annotations

import difflib
import io
import json
import math
import re
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from engine.errors import ConfigError, DataError

MAX_FILE_BYTES = 200 * 1024 * 1024

_FORMATS = {
    ".csv": "CSV",
    ".tsv": "TSV",
    ".txt": "TSV",
    ".json": "JSON",
    ".jsonl": "JSONL",
    ".ndjson": "JSONL",
    ".parquet": "Parquet",
    ".pq": "Parquet",
    ".xlsx": "Excel",
    ".xls": "Excel",
}
_SUPPORTED = "CSV (.csv), TSV (.tsv, .txt), JSON (.json), JSON Lines (.jsonl, .ndjson), Parquet (.parquet, .pq) or Excel (.xlsx, .xls)"
_ENCODING_NAMES = {"cp1252": "Windows-1252", "latin-1": "Latin-1"}

# How read_table's index counts rows, so messages can say "row 5" or "line 5" the way the
# user would find it: CSV/Excel rows count the header as row 1, JSONL counts file lines,
# JSON arrays and Parquet count records from 1.
_ROW_KINDS = ("row", "line", "record")

_TEXT_HINTS = {
    "text",
    "sentence",
    "content",
    "review",
    "message",
    "body",
    "document",
    "comment",
    "note",
    "email",
}
_LABEL_HINTS = {
    "label",
    "class",
    "category",
    "target",
    "y",
    "sentiment",
    "tag",
    "intent",
}
_PLURALS = {"categories": "category", "classes": "class", "bodies": "body"}
_HINT_WORDS = _TEXT_HINTS | _LABEL_HINTS
_MAX_LISTED_ROWS = 10
# Two text columns whose mean lengths are within 25% are equally plausible.
_SIMILAR_LENGTH = 0.75


# --------------------------------------------------------------------------- reading


def read_table(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """Read CSV, TSV, JSON, JSONL, Parquet or Excel into a DataFrame of strings.

    Returns ``(df, warnings)``. Every cell is a string or missing (an empty cell), so a label
    ``007`` stays ``"007"`` and an Excel number ``1.0`` becomes ``"1"``. The index holds the
    row number the user would look for (``df.index.name`` is ``"row"``, ``"line"`` or
    ``"record"``): for CSV and Excel the header is row 1 and the first data row is row 2.
    Rows where every cell is empty are left out.
    """
    path = Path(path)
    name = path.name
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"'{name}' is not a format TransferLab can read. Save it as {_SUPPORTED}; "
            "from a spreadsheet program, 'Save as CSV' or keep it as .xlsx."
        )
    if not path.exists():
        raise DataError(f"The file '{path}' does not exist. Check the name and the folder, then try again.")
    if path.is_dir():
        raise DataError(f"'{path}' is a folder, not a file. Choose the data file inside it.")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise DataError(
            f"'{name}' is {size / 1024**2:.0f} MB; TransferLab reads files up to "
            f"{MAX_FILE_BYTES // 1024**2} MB. Use a sample of the rows, or split the file into smaller ones."
        )
    if size == 0:
        raise DataError(f"'{name}' is empty (0 bytes). Choose the file that holds your data.")

    warnings: list[str] = []
    if fmt == "Parquet":
        df = _read_parquet(path)
    elif fmt == "Excel":
        df = _read_excel(path, warnings)
    else:
        text = _decode(path, fmt, warnings)
        if fmt == "JSON":
            df = _read_json(text, name)
        elif fmt == "JSONL":
            df = _read_jsonl(text, name)
        else:
            df = _read_delimited(text, name, path.suffix.lower())

    df.columns = [str(c) for c in df.columns]
    # Columns with no header and no values are what a trailing comma or a formatted but empty
    # spreadsheet column leaves behind; they are not the user's data.
    unnamed_empty = [c for c in df.columns if c.startswith("Unnamed: ") and df[c].isna().all()]
    df = df.drop(columns=unnamed_empty)
    df = df[df.notna().any(axis=1)]
    if len(df.columns) and len(df) == 0:
        columns = ", ".join(f"'{c}'" for c in df.columns)
        raise DataError(f"'{name}' has a header ({columns}) but no data rows. Add rows below the header.")
    if len(df) == 0:
        raise DataError(f"'{name}' holds no data. Choose the file that holds your data.")
    return df, warnings


def _decode(path: Path, fmt: str, warnings: list[str]) -> str:
    raw = path.read_bytes()
    name = path.name
    if not raw.strip():
        raise DataError(f"'{name}' is empty (it holds only blank lines). Choose the file that holds your data.")
    # Excel's "Unicode text" export is UTF-16 with a byte-order mark; it has NUL bytes but is text.
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    if b"\x00" in raw:
        hint = ""
        if raw.startswith(b"PK\x03\x04"):
            hint = " It looks like an Excel workbook: rename it to end in .xlsx, or save it from Excel as CSV."
        elif raw.startswith(b"PAR1"):
            hint = " It looks like a Parquet file: rename it to end in .parquet."
        raise DataError(
            f"'{name}' is unreadable: it is not a {fmt} file (it contains binary data).{hint} "
            f"Save your data as {_SUPPORTED}."
        )
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding != "utf-8-sig":
            warnings.append(
                f"'{name}' was not UTF-8; read it as {_ENCODING_NAMES[encoding]}. Check accents look right "
                "in the preview; save as UTF-8 to be sure."
            )
        return text
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def _read_delimited(text: str, name: str, suffix: str) -> pd.DataFrame:
    header = text.lstrip("\ufeff").split("\n", 1)[0]
    if suffix == ".tsv" or (suffix == ".txt" and "\t" in header):
        sep, kind = "\t", "TSV"
    elif suffix == ".csv" and "," not in header and (";" in header or "\t" in header):
        # Spreadsheets in many European locales save CSV with semicolons.
        sep, kind = (";" if ";" in header else "\t"), "CSV"
    else:
        sep, kind = ",", "CSV"
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,  # "NA", "null" and "None" are real texts or labels, not gaps
            na_values=[""],
            skip_blank_lines=False,  # keep blank lines so row numbers match the spreadsheet
        )
    except pd.errors.ParserError as err:
        raise DataError(_csv_error_message(str(err), name, kind, sep)) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"'{name}' is empty. Choose the file that holds your data.") from None
    if not isinstance(df.index, pd.RangeIndex):
        # pandas treats extra values in the first data row as an index instead of failing.
        raise DataError(
            f"'{name}' could not be read as {kind}: row 2 has more values than the header (row 1) has "
            f"column names. {_quote_hint(sep)}"
        )
    df.index = pd.RangeIndex(2, len(df) + 2, name="row")
    return df


def _quote_hint(sep: str) -> str:
    what = {"\t": "a tab", ";": "a semicolon"}.get(sep, "a comma")
    return (
        f"This usually means a text contains {what} but is not in double quotes. Put double quotes around such "
        "texts (spreadsheet programs do this when they save as CSV), or upload the file as .xlsx."
    )


def _csv_error_message(detail: str, name: str, kind: str, sep: str) -> str:
    # pandas counts "line" as records with the header as 1 (a spreadsheet's row), but the
    # start of an unclosed quote as a 0-based record.
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", detail)
    if fields:
        expected, row, saw = fields.groups()
        return (
            f"'{name}' could not be read as {kind}: row {row} has {saw} values but the header has {expected} "
            f"column names. {_quote_hint(sep)}"
        )
    quote = re.search(r"EOF inside string starting at row (\d+)", detail)
    if quote:
        row = int(quote.group(1)) + 1
        return (
            f"'{name}' could not be read as {kind}: a double quote (\") opened in row {row} is never closed. "
            'Close the quote, or write a quote inside a text as two quotes ("").'
        )
    line = re.search(r"line (\d+)", detail)
    where = f" near line {line.group(1)}" if line else ""
    return (
        f"'{name}' could not be read as {kind}{where} ({detail.strip()}). Check that row, or upload the file as .xlsx."
    )


def _cell(value: Any) -> str | None:
    """One cell as the string a user typed, or None when it is empty."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        # Spreadsheets and JSON often store the label 1 as 1.0.
        return str(int(value)) if float(value).is_integer() else str(float(value))
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, np.ndarray):
        return json.dumps(value.tolist(), ensure_ascii=False, default=str)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _frame(columns: dict[str, list[Any]], index: Sequence[int], kind: str) -> pd.DataFrame:
    data = {name: pd.Series([_cell(v) for v in values], dtype="str") for name, values in columns.items()}
    df = pd.DataFrame(data)
    df.index = pd.Index(list(index), name=kind)
    return df


def _records_frame(records: list[dict[str, Any]], index: Sequence[int], kind: str) -> pd.DataFrame:
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(str(k) for k in record))
    columns = {n: [] for n in names}
    for record in records:
        record = {str(k): v for k, v in record.items()}
        for n in names:
            columns[n].append(record.get(n))
    return _frame(columns, index, kind)


def _read_json(text: str, name: str) -> pd.DataFrame:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        if err.msg == "Extra data":
            # One object per line saved with a .json name: read it as JSON Lines.
            try:
                return _read_jsonl(text, name)
            except DataError:
                pass
        raise DataError(
            f"'{name}' is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}. "
            "Fix the file there, or save your data as CSV."
        ) from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(data) == 1 and lists and all(isinstance(r, dict) for r in lists[0]):
            data = lists[0]  # {"data": [{...}, ...]}
        elif data and len(lists) == len(data) and len({len(v) for v in lists}) == 1:
            n = len(lists[0])  # {"text": [...], "label": [...]}
            return _frame({str(k): v for k, v in data.items()}, range(1, n + 1), "record")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(
            f"'{name}' is JSON but not a list of records. TransferLab expects "
            '[{"text": "...", "label": "..."}, ...] (one object per example).'
        )
    if not data:
        raise DataError(f"'{name}' holds an empty list: no data rows. Add records to it.")
    return _records_frame(data, range(1, len(data) + 1), "record")


def _read_jsonl(text: str, name: str) -> pd.DataFrame:
    records, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                f"'{name}' line {number} is not valid JSON ({err.msg}, column {err.colno}). "
                'Each line must hold one object such as {"text": "...", "label": "..."}; fix that line.'
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f"'{name}' line {number} is not a JSON object. Each line must hold one object such as "
                '{"text": "...", "label": "..."}.'
            )
        records.append(record)
        lines.append(number)
    return _records_frame(records, lines, "line")


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        raw = pd.read_parquet(path)
    except (pa.ArrowException, ValueError, OSError):
        raise DataError(
            f"'{path.name}' is unreadable: it is not a Parquet file, or it is damaged. "
            f"Export it again, or save your data as {_SUPPORTED}."
        ) from None
    columns = {str(c): raw[c].astype(object).tolist() for c in raw.columns}
    return _frame(columns, range(1, len(raw) + 1), "record")


def _excel_column(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _read_excel(path: Path, warnings: list[str]) -> pd.DataFrame:
    name = path.name
    if path.suffix.lower() == ".xls":
        return _read_xls(path, warnings)
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (
        zipfile.BadZipFile,
        InvalidFileException,
        KeyError,
        ValueError,
        OSError,
    ):
        with path.open("rb") as f:
            ole = f.read(4) == b"\xd0\xcf\x11\xe0"
        hint = (
            " It is an old-style (.xls) or password-protected workbook."
            if ole
            else " It is not an Excel file, or it is damaged."
        )
        raise DataError(
            f"'{name}' is unreadable as .xlsx.{hint} "
            "Open it in Excel and save it as .xlsx (without a password), or as CSV."
        ) from None
    try:
        sheet = book.worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
        if len(book.sheetnames) > 1:
            others = ", ".join(f"'{s}'" for s in book.sheetnames[1:])
            warnings.append(
                f"'{name}' has {len(book.sheetnames)} sheets; read the first one, '{sheet.title}', and ignored "
                f"{others}. Move your data to the first sheet if it is elsewhere."
            )
    finally:
        book.close()
    return _sheet_frame(rows, name)


def _read_xls(path: Path, warnings: list[str]) -> pd.DataFrame:
    try:
        import xlrd
    except ImportError:
        raise DataError(
            f"'{path.name}' is an old-style Excel file (.xls), which this installation cannot read. "
            "Open it in Excel and save it as .xlsx (Excel Workbook) or CSV."
        ) from None
    try:
        book = xlrd.open_workbook(str(path))
    except (xlrd.XLRDError, ValueError, OSError):
        raise DataError(
            f"'{path.name}' is unreadable: it is not an Excel file, or it is damaged. "
            "Open it in Excel and save it again as .xlsx, or save it as CSV."
        ) from None
    sheet = book.sheet_by_index(0)
    if book.nsheets > 1:
        warnings.append(f"'{path.name}' has {book.nsheets} sheets; read the first one, '{sheet.name}'.")
    rows = [tuple(None if c.ctype == xlrd.XL_CELL_EMPTY else c.value for c in sheet.row(i)) for i in range(sheet.nrows)]
    return _sheet_frame(rows, path.name)


def _sheet_frame(rows: list[tuple[Any, ...]], name: str) -> pd.DataFrame:
    # Spreadsheets keep trailing rows that only have formatting; they are not data.
    while rows and all(_cell(v) is None or not str(v).strip() for v in rows[-1]):
        rows.pop()
    if not rows:
        raise DataError(f"'{name}' has no data in its first sheet. Put a header row and your rows there.")
    width = max(len(r) for r in rows)
    header = list(rows[0]) + [None] * (width - len(rows[0]))
    names, seen = [], Counter()
    for number, value in enumerate(header, start=1):
        label = _cell(value)
        label = label.strip() if label and label.strip() else f"Unnamed: {_excel_column(number)}"
        seen[label] += 1
        names.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    body = rows[1:]
    columns = {n: [r[i] if i < len(r) else None for r in body] for i, n in enumerate(names)}
    return _frame(columns, range(2, len(body) + 2), "row")


# --------------------------------------------------------------------------- columns


def _words(column: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", column)
    words = [w for w in re.split(r"[^0-9a-zA-Z]+", spaced.lower()) if w]
    return [_PLURALS.get(w, w[:-1] if w.endswith("s") and w[:-1] in _HINT_WORDS else w) for w in words]


def _hint_score(column: str, hints: set[str]) -> int:
    """2 for a name that is a hint ('Text', 'labels'), 1 for one that contains a hint word ('review_text')."""
    words = _words(column)
    if len(words) == 1 and words[0] in hints:
        return 2
    return 1 if any(w in hints for w in words) else 0


def _values(df: pd.DataFrame, column: str) -> pd.Series:
    return df[column].dropna().astype(str).str.strip().loc[lambda s: s != ""]


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _mean_length(df: pd.DataFrame, column: str) -> float:
    values = _values(df, column)
    return float(values.str.len().mean()) if len(values) else 0.0


def _looks_like_text(df: pd.DataFrame, column: str) -> bool:
    """Mostly words, not numbers (an id or a score column is not the text)."""
    values = _values(df, column)
    return len(values) > 0 and pd.to_numeric(values, errors="coerce").isna().mean() > 0.5


def _check_named(df: pd.DataFrame, column: str, what: str, flag: str, source: str) -> None:
    columns = [str(c) for c in df.columns]
    if column in columns:
        return
    by_case = {c.lower(): c for c in columns}
    close = [by_case[column.lower()]] if column.lower() in by_case else difflib.get_close_matches(column, columns, n=1)
    suggestion = f" Did you mean '{close[0]}'?" if close else ""
    listed = ", ".join(f"'{c}'" for c in columns)
    raise DataError(
        f"{source} has no column named '{column}' (asked for as the {what} column).{suggestion} "
        f"Its columns are: {listed}. Pick one of them with {flag} or the picker in the dashboard."
    )


def _ambiguous(what: str, candidates: list[str], flag: str, source: str, why: str) -> DataError:
    listed = ", ".join(f"'{c}'" for c in candidates)
    return DataError(
        f"Cannot tell which column of {source} holds the {what}: {listed} {why}. "
        f"Pick it with {flag} (the dashboard shows a picker)."
    )


def guess_columns(
    df: pd.DataFrame,
    text_column: str | None = None,
    label_column: str | None = None,
    source: str = "the file",
) -> tuple[str, str]:
    """Return ``(text_column, label_column)``, checking named columns and guessing the others.

    Names win: a column called like text/review/message/... is the text, one called like
    label/class/category/... is the label. Without a name hint the text is the column of
    words with the longest mean length and the label the only other column that looks like
    categories. When two columns are equally plausible it asks instead of guessing.

    >>> guess_columns(pd.DataFrame({"review": ["good", "bad"], "stars": ["5", "1"]}))
    ('review', 'stars')
    """
    source = f"'{source}'" if source != "the file" else source
    columns = [str(c) for c in df.columns]
    if len(columns) < 2:
        only = f" (only '{columns[0]}')" if columns else ""
        raise DataError(
            f"{source} has {len(columns)} column{'' if len(columns) == 1 else 's'}{only}; TransferLab needs two: "
            "one with the text and one with its label. Add a label column next to the texts."
        )
    if text_column is not None:
        _check_named(df, text_column, "text", "--text-column", source)
    if label_column is not None:
        _check_named(df, label_column, "label", "--label-column", source)
    if text_column is not None and text_column == label_column:
        raise DataError(
            f"The same column, '{text_column}', was picked for both the text and the label of {source}. "
            "Pick two different columns."
        )

    if text_column is None:
        text_column = _guess_text(df, [c for c in columns if c != label_column], source)
    if label_column is None:
        label_column = _guess_label(df, [c for c in columns if c != text_column], source)
    return text_column, label_column


def guess_text_column(df: pd.DataFrame, text_column: str | None = None, source: str = "the file") -> str:
    """The text column of a file to predict on: named, or guessed as in :func:`guess_columns` (no label needed)."""
    source = f"'{source}'" if source != "the file" else source
    if text_column is not None:
        _check_named(df, text_column, "text", "--text-column", source)
        return text_column
    columns = [str(c) for c in df.columns]
    if len(columns) == 1:
        return columns[0]
    return _guess_text(df, columns, source)


def _guess_text(df: pd.DataFrame, candidates: list[str], source: str) -> str:
    scores = {c: _hint_score(c, _TEXT_HINTS) for c in candidates}
    best = max(scores.values())
    if best > 0:
        hinted = [c for c in candidates if scores[c] == best]
        return max(hinted, key=lambda c: _mean_length(df, c))
    lengths = {c: _mean_length(df, c) for c in candidates if _looks_like_text(df, c)}
    texty = sorted(lengths, key=lambda c: -lengths[c])
    if not texty:
        listed = ", ".join(f"'{c}'" for c in candidates)
        raise DataError(
            f"None of the columns of {source} ({listed}) holds text; they hold numbers or are empty. "
            "Pick the text column with --text-column (the dashboard shows a picker)."
        )
    close = [c for c in texty if lengths[c] >= _SIMILAR_LENGTH * lengths[texty[0]]]
    if len(close) > 1:
        raise _ambiguous("text", close, "--text-column", source, "all hold texts of similar length")
    return texty[0]


def _guess_label(df: pd.DataFrame, candidates: list[str], source: str) -> str:
    scores = {c: _hint_score(c, _LABEL_HINTS) for c in candidates}
    best = max(scores.values())
    if best > 0:
        hinted = [c for c in candidates if scores[c] == best]
        if len(hinted) > 1:
            raise _ambiguous(
                "label",
                hinted,
                "--label-column",
                source,
                "all have names of a label column",
            )
        return hinted[0]
    if len(candidates) == 1:
        return candidates[0]
    distinct = {c: _values(df, c).nunique() for c in candidates}
    rows = len(df)
    plausible = [c for c in candidates if 2 <= distinct[c] < rows and not _free_text(distinct[c], rows)]
    if len(plausible) == 1:
        return plausible[0]
    if len(plausible) > 1:
        raise _ambiguous("label", plausible, "--label-column", source, "could each be the label")
    # Nothing looks like categories; take the likeliest so validation can say what is wrong with it.
    return min(candidates, key=lambda c: distinct[c])


def _free_text(distinct: int, rows: int) -> bool:
    return distinct > 100 and distinct > 0.2 * rows


# --------------------------------------------------------------------------- dataset


@dataclass
class TextDataset:
    """Cleaned texts with integer labels, and what cleaning did, in words for the user."""

    texts: list[str]
    labels: list[int]  # indices into label_names
    label_names: list[str]
    source: str  # file name shown to the user
    text_column: str
    label_column: str
    warnings: list[str]
    dropped_empty_text: int = 0
    dropped_missing_label: int = 0
    duplicates_removed: int = 0
    rows: list[int] = field(default_factory=list)  # where each example is in the file (see row_kind)
    row_kind: str = "row"  # "row" (CSV/Excel, header is row 1), "line" (JSONL) or "record"

    def __len__(self) -> int:
        return len(self.texts)

    def class_counts(self) -> dict[str, int]:
        """Examples per class, in label_names order, zeros included."""
        counts = Counter(self.labels)
        return {name: counts.get(i, 0) for i, name in enumerate(self.label_names)}

    def subset(self, indices: Sequence[int]) -> TextDataset:
        indices = [int(i) for i in indices]
        return replace(
            self,
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            label_names=list(self.label_names),
            warnings=list(self.warnings),
            rows=[self.rows[i] for i in indices] if self.rows else [],
        )


def _where(rows: Sequence[int], kind: str) -> str:
    """'rows 5, 9, 12' with at most ten numbers listed."""
    shown = ", ".join(str(r) for r in rows[:_MAX_LISTED_ROWS])
    more = f" and {len(rows) - _MAX_LISTED_ROWS} more" if len(rows) > _MAX_LISTED_ROWS else ""
    return f"{kind}{'s' if len(rows) > 1 else ''} {shown}{more}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def sort_label_names(names: Sequence[str]) -> list[str]:
    """Numerically when every name is a number ('2' before '10'), else alphabetically."""
    if names and all(_is_number(n) for n in names):
        return sorted(names, key=lambda n: (float(n), n))
    return sorted(names, key=lambda n: (n.casefold(), n))


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
    kind = df.index.name if df.index.name in _ROW_KINDS else "row"
    rows = [int(r) for r in df.index]

    def clean(column: str) -> list[str | None]:
        return [None if pd.isna(v) or not str(v).strip() else str(v).strip() for v in df[column].tolist()]

    texts, labels = clean(text_column), clean(label_column)

    empty_text = [r for r, t in zip(rows, texts, strict=True) if t is None]
    if empty_text:
        warnings.append(
            f"Dropped {_plural(len(empty_text), 'row')} with an empty text in column '{text_column}' "
            f"({_where(empty_text, kind)})."
        )
    missing_label = [r for r, t, y in zip(rows, texts, labels, strict=True) if t is not None and y is None]
    if missing_label:
        warnings.append(
            f"Dropped {_plural(len(missing_label), 'row')} with no label in column '{label_column}' "
            f"({_where(missing_label, kind)})."
        )
    kept = [(r, t, y) for r, t, y in zip(rows, texts, labels, strict=True) if t is not None and y is not None]
    if not kept:
        raise DataError(
            f"'{source}' has no row with both a text (column '{text_column}') and a label (column "
            f"'{label_column}'). Check that these are the right columns and that they are filled in."
        )

    distinct = {y for _, _, y in kept}
    if _free_text(len(distinct), len(kept)):
        raise DataError(
            f"Column '{label_column}' of '{source}' has {len(distinct)} different values; it looks like free text, "
            "not a label. Pick the column that holds the category of each text (with --label-column, or the "
            "picker in the dashboard)."
        )

    if label_names is not None:
        known = set(label_names)
        unknown = [(r, y) for r, _, y in kept if y not in known]
        if unknown:
            r, y = unknown[0]
            others = f" ({_plural(len(unknown), 'row')} in all)" if len(unknown) > 1 else ""
            listed = ", ".join(f"'{n}'" for n in label_names)
            raise DataError(
                f"'{source}' {kind} {r} has the label '{y}'{others}, which is not one of the training file's classes: "
                f"{listed}. Correct the label, or remove the row."
            )
        names = list(label_names)
    else:
        names = sort_label_names(list(distinct))
        if len(names) < 2:
            raise DataError(
                f"'{source}' has only one class, '{names[0]}', in column '{label_column}' (after dropping empty "
                "rows). TransferLab learns to tell classes apart, so it needs at least two. Add examples of another "
                "class, or check that this is the label column."
            )

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
        warnings.append(
            f"Removed {_plural(len(duplicates), 'duplicate row')} (same text and label as an earlier row; "
            f"{_where(duplicates, kind)}); the first of each was kept."
        )
    first_rows: dict[str, list[int]] = {}
    first_labels: dict[str, set[str]] = {}
    for r, t, y in unique:
        first_rows.setdefault(t, []).append(r)
        first_labels.setdefault(t, set()).add(y)
    conflicts = [first_rows[t] for t in first_rows if len(first_labels[t]) > 1]
    if conflicts:
        example = " and ".join(str(r) for r in conflicts[0][:3])
        warnings.append(
            f"{_plural(len(conflicts), 'text')} appear with different labels (for example {kind}s {example}). "
            "They are kept, but check them: the model cannot learn both answers for the same text."
        )
    by_case: dict[str, set[str]] = {}
    for n in distinct:
        by_case.setdefault(n.casefold(), set()).add(n)
    for variants in by_case.values():
        if len(variants) > 1:
            listed = ", ".join(f"'{v}'" for v in sorted(variants))
            warnings.append(
                f"Labels {listed} differ only in capital letters and are treated as different classes. "
                "Make them the same if they mean the same thing."
            )

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
    counts = {n: c for n, c in data.class_counts().items() if c > 0}
    smallest, largest = min(counts, key=counts.get), max(counts, key=counts.get)
    if counts[smallest] < 0.1 * counts[largest]:
        warnings.append(
            f"Classes are imbalanced: '{smallest}' has {_plural(counts[smallest], 'example')}, '{largest}' has "
            f"{counts[largest]}. Accuracy can look good while '{smallest}' is mostly missed; watch the per-class "
            f"scores, or add examples of '{smallest}'."
        )
    return data


# --------------------------------------------------------------------------- splits


@dataclass
class Splits:
    train: TextDataset
    validation: TextDataset
    test: TextDataset
    label_names: list[str]


def make_splits(
    data: TextDataset,
    validation: TextDataset | None = None,
    test: TextDataset | None = None,
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

    derived = [what for what, given in (("validate", validation), ("test", test)) if given is None]
    needed = 1 + len(derived)
    rng = np.random.default_rng(seed)
    labels = np.asarray(data.labels, dtype=int)
    parts: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for label, name in enumerate(data.label_names):
        indices = rng.permutation(np.flatnonzero(labels == label))
        n = len(indices)
        if n < needed:
            uses = ", ".join(["1 to train on"] + [f"1 to {what}" for what in derived])
            raise DataError(
                f"Class '{name}' has only {_plural(n, 'example')}; TransferLab needs at least {needed} of each class "
                f"({uses}). Add examples of '{name}' or remove that class."
            )
        n_test = max(1, round(n * test_fraction)) if test is None else 0
        n_val = max(1, round(n * validation_fraction)) if validation is None else 0
        # Small classes: keep one for training by taking back from the larger held-out split.
        while n - n_test - n_val < 1:
            if n_test >= n_val and n_test > 1:
                n_test -= 1
            else:
                n_val -= 1
        parts["test"] += indices[:n_test].tolist()
        parts["validation"] += indices[n_test : n_test + n_val].tolist()
        parts["train"] += indices[n_test + n_val :].tolist()

    # Shuffle within each split so batches are not grouped by class.
    shuffled = {k: rng.permutation(np.asarray(v, dtype=int)).tolist() for k, v in parts.items()}
    return Splits(
        train=data.subset(shuffled["train"]),
        validation=validation if validation is not None else data.subset(shuffled["validation"]),
        test=test if test is not None else data.subset(shuffled["test"]),
        label_names=list(data.label_names),
    )


def describe(data: TextDataset) -> dict:
    """A plain summary for the UI: sizes, classes, text lengths in characters, warnings."""
    lengths = np.asarray([len(t) for t in data.texts], dtype=int)
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
