"""Reading a user's table (CSV, TSV, JSON, JSONL, Parquet, Excel) into a DataFrame of strings.

Every problem raises one :class:`~engine.core.errors.DataError` whose message says what is wrong,
where (the row number a spreadsheet would show) and what to do. The file is only ever read.

A ``.txt`` file is what a text editor saves: one text per line, no header, no labels
(:func:`read_text_lines` reads it to be labelled). Only one whose first line holds a tab is a table
(Excel's "Text (Tab delimited)" and "Unicode text" exports), read as TSV.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from engine.core.errors import DataError
from engine.core.formats import MAX_FILE_BYTES, SUPPORTED_TABLES, TABLE_FORMATS

_ENCODING_NAMES = {"cp1252": "Windows-1252", "latin-1": "Latin-1"}
TEXT_LINES_SUFFIX = ".txt"  # a file of texts, one per line (unless its first line holds a tab)
_FIRST_LINE_BYTES = 1 << 20


# How read_table's index counts rows, so messages can say "row 5" or "line 5" the way the
# user would find it: CSV/Excel rows count the header as row 1, JSONL counts file lines,
# JSON arrays and Parquet count records from 1.
ROW_KINDS = ("row", "line", "record")


def read_table(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """Read CSV, TSV, JSON, JSONL, Parquet or Excel into a DataFrame of strings.

    Returns ``(df, warnings)``. Every cell is a string or missing (an empty cell), so a label
    ``007`` stays ``"007"`` and an Excel number ``1.0`` becomes ``"1"``. The index holds the
    row number the user would look for (``df.index.name`` is ``"row"``, ``"line"`` or
    ``"record"``): for CSV and Excel the header is row 1 and the first data row is row 2.
    Rows where every cell is empty are left out. A ``.txt`` of texts (no tab in its first line) has
    no labels, so it is refused here with a message that says so; :func:`read_text_lines` reads it.
    """
    path, fmt = _check_file(path)
    name = path.name
    if is_text_lines(path):
        raise DataError(
            f"'{name}' is a plain text file: TransferLab reads a .txt as one text per line, with no header and "
            "no labels, so it cannot teach a model (label its texts on Try it instead). To train, give each text "
            "its label in a table: a CSV with a text and a label column, or a tab-separated .tsv or .txt with a "
            "header row (Excel: Save as 'Text (Tab delimited)'). If it already is a comma-separated table, "
            "rename it to end in .csv."
        )

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


def is_text_lines(path: str | Path) -> bool:
    """True for a ``.txt`` file of texts, one per line: one whose first line has no tab (a tab makes it a table).

    >>> is_text_lines("notes.csv"), is_text_lines("no-such-file.txt")
    (False, False)
    """
    path = Path(path)
    if path.suffix.lower() != TEXT_LINES_SUFFIX or not path.is_file():
        return False
    with path.open("rb") as f:
        first = f.readline(_FIRST_LINE_BYTES)  # a UTF-16 tab holds the byte b"\t" too
    return b"\t" not in first


def read_text_lines(path: str | Path) -> tuple[pd.DataFrame, list[int]]:
    """A ``.txt`` of texts, one per line and no header, to be labelled.

    Returns a table with the columns ``line`` (the line number a text editor shows) and ``text``
    (the line without surrounding spaces), and the numbers of the empty lines, which are skipped.
    """
    path, _ = _check_file(path)
    warnings: list[str] = []
    lines = _decode(path, "plain text", warnings).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start another one
    kept = [(number, line.strip()) for number, line in enumerate(lines, start=1) if line.strip()]
    empty = [number for number, line in enumerate(lines, start=1) if not line.strip()]
    df = pd.DataFrame({"line": [n for n, _ in kept], "text": [t for _, t in kept]})
    df.index = pd.Index([n for n, _ in kept], name="line")
    return df, empty


def _check_file(path: str | Path) -> tuple[Path, str]:
    """The path and its format, once it is known to be a readable file of a format TransferLab reads."""
    path = Path(path)
    name = path.name
    fmt = TABLE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"'{name}' is not a format TransferLab can read. Save it as {SUPPORTED_TABLES}; "
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
    return path, fmt


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
            f"Save your data as {SUPPORTED_TABLES}."
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
    if suffix in (".tsv", TEXT_LINES_SUFFIX):  # a .txt read as a table has a tab in its first line
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
            f"Export it again, or save your data as {SUPPORTED_TABLES}."
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
