"""Cells and frames: a user's table as strings (or None for an empty cell), the way every reader returns it."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def cell(value: Any) -> str | None:
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


def frame(columns: dict[str, list[Any]], index: Sequence[int], kind: str) -> pd.DataFrame:
    data = {name: pd.Series([cell(v) for v in values], dtype="str") for name, values in columns.items()}
    df = pd.DataFrame(data)
    df.index = pd.Index(list(index), name=kind)
    return df


def records_frame(records: list[dict[str, Any]], index: Sequence[int], kind: str) -> pd.DataFrame:
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(str(k) for k in record))
    columns = {n: [] for n in names}
    for record in records:
        record = {str(k): v for k, v in record.items()}
        for n in names:
            columns[n].append(record.get(n))
    return frame(columns, index, kind)
