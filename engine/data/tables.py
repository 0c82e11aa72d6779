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
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from engine.core.errors import DataError
from engine.core.formats import MAX_FILE_BYTES, SUPPORTED_TABLES, TABLE_FORMATS
from engine.data.cells import frame, records_frame

ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")  # tried in this order; latin-1 decodes any bytes
ENCODING_NAMES = {"cp1252": "Windows-1252", "latin-1": "Latin-1"}
UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")  # Excel's "Unicode text" export starts with one
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
        from engine.data.excel import read_excel  # it builds on this module's cells and frames

        df = read_excel(path, warnings)
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
    if raw.startswith(UTF16_MARKS):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    if b"\x00" in raw:
        raise binary_error(name, fmt, raw)
    for encoding in ENCODINGS:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding != ENCODINGS[0]:
            warnings.append(encoding_note(name, encoding))
        return text
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def encoding_note(name: str, encoding: str) -> str:
    """What reading a file in another encoding than UTF-8 says (the loader and the large-file reader)."""
    return (
        f"'{name}' was not UTF-8; read it as {ENCODING_NAMES[encoding]}. Check accents look right "
        "in the preview; save as UTF-8 to be sure."
    )


def binary_error(name: str, fmt: str, head: bytes) -> DataError:
    """A text format whose bytes (``head``: its start) hold NUL bytes: it is another kind of file."""
    hint = ""
    if head.startswith(b"PK\x03\x04"):
        hint = " It looks like an Excel workbook: rename it to end in .xlsx, or save it from Excel as CSV."
    elif head.startswith(b"PAR1"):
        hint = " It looks like a Parquet file: rename it to end in .parquet."
    return DataError(
        f"'{name}' is unreadable: it is not a {fmt} file (it contains binary data).{hint} "
        f"Save your data as {SUPPORTED_TABLES}."
    )


def delimiter(header: str, suffix: str) -> tuple[str, str]:
    """The separator of a delimited file from its header line and name, and what to call the file.

    >>> delimiter("text;label", ".csv"), delimiter("text,label", ".tsv")[1]
    ((';', 'CSV'), 'TSV')
    """
    header = header.lstrip("\ufeff")
    if suffix in (".tsv", TEXT_LINES_SUFFIX):  # a .txt read as a table has a tab in its first line
        return "\t", "TSV"
    if suffix == ".csv" and "," not in header and (";" in header or "\t" in header):
        # Spreadsheets in many European locales save CSV with semicolons.
        return (";" if ";" in header else "\t"), "CSV"
    return ",", "CSV"


def extra_values_error(name: str, kind: str, sep: str) -> DataError:
    """pandas reads extra values in the first data row as an index instead of failing: say so."""
    return DataError(
        f"'{name}' could not be read as {kind}: row 2 has more values than the header (row 1) has "
        f"column names. {_quote_hint(sep)}"
    )


def _read_delimited(text: str, name: str, suffix: str) -> pd.DataFrame:
    sep, kind = delimiter(text.split("\n", 1)[0], suffix)
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
        raise DataError(csv_error_message(str(err), name, kind, sep)) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"'{name}' is empty. Choose the file that holds your data.") from None
    if not isinstance(df.index, pd.RangeIndex):
        raise extra_values_error(name, kind, sep)
    df.index = pd.RangeIndex(2, len(df) + 2, name="row")
    return df


def _quote_hint(sep: str) -> str:
    what = {"\t": "a tab", ";": "a semicolon"}.get(sep, "a comma")
    return (
        f"This usually means a text contains {what} but is not in double quotes. Put double quotes around such "
        "texts (spreadsheet programs do this when they save as CSV), or upload the file as .xlsx."
    )


def csv_error_message(detail: str, name: str, kind: str, sep: str) -> str:
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
            return frame({str(k): v for k, v in data.items()}, range(1, n + 1), "record")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(
            f"'{name}' is JSON but not a list of records. TransferLab expects "
            '[{"text": "...", "label": "..."}, ...] (one object per example).'
        )
    if not data:
        raise DataError(f"'{name}' holds an empty list: no data rows. Add records to it.")
    return records_frame(data, range(1, len(data) + 1), "record")


def jsonl_record(line: str, number: int, name: str) -> dict[str, Any]:
    """One line of a JSON Lines file, which must hold one object."""
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
    return record


def _read_jsonl(text: str, name: str) -> pd.DataFrame:
    records, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            records.append(jsonl_record(line, number, name))
            lines.append(number)
    return records_frame(records, lines, "line")


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        raw = pd.read_parquet(path)
    except (pa.ArrowException, ValueError, OSError):
        raise DataError(
            f"'{path.name}' is unreadable: it is not a Parquet file, or it is damaged. "
            f"Export it again, or save your data as {SUPPORTED_TABLES}."
        ) from None
    columns = {str(c): raw[c].astype(object).tolist() for c in raw.columns}
    return frame(columns, range(1, len(raw) + 1), "record")
