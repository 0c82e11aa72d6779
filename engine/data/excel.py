"""Excel workbooks (.xlsx with openpyxl, old .xls with xlrd when installed): the first sheet as a table of
strings, as :func:`engine.data.tables.read_table` returns every format."""

from __future__ import annotations

import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from engine.core.errors import DataError
from engine.data.cells import cell, frame


def _excel_column(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def read_excel(path: Path, warnings: list[str]) -> pd.DataFrame:
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
    while rows and all(cell(v) is None or not str(v).strip() for v in rows[-1]):
        rows.pop()
    if not rows:
        raise DataError(f"'{name}' has no data in its first sheet. Put a header row and your rows there.")
    width = max(len(r) for r in rows)
    header = list(rows[0]) + [None] * (width - len(rows[0]))
    names, seen = [], Counter()
    for number, value in enumerate(header, start=1):
        label = cell(value)
        label = label.strip() if label and label.strip() else f"Unnamed: {_excel_column(number)}"
        seen[label] += 1
        names.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    body = rows[1:]
    columns = {n: [r[i] if i < len(r) else None for r in body] for i, n in enumerate(names)}
    return frame(columns, range(2, len(body) + 2), "row")
