"""Which column holds the text and which the label: named, or guessed from names and contents.

>>> guess_columns(pd.DataFrame({"review": ["good", "bad"], "stars": ["5", "1"]}))
('review', 'stars')
"""

from __future__ import annotations

import difflib
import math
import re

import pandas as pd

from engine.core.errors import DataError

TEXT_HINTS = {
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


LABEL_HINTS = {
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


_HINT_WORDS = TEXT_HINTS | LABEL_HINTS


# Two text columns whose mean lengths are within 25% are equally plausible.
_SIMILAR_LENGTH = 0.75


def _words(column: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", column)
    words = [w for w in re.split(r"[^0-9a-zA-Z]+", spaced.lower()) if w]
    return [_PLURALS.get(w, w[:-1] if w.endswith("s") and w[:-1] in _HINT_WORDS else w) for w in words]


def hint_score(column: str, hints: set[str]) -> int:
    """2 for a name that is a hint ('Text', 'labels'), 1 for one that contains a hint word ('review_text')."""
    words = _words(column)
    if len(words) == 1 and words[0] in hints:
        return 2
    return 1 if any(w in hints for w in words) else 0


def _values(df: pd.DataFrame, column: str) -> pd.Series:
    return df[column].dropna().astype(str).str.strip().loc[lambda s: s != ""]


def is_number(value: str) -> bool:
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
    scores = {c: hint_score(c, TEXT_HINTS) for c in candidates}
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
    scores = {c: hint_score(c, LABEL_HINTS) for c in candidates}
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
    plausible = [c for c in candidates if 2 <= distinct[c] < rows and not looks_like_free_text(distinct[c], rows)]
    if len(plausible) == 1:
        return plausible[0]
    if len(plausible) > 1:
        raise _ambiguous("label", plausible, "--label-column", source, "could each be the label")
    # Nothing looks like categories; take the likeliest so validation can say what is wrong with it.
    return min(candidates, key=lambda c: distinct[c])


def looks_like_free_text(distinct: int, rows: int) -> bool:
    return distinct > 100 and distinct > 0.2 * rows
