"""Uploads are stored by content hash inside the workspace, under a safe version of their name."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

import engine.data.uploads as uploads
from engine.core.errors import DataError
from engine.core.formats import is_image_data
from engine.data.images import load_image_dataset
from engine.data.text import load_text_dataset
from engine.data.uploads import list_uploads, record_training_data, safe_filename, save_upload

CSV = b"text,label\nthe parcel is late,shipping\nrefund my card,billing\n"


def test_same_bytes_same_path_without_rewriting(workspace):
    first = save_upload(CSV, "tickets.csv")
    assert first.read_bytes() == CSV and first.parent.parent == workspace / "uploads"
    os.utime(first, (1_000_000, 1_000_000))  # an old upload
    again = save_upload(CSV, "tickets.csv")
    assert again == first and again.stat().st_mtime == 1_000_000  # not written a second time
    assert len(list((workspace / "uploads").rglob("tickets.csv"))) == 1


def test_different_names_or_bytes_get_different_paths(workspace):
    a = save_upload(CSV, "tickets.csv")
    renamed = save_upload(CSV, "copy of tickets.csv")
    changed = save_upload(CSV + b"reset my password,tech\n", "tickets.csv")
    assert len({a, renamed, changed}) == 3
    assert renamed.parent == a.parent and changed.parent != a.parent  # folders are content hashes
    assert renamed.name == "copy of tickets.csv" and changed.name == "tickets.csv"


@pytest.mark.parametrize(
    "filename, expected",
    [
        ("../../x.csv", "x.csv"),
        ("..\\..\\x.tsv", "x.tsv"),
        ("/etc/passwd", "passwd"),
        ("a/b/../../../c.jsonl", "c.jsonl"),
        ("..", "upload"),
        ("", "upload"),
        (".hidden.csv", "hidden.csv"),
        ("bad\x00name<>|?.xlsx", "badname____.xlsx"),
        ("données été.parquet", "données été.parquet"),
    ],
)
def test_path_traversal_names_stay_inside_uploads(workspace, filename, expected):
    path = save_upload(CSV, filename)
    assert path.name == expected
    assert path.resolve().parent.parent == (workspace / "uploads").resolve()
    assert path.read_bytes() == CSV


def test_long_names_keep_their_extension():
    name = safe_filename("x" * 500 + ".csv")
    assert name.endswith(".csv") and len(name) <= 120


def test_too_large_uploads_are_refused_with_the_limit(workspace, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_FILE_BYTES", 10 * 1024**2)
    with pytest.raises(DataError, match="up to 10 MB"):
        save_upload(b"x" * (10 * 1024**2 + 1), "big.csv")
    assert not list((workspace / "uploads").rglob("*.csv"))


def test_only_files_that_validated_as_training_data_are_listed_the_last_validated_first(workspace, monkeypatch):
    old = save_upload(CSV, "old.csv")
    new = save_upload(CSV.replace(b"late", b"lost"), "new.csv")
    save_upload(b"text\nscore me\n", "to label.csv")  # uploaded on Try it: never validated as training data
    save_upload(b"not,a\ntable", "rejected.csv")  # refused by the Data page
    (new.parent / ".upload-half.tmp").write_bytes(b"partial")  # a write in progress is not listed
    assert list_uploads() == []
    clock = iter([1000.0, 2000.0, 3000.0])
    monkeypatch.setattr(uploads, "time", SimpleNamespace(time=lambda: next(clock)))
    record_training_data(old, rows=2, classes=2, text_column="text", label_column="label")
    record_training_data(new, rows=2, classes=2)
    listed = list_uploads()
    assert [u["name"] for u in listed] == ["new.csv", "old.csv"]
    assert listed[1] == {
        "name": "old.csv",
        "path": str(old),
        "size": old.stat().st_size,
        "rows": 2,
        "classes": 2,
        "validated_at": 1000.0,
        "text_column": "text",
        "label_column": "label",
    }
    record_training_data(old, rows=2, classes=2)  # chosen and validated again: first now
    assert [u["name"] for u in list_uploads()] == ["old.csv", "new.csv"]
    assert load_text_dataset(listed[1]["path"]).label_names == ["billing", "shipping"]


def test_the_demo_data_and_files_outside_the_uploads_are_not_recorded(workspace, tmp_path):
    record_training_data(Path(__file__).resolve().parent.parent / "data" / "spam_emails.csv", rows=5882, classes=2)
    outside = tmp_path / "x.csv"
    outside.write_bytes(CSV)
    record_training_data(outside, rows=2, classes=2)
    assert list_uploads() == [] and not (tmp_path / ".x.csv.json").exists()


def test_no_uploads_yet(workspace):
    assert list_uploads() == []


def test_zip_uploads_are_stored_as_they_are_and_load_as_images(workspace):
    demo = (Path(__file__).resolve().parent.parent / "data" / "fashion_demo.zip").read_bytes()
    path = save_upload(demo, "C:\\Users\\me\\fashion_demo.zip")
    assert path.name == "fashion_demo.zip" and path.read_bytes() == demo and is_image_data(path)
    data = load_image_dataset(path)
    assert len(data) == 1000 and data.source == "fashion_demo.zip"


def test_too_large_zips_are_refused_with_advice_about_images(workspace, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_FILE_BYTES", 1024**2)
    with pytest.raises(DataError, match="up to 1 MB. Use fewer images, or smaller ones"):
        save_upload(b"PK" + bytes(1024**2), "photos.zip")
    assert not list((workspace / "uploads").rglob("*.zip"))
