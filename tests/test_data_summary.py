"""python -m engine.data: a labeled file summarised in one pass, with the counts training would see."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from engine.core.errors import DataError
from engine.data import summary as summary_module
from engine.data.summary import summarize
from engine.data.text import load_text_dataset

ROOT = Path(__file__).resolve().parent.parent

MESSY = [
    ("the parcel never came", "shipping"),
    ("", "shipping"),  # empty text: dropped
    ("refund my card", None),  # no label: dropped
    ("the parcel never came", "shipping"),  # duplicate: removed
    ("my invoice is wrong", "billing"),
    ("my invoice is wrong", "Billing"),  # the same text with another label; labels differing in case
    ("app crashes on start", "tech"),
    ("screen stays black", "tech"),
    ("charged twice this month", "billing"),
    ("where is my order", "shipping"),
    ("login fails again", "tech"),
]


def write_messy(folder: Path, fmt: str) -> Path:
    df = pd.DataFrame(MESSY, columns=["message", "category"])
    path = folder / f"messy.{fmt}"
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "jsonl":
        df.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        df.to_parquet(path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_the_summary_counts_what_training_keeps_and_says_it_in_the_same_words(tmp_path, fmt, monkeypatch):
    path = write_messy(tmp_path, fmt)
    data = load_text_dataset(path)
    monkeypatch.setattr(summary_module, "CHUNK_ROWS", 3)  # chunk boundaries inside duplicates and conflicts
    s = summarize(path)
    assert (s["text_column"], s["label_column"]) == ("message", "category")
    assert s["rows"] == len(MESSY) and s["examples"] == len(data) == 8
    assert s["classes"] == {name: data.class_counts()[name] for name in data.label_names}
    assert s["dropped"] == {"empty_text": 1, "missing_label": 1, "duplicates": 1}
    assert s["conflicting_texts"] == 1
    assert s["problems"] == data.warnings  # the loader's notes, word for word, in its order
    assert s["text_characters"]["max"] == len("charged twice this month")
    assert s["text_words"]["max"] == 4


def test_chunks_do_not_change_the_summary(tmp_path, monkeypatch):
    path = write_messy(tmp_path, "csv")
    whole = summarize(path)
    monkeypatch.setattr(summary_module, "CHUNK_ROWS", 2)
    chunked = summarize(path)
    whole.pop("seconds"), chunked.pop("seconds")
    assert chunked == whole


def test_the_demo_file_matches_the_training_loader():
    path = ROOT / "data" / "spam_emails.csv"
    data = load_text_dataset(path)
    s = summarize(path)
    assert s["examples"] == len(data) and s["classes"] == data.class_counts()


def test_a_bad_row_late_in_a_big_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(summary_module, "CHUNK_ROWS", 10)
    lines = ["text,label"] + [f"text number {i},a" if i % 2 else f"text number {i},b" for i in range(40)]
    lines.insert(31, '"an unclosed quote,a')
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"opened in row 32 is never closed"):
        summarize(path)


def test_a_windows_file_is_read_and_said_to_be_so(tmp_path):
    path = tmp_path / "accents.csv"
    rows = [("café crème", "a"), ("naïve façade", "b"), ("déjà vu", "a"), ("über", "b")]
    path.write_bytes(("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows)).encode("cp1252"))
    s = summarize(path)
    assert s["examples"] == 4 and "read as Windows-1252" in s["problems"][0]


def test_the_command_prints_json_and_exits_2_with_a_plain_error(tmp_path):
    path = write_messy(tmp_path, "csv")
    run = [sys.executable, "-m", "engine.data"]
    done = subprocess.run([*run, str(path)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["examples"] == 8
    done = subprocess.run([*run, str(path), "--label-column", "nope"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stderr.startswith("Error: ") and "nope" in done.stderr
    assert "Traceback" not in done.stderr


def test_memory_grows_far_slower_than_the_file(tmp_path, monkeypatch):
    """Texts of about 200 characters (short reviews): twice the rows cost the summary a few dozen bytes a row
    more (a hash, a label and a row number), not the texts; the whole-file loader holds every text."""
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    monkeypatch.setattr(summary_module, "CHUNK_ROWS", 1_000)
    sizes, peaks, loader = [], [], 0
    for rows in (8_000, 16_000):
        path = tmp_path / f"big-{rows}.csv"
        texts = [" ".join(words[(i * 7 + k) % 10] for k in range(36)) + f" {i}" for i in range(rows)]
        pd.DataFrame({"text": texts, "label": [("x", "y", "z")[i % 3] for i in range(rows)]}).to_csv(path, index=False)
        del texts
        tracemalloc.start()
        try:
            assert summarize(path)["examples"] == rows
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.reset_peak()
            load_text_dataset(path)
            loader = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        sizes.append(path.stat().st_size)
    per_row = (peaks[1] - peaks[0]) / 8_000
    assert per_row < 64 < (sizes[1] - sizes[0]) / 8_000 / 3, (per_row, sizes)
    assert loader > 3 * peaks[1], (loader, peaks)


def test_the_example_of_texts_with_two_labels_is_the_one_training_names(tmp_path):
    """The bug: the Data page named the conflicting text with the smallest hash (rows 5003 and 7871 of a
    reviews file) while both loaders name the one that comes first in the file (rows 2 and 6349)."""
    from engine.data.large import load_large_text_dataset

    rows = [(f"text number {i}", label) for label in ("a", "b") for i in range(6)]  # six texts with two labels
    path = tmp_path / "clashes.csv"
    pd.DataFrame(rows + [("one more", "a")], columns=["text", "label"]).to_csv(path, index=False)
    s = summarize(path)
    assert s["conflicting_texts"] == 6
    assert "for example rows 2 and 8" in s["problems"][0]
    assert s["problems"] == load_text_dataset(path).warnings == load_large_text_dataset(path).warnings
