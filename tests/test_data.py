"""Tests for engine/data.py: every format, column guessing, cleaning, errors and splits.

Each test writes its own small file under tmp_path; one test reads the shipped demo data.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import engine.data.tables as tables
from engine.core.errors import ConfigError, DataError
from engine.data.columns import guess_columns
from engine.data.dataset import Splits, make_splits
from engine.data.tables import read_table
from engine.data.text import TextDataset, describe, load_text_dataset

DEMO = Path(__file__).resolve().parent.parent / "data" / "spam_emails.csv"

ROWS = [
    ("I loved this film, the acting was superb", "pos"),
    ("Dull, far too long and badly written", "neg"),
    ("A warm, funny story with a great cast", "pos"),
    ("I walked out after half an hour", "neg"),
]


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[tuple], sheets: dict[str, list[tuple]] | None = None) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Data"
    for row in rows:
        sheet.append(list(row))
    for title, extra in (sheets or {}).items():
        other = book.create_sheet(title)
        for row in extra:
            other.append(list(row))
    book.save(path)
    return path


def make_dataset(counts: dict[str, int]) -> TextDataset:
    texts, labels = [], []
    names = sorted(counts)
    for index, name in enumerate(names):
        for i in range(counts[name]):
            texts.append(f"{name} example {i}")
            labels.append(index)
    return TextDataset(
        texts=texts,
        labels=labels,
        label_names=names,
        source="made.csv",
        text_column="text",
        label_column="label",
        warnings=[],
        rows=list(range(2, len(texts) + 2)),
    )


# --------------------------------------------------------------------------- formats


def _csv_text(sep: str) -> str:
    lines = [f"text{sep}label"] + [f'"{t}"{sep}{y}' for t, y in ROWS]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "name",
    ["reviews.csv", "reviews.tsv", "reviews.txt", "reviews.json", "reviews.jsonl"],
)
def test_text_formats_load(tmp_path, name):
    suffix = Path(name).suffix
    if suffix == ".csv":
        content = _csv_text(",")
    elif suffix in (".tsv", ".txt"):
        content = _csv_text("\t")
    elif suffix == ".json":
        content = json.dumps([{"text": t, "label": y} for t, y in ROWS], indent=2)
    else:
        content = "\n".join(json.dumps({"text": t, "label": y}) for t, y in ROWS) + "\n"
    data = load_text_dataset(write(tmp_path / name, content))
    assert data.texts == [t for t, _ in ROWS]
    assert [data.label_names[i] for i in data.labels] == [y for _, y in ROWS]
    assert data.label_names == ["neg", "pos"]
    assert (data.text_column, data.label_column) == ("text", "label")
    assert data.source == name
    assert data.warnings == []


def test_binary_formats_load(tmp_path):
    frame = pd.DataFrame({"text": [t for t, _ in ROWS], "label": [y for _, y in ROWS]})
    frame.to_parquet(tmp_path / "reviews.parquet")
    write_xlsx(tmp_path / "reviews.xlsx", [("text", "label"), *ROWS])
    for name in ("reviews.parquet", "reviews.xlsx"):
        data = load_text_dataset(tmp_path / name)
        assert data.texts == [t for t, _ in ROWS], name
        assert [data.label_names[i] for i in data.labels] == [y for _, y in ROWS], name


def test_row_numbers_follow_the_file(tmp_path):
    csv_path = write(tmp_path / "a.csv", 'text,label\n"two\nlines",x\n\nthird row,y\n')
    df, _ = read_table(csv_path)
    # The quoted text spans two lines but is one spreadsheet row; the blank line is row 3.
    assert list(df.index) == [2, 4]
    assert df.index.name == "row"

    jsonl_path = write(
        tmp_path / "a.jsonl",
        '{"text": "a", "label": "x"}\n\n{"text": "b", "label": "y"}\n',
    )
    df, _ = read_table(jsonl_path)
    assert list(df.index) == [1, 3]
    assert df.index.name == "line"

    xlsx_path = write_xlsx(tmp_path / "a.xlsx", [("text", "label"), ("a", "x"), (None, None), ("b", "y")])
    df, _ = read_table(xlsx_path)
    assert list(df.index) == [2, 4]


def test_json_variants(tmp_path):
    columns = write(
        tmp_path / "cols.json",
        json.dumps({"text": ["a b", "c d"], "label": ["x", "y"]}),
    )
    df, _ = read_table(columns)
    assert df.to_dict("list") == {"text": ["a b", "c d"], "label": ["x", "y"]}

    wrapped = write(tmp_path / "wrapped.json", json.dumps({"data": [{"text": "a", "label": 1}]}))
    df, _ = read_table(wrapped)
    assert df.to_dict("list") == {"text": ["a"], "label": ["1"]}

    # JSON Lines saved with a .json name is read as JSON Lines.
    lines = write(
        tmp_path / "lines.json",
        '{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n',
    )
    df, _ = read_table(lines)
    assert df["text"].tolist() == ["a", "b"]


def test_semicolon_csv(tmp_path):
    path = write(
        tmp_path / "euro.csv",
        "text;label\nbonjour, ça va;greeting\nau revoir;farewell\n",
    )
    df, _ = read_table(path)
    assert df.columns.tolist() == ["text", "label"]
    assert df["text"].tolist() == ["bonjour, ça va", "au revoir"]


def test_excel_extra_sheets_warn_and_numbers_become_names(tmp_path):
    path = write_xlsx(
        tmp_path / "book.xlsx",
        [("text", "label"), ("first", 1.0), ("second", 2), ("third", 10.0)],
        sheets={"Notes": [("ignore me",)]},
    )
    data = load_text_dataset(path)
    assert data.label_names == ["1", "2", "10"]
    assert any("'book.xlsx' has 2 sheets" in w and "'Data'" in w and "'Notes'" in w for w in data.warnings)


def test_old_excel_without_reader_says_save_as_xlsx(tmp_path):
    if importlib.util.find_spec("xlrd") is not None:
        pytest.skip("xlrd is installed; .xls files are readable here")
    path = write(tmp_path / "old.xls", "not really excel")
    with pytest.raises(DataError, match=r"'old\.xls'.*\.xlsx"):
        read_table(path)


# --------------------------------------------------------------------------- encodings


def test_utf8_bom_is_read_without_warning(tmp_path):
    path = write(
        tmp_path / "bom.csv",
        "text,label\ncafé au lait,drink\nthé,drink\nsoupe,food\n",
        "utf-8-sig",
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    df, warnings = read_table(path)
    assert df.columns.tolist() == ["text", "label"]  # no BOM glued to the first name
    assert df["text"].tolist()[0] == "café au lait"
    assert warnings == []


def test_cp1252_is_decoded_with_a_warning(tmp_path):
    path = write(
        tmp_path / "windows.csv",
        "text,label\ncafé “crème”,drink\nthé,drink\n",
        "cp1252",
    )
    df, warnings = read_table(path)
    assert df["text"].tolist() == ["café “crème”", "thé"]
    assert len(warnings) == 1
    assert "'windows.csv' was not UTF-8" in warnings[0] and "Windows-1252" in warnings[0]


def test_latin1_fallback_when_cp1252_fails(tmp_path):
    # 0x81 is undefined in Windows-1252, so only Latin-1 decodes it.
    path = tmp_path / "odd.csv"
    path.write_bytes(b"text,label\ncaf\xe9 \x81,drink\n")
    df, warnings = read_table(path)
    assert df["text"].tolist() == ["café \x81"]
    assert "Latin-1" in warnings[0]


def test_utf16_from_excel_unicode_text(tmp_path):
    path = write(tmp_path / "unicode.txt", "text\tlabel\nnaïve\tx\n", "utf-16")
    df, warnings = read_table(path)
    assert df.to_dict("list") == {"text": ["naïve"], "label": ["x"]}
    assert warnings == []


# --------------------------------------------------------------------------- read errors


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nowhere\.csv' does not exist"):
        read_table(tmp_path / "nowhere.csv")


@pytest.mark.parametrize("content", [b"", b"  \n\n \t\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "blank.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"'blank\.csv' is empty"):
        read_table(path)


@pytest.mark.parametrize("name", ["head.csv", "head.xlsx"])
def test_header_without_rows(tmp_path, name):
    if name.endswith(".csv"):
        write(tmp_path / name, "text,label\n\n")
    else:
        write_xlsx(tmp_path / name, [("text", "label")])
    with pytest.raises(DataError) as err:
        read_table(tmp_path / name)
    assert f"'{name}' has a header ('text', 'label') but no data rows" in str(err.value)


def test_binary_content_in_a_text_format(tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(DataError, match=r"'photo\.csv' is unreadable: it is not a CSV file"):
        read_table(path)


def test_excel_renamed_to_csv_gets_a_hint(tmp_path):
    write_xlsx(tmp_path / "book.xlsx", [("text", "label"), ("a", "b")])
    renamed = tmp_path / "book.csv"
    renamed.write_bytes((tmp_path / "book.xlsx").read_bytes())
    with pytest.raises(DataError, match=r"looks like an Excel workbook: rename it to end in \.xlsx"):
        read_table(renamed)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("broken.parquet", "'broken.parquet' is unreadable: it is not a Parquet file"),
        (
            "broken.xlsx",
            "'broken.xlsx' is unreadable as .xlsx. It is not an Excel file",
        ),
    ],
)
def test_damaged_binary_files(tmp_path, name, expected):
    path = write(tmp_path / name, "text,label\nthis is really a csv,x\n")
    with pytest.raises(DataError) as err:
        read_table(path)
    assert expected in str(err.value)


def test_old_or_locked_workbook_named_xlsx(tmp_path):
    path = tmp_path / "locked.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    with pytest.raises(DataError) as err:
        read_table(path)
    assert "'locked.xlsx' is unreadable as .xlsx" in str(err.value)
    assert "old-style (.xls) or password-protected" in str(err.value)


def test_unknown_extension_lists_formats(tmp_path):
    path = write(tmp_path / "notes.docx", "whatever")
    with pytest.raises(DataError) as err:
        read_table(path)
    message = str(err.value)
    assert "'notes.docx' is not a format" in message
    for fmt in (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".xlsx"):
        assert fmt in message


def test_file_over_the_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "MAX_FILE_BYTES", 3 * 1024 * 1024)
    path = tmp_path / "big.csv"
    path.write_bytes(b"text,label\n" + b"x" * (4 * 1024 * 1024))
    with pytest.raises(DataError, match=r"'big\.csv' is 4 MB; TransferLab reads files up to 3 MB"):
        read_table(path)


def test_csv_row_with_too_many_values(tmp_path):
    path = write(tmp_path / "commas.csv", "text,label\nfine,x\nalso fine,y\nno quotes, here,x\n")
    with pytest.raises(DataError) as err:
        read_table(path)
    message = str(err.value)
    assert "'commas.csv'" in message and "row 4 has 3 values but the header has 2" in message
    assert "double quotes" in message


def test_csv_first_row_with_too_many_values(tmp_path):
    # pandas would silently turn the extra value into an index; we refuse instead.
    path = write(tmp_path / "first.csv", "text,label\nno quotes, here,x\nfine,y\n")
    with pytest.raises(DataError, match=r"'first\.csv'.*row 2 has more values than the header"):
        read_table(path)


def test_csv_unclosed_quote(tmp_path):
    path = write(tmp_path / "quote.csv", 'text,label\nfine,x\n"never closed,y\nmore,x\n')
    with pytest.raises(DataError, match=r"'quote\.csv'.*opened in row 3 is never closed"):
        read_table(path)


def test_jsonl_bad_line(tmp_path):
    path = write(
        tmp_path / "bad.jsonl",
        '{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n{"text": oops}\n',
    )
    with pytest.raises(DataError, match=r"'bad\.jsonl' line 3 is not valid JSON"):
        read_table(path)


def test_json_not_records(tmp_path):
    path = write(tmp_path / "odd.json", json.dumps([1, 2, 3]))
    with pytest.raises(DataError, match=r"'odd\.json' is JSON but not a list of records"):
        read_table(path)
    broken = write(tmp_path / "broken.json", '[{"text": "a",\n "label": }]')
    with pytest.raises(DataError, match=r"'broken\.json' is not valid JSON: .* at line 2"):
        read_table(broken)


# --------------------------------------------------------------------------- columns


def test_guess_by_name_hints():
    df = pd.DataFrame(
        {
            "id": ["1", "2", "3"],
            "Review Text": ["great phone", "screen broke in a week", "ok"],
            "Sentiment": ["pos", "neg", "pos"],
        }
    )
    assert guess_columns(df) == ("Review Text", "Sentiment")


def test_guess_without_name_hints():
    df = pd.DataFrame(
        {
            "ref": [str(1000 + i) for i in range(6)],
            "what they said": [f"a long sentence number {i} about the weather" for i in range(6)],
            "kind": ["a", "b", "a", "b", "a", "b"],
        }
    )
    assert guess_columns(df) == ("what they said", "kind")


def test_exact_hint_beats_hint_word():
    # Hugging Face exports often carry both 'label' and 'label_text'.
    df = pd.DataFrame({"text": ["a b c", "d e f"], "label": ["0", "1"], "label_text": ["neg", "pos"]})
    assert guess_columns(df) == ("text", "label")


def test_named_columns_are_used():
    df = pd.DataFrame({"a": ["x y", "z w"], "b": ["1", "2"], "c": ["p", "q"]})
    assert guess_columns(df, text_column="a", label_column="c") == ("a", "c")


def test_wrong_column_name_suggests_a_close_match():
    df = pd.DataFrame({"text": ["a"], "label": ["x"], "notes": ["n"]})
    with pytest.raises(DataError) as err:
        guess_columns(df, label_column="lable", source="tickets.csv")
    message = str(err.value)
    assert "'tickets.csv' has no column named 'lable'" in message
    assert "Did you mean 'label'?" in message
    assert "'text', 'label', 'notes'" in message
    assert "--label-column" in message


def test_wrong_case_column_name_suggests_the_real_one():
    df = pd.DataFrame({"Text": ["a"], "Label": ["x"]})
    with pytest.raises(DataError, match=r"no column named 'text'.*Did you mean 'Text'\?.*--text-column"):
        guess_columns(df, text_column="text")


def test_ambiguous_text_columns():
    df = pd.DataFrame(
        {
            "question": [f"why does thing {i} happen so often" for i in range(5)],
            "answer": [f"because thing {i} is common enough" for i in range(5)],
            "label": ["a", "b", "a", "b", "a"],
        }
    )
    with pytest.raises(DataError) as err:
        guess_columns(df, source="faq.csv")
    message = str(err.value)
    assert "'faq.csv'" in message and "'question'" in message and "'answer'" in message
    assert "--text-column" in message


def test_ambiguous_label_columns():
    df = pd.DataFrame(
        {
            "text": [f"message number {i} with words" for i in range(6)],
            "urgency": ["high", "low", "high", "low", "high", "low"],
            "team": ["sales", "support", "sales", "support", "billing", "sales"],
        }
    )
    with pytest.raises(DataError) as err:
        guess_columns(df, source="tickets.xlsx")
    message = str(err.value)
    assert "'urgency'" in message and "'team'" in message and "--label-column" in message
    assert guess_columns(df, label_column="team") == ("text", "team")


def test_one_column_is_not_enough(tmp_path):
    path = write(tmp_path / "solo.csv", "text\nhello there\ngoodbye now\n")
    with pytest.raises(
        DataError,
        match=r"'solo\.csv' has 1 column \(only 'text'\); TransferLab needs two",
    ):
        load_text_dataset(path)


def test_same_column_for_text_and_label():
    df = pd.DataFrame({"text": ["a"], "label": ["x"]})
    with pytest.raises(DataError, match=r"same column, 'text', was picked for both"):
        guess_columns(df, text_column="text", label_column="text")


# --------------------------------------------------------------------------- labels


def test_numeric_labels_sort_as_numbers_and_keep_their_spelling(tmp_path):
    path = write(tmp_path / "stars.csv", "text,label\nawful,1\nsuperb,10\nfine,2\nmeh,007\n")
    data = load_text_dataset(path)
    assert data.label_names == ["1", "2", "007", "10"]
    assert [data.label_names[i] for i in data.labels] == ["1", "10", "2", "007"]


def test_string_labels_sort_alphabetically(tmp_path):
    path = write(tmp_path / "mail.csv", "text,label\na b,spam\nc d,Ham\ne f,eggs\n")
    assert load_text_dataset(path).label_names == ["eggs", "Ham", "spam"]


def test_parquet_keeps_string_labels_and_turns_integral_floats_into_names(tmp_path):
    pd.DataFrame({"text": ["a b", "c d", "e f"], "code": ["007", "010", "007"]}).to_parquet(tmp_path / "s.parquet")
    assert load_text_dataset(tmp_path / "s.parquet", label_column="code").label_names == ["007", "010"]
    pd.DataFrame({"text": ["a b", "c d"], "label": [1.0, 2.0]}).to_parquet(tmp_path / "f.parquet")
    assert load_text_dataset(tmp_path / "f.parquet").label_names == ["1", "2"]


def test_known_label_names_are_enforced_and_kept_in_order(tmp_path):
    path = write(tmp_path / "test.csv", "text,label\nhello,pos\nbye,neg\n")
    data = load_text_dataset(path, label_names=["pos", "neg"])
    assert data.label_names == ["pos", "neg"]
    assert data.labels == [0, 1]

    bad = write(tmp_path / "val.csv", "text,label\nhello,pos\nbye,neutral\n")
    with pytest.raises(DataError) as err:
        load_text_dataset(bad, label_names=["neg", "pos"])
    message = str(err.value)
    assert "'val.csv' row 3 has the label 'neutral'" in message
    assert "'neg', 'pos'" in message


# --------------------------------------------------------------------------- cleaning


def test_empty_texts_and_missing_labels_are_dropped_and_reported(tmp_path):
    path = write(
        tmp_path / "notes.csv",
        "text,label\nfirst,a\n   ,b\nthird,\nfourth,b\n,a\nsixth,b\nseventh,  \n",
    )
    data = load_text_dataset(path)
    assert data.texts == ["first", "fourth", "sixth"]
    assert data.dropped_empty_text == 2
    assert data.dropped_missing_label == 2
    assert "Dropped 2 rows with an empty text in column 'text' (rows 3, 6)." in data.warnings
    assert "Dropped 2 rows with no label in column 'label' (rows 4, 8)." in data.warnings
    assert data.rows == [2, 5, 7]


def test_jsonl_drops_are_reported_by_line(tmp_path):
    lines = [
        '{"text": "a", "label": "x"}',
        '{"text": "", "label": "x"}',
        '{"text": "b", "label": "y"}',
    ]
    data = load_text_dataset(write(tmp_path / "d.jsonl", "\n".join(lines)))
    assert "Dropped 1 row with an empty text in column 'text' (line 2)." in data.warnings


def test_long_lists_of_rows_are_cut(tmp_path):
    body = "".join(f",{'a' if i % 2 else 'b'}\n" for i in range(12)) + "kept one,a\nkept two,b\n"
    data = load_text_dataset(write(tmp_path / "gaps.csv", "text,label\n" + body))
    assert data.dropped_empty_text == 12
    assert "(rows 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 2 more)" in data.warnings[0]


def test_duplicates_removed_and_conflicts_reported(tmp_path):
    path = write(
        tmp_path / "dups.csv",
        "text,label\nsame,a\nother,b\nsame,a\nclash,a\nclash,b\nsame , a\n",
    )
    data = load_text_dataset(path)
    assert data.texts == ["same", "other", "clash", "clash"]
    assert data.duplicates_removed == 2
    assert any("Removed 2 duplicate rows" in w and "rows 4, 7" in w for w in data.warnings)
    assert any("1 text appear with different labels (for example rows 5 and 6)" in w for w in data.warnings)


def test_only_one_class_is_an_error(tmp_path):
    path = write(tmp_path / "one.csv", "text,label\na b,spam\nc d,spam\ne f,\n")
    with pytest.raises(DataError, match=r"'one\.csv' has only one class, 'spam', in column 'label'"):
        load_text_dataset(path)


def test_no_usable_rows_is_an_error(tmp_path):
    path = write(tmp_path / "holes.csv", "text,label,id\n,a,1\nb,,2\n")
    with pytest.raises(DataError, match=r"'holes\.csv' has no row with both a text"):
        load_text_dataset(path, text_column="text", label_column="label")


def test_free_text_label_column(tmp_path):
    rows = "".join(f"message {i},comment number {i}\n" for i in range(150))
    path = write(tmp_path / "free.csv", "text,label\n" + rows)
    with pytest.raises(DataError) as err:
        load_text_dataset(path)
    message = str(err.value)
    assert "Column 'label' of 'free.csv' has 150 different values; it looks like free text" in message
    assert "--label-column" in message


def test_a_file_of_texts_and_ids_is_told_to_get_a_label_column(tmp_path):
    """The bug: a file of reviews and their ids was refused with "10000 different values" and the advice to pick
    a label column the file did not have."""
    rows = "".join(f"review {i},{i}\n" for i in range(1200))
    with pytest.raises(DataError) as err:
        load_text_dataset(write(tmp_path / "ids.csv", "review,id\n" + rows))
    assert "Column 'id' of 'ids.csv' has 1,200 different values" in str(err.value)
    assert str(err.value).endswith("if the file has none, add one.")


def test_imbalance_warning(tmp_path):
    rows = "".join(f"common {i},ham\n" for i in range(30)) + "rare one,spam\nrare two,spam\n"
    data = load_text_dataset(write(tmp_path / "skew.csv", "text,label\n" + rows))
    assert any(w.startswith("Classes are imbalanced: 'spam' has 2 examples, 'ham' has 30") for w in data.warnings)
    balanced = load_text_dataset(write(tmp_path / "even.csv", "text,label\na,x\nb,y\n"))
    assert not any("imbalanced" in w for w in balanced.warnings)


def test_user_files_are_not_modified(tmp_path):
    csv_path = write(
        tmp_path / "keep.csv",
        "text,label\n  padded  ,a\nsame,a\nsame,a\nother,b\n,b\n",
        "cp1252",
    )
    xlsx_path = write_xlsx(tmp_path / "keep.xlsx", [("text", "label"), ("a", 1.0), ("b", 2)])
    before = {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in (csv_path, xlsx_path)}
    load_text_dataset(csv_path)
    load_text_dataset(xlsx_path)
    after = {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in (csv_path, xlsx_path)}
    assert after == before
    assert sorted(q.name for q in tmp_path.iterdir()) == ["keep.csv", "keep.xlsx"]


# --------------------------------------------------------------------------- splits


def test_splits_are_stratified_and_disjoint():
    data = make_dataset({"a": 50, "b": 20, "c": 3})
    splits = make_splits(data, seed=1)
    assert isinstance(splits, Splits)
    assert splits.label_names == ["a", "b", "c"]
    # max(1, round(n * 0.2)) test and max(1, round(n * 0.1)) validation per class.
    assert splits.test.class_counts() == {"a": 10, "b": 4, "c": 1}
    assert splits.validation.class_counts() == {"a": 5, "b": 2, "c": 1}
    assert splits.train.class_counts() == {"a": 35, "b": 14, "c": 1}
    train, val, test = (set(s.texts) for s in (splits.train, splits.validation, splits.test))
    assert not (train & val) and not (train & test) and not (val & test)
    assert train | val | test == set(data.texts)
    # Rows travel with their texts so the UI can point back into the file.
    position = dict(zip(data.texts, data.rows, strict=True))
    assert all(position[t] == r for t, r in zip(splits.test.texts, splits.test.rows, strict=True))


def test_split_order_is_shuffled_not_grouped_by_class():
    splits = make_splits(make_dataset({"a": 40, "b": 40}), seed=0)
    assert splits.train.labels != sorted(splits.train.labels)


def test_splits_are_deterministic_by_seed():
    data = make_dataset({"a": 30, "b": 30})
    first, again, other = (
        make_splits(data, seed=7),
        make_splits(data, seed=7),
        make_splits(data, seed=8),
    )
    assert first.train.texts == again.train.texts and first.test.texts == again.test.texts
    assert first.validation.texts == again.validation.texts
    assert set(first.test.texts) != set(other.test.texts)


def test_class_too_small_for_the_split():
    data = make_dataset({"billing": 10, "refund": 2})
    with pytest.raises(DataError) as err:
        make_splits(data)
    assert str(err.value) == (
        "Class 'refund' has only 2 examples; TransferLab needs at least 3 of each class "
        "(1 to train on, 1 to validate, 1 to test). Add examples of 'refund' or remove that class."
    )


def test_user_given_validation_and_test_are_used_as_is(tmp_path):
    train = load_text_dataset(
        write(
            tmp_path / "train.csv",
            "text,label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(10)),
        )
    )
    val = load_text_dataset(
        write(tmp_path / "val.csv", "text,label\nv1,b\nv2,a\n"),
        label_names=train.label_names,
    )
    test = load_text_dataset(
        write(tmp_path / "test.csv", "text,label\nx1,a\n"),
        label_names=train.label_names,
    )

    both = make_splits(train, validation=val, test=test)
    assert both.validation is val and both.test is test
    assert len(both.train) == 10

    only_test = make_splits(train, test=test, validation_fraction=0.2)
    assert only_test.test is test
    assert only_test.validation.class_counts() == {"a": 1, "b": 1}
    assert len(only_test.train) == 8

    # With a test file given, two of a class are enough (1 to train on, 1 to validate).
    small = make_dataset({"x": 2, "y": 2})
    small_test = TextDataset(
        texts=["t"],
        labels=[0],
        label_names=["x", "y"],
        source="t.csv",
        text_column="text",
        label_column="label",
        warnings=[],
    )
    assert len(make_splits(small, test=small_test).train) == 2
    with pytest.raises(DataError, match=r"at least 2 of each class \(1 to train on, 1 to validate\)"):
        make_splits(make_dataset({"x": 1, "y": 2}), test=small_test)


def test_given_split_with_other_classes_is_refused():
    data = make_dataset({"a": 5, "b": 5})
    other = make_dataset({"a": 2, "c": 2})
    with pytest.raises(DataError, match=r"test file 'made\.csv' has the classes \['a', 'c'\]"):
        make_splits(data, test=other)


@pytest.mark.parametrize(("validation_fraction", "test_fraction"), [(-0.1, 0.2), (0.1, 1.0), (0.5, 0.5)])
def test_bad_fractions(validation_fraction, test_fraction):
    with pytest.raises(ConfigError, match="fraction"):
        make_splits(
            make_dataset({"a": 10, "b": 10}),
            validation_fraction=validation_fraction,
            test_fraction=test_fraction,
        )


# --------------------------------------------------------------------------- summary and demo data


def test_describe(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\nab,x\nabcd,y\nabcdef,x\n,y\n")
    summary = describe(load_text_dataset(path))
    assert summary["rows"] == 3
    assert summary["classes"] == ["x", "y"]
    assert summary["class_counts"] == {"x": 2, "y": 1}
    assert summary["text_length"] == {"min": 2, "median": 4, "p95": 5, "max": 6}
    assert summary["dropped_empty_text"] == 1
    assert summary["warnings"] == ["Dropped 1 row with an empty text in column 'text' (row 5)."]


def test_real_demo_file():
    df, warnings = read_table(DEMO)
    assert warnings == []
    assert len(df) == 5882
    assert guess_columns(df, source=DEMO.name) == ("text", "label")
    data = load_text_dataset(DEMO)
    counts = data.class_counts()
    assert counts == {"ham": 4108, "spam": 1774}
    assert sum(counts.values()) + data.dropped_empty_text + data.dropped_missing_label + data.duplicates_removed == 5882
    splits = make_splits(data)
    assert len(splits.train) + len(splits.validation) + len(splits.test) == len(data)
