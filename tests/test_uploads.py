"""Uploads are stored by content hash inside the workspace, under a safe version of their name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import engine.data.uploads as uploads
from engine.core.errors import DataError
from engine.core.formats import is_image_data
from engine.data.images import load_image_dataset
from engine.data.text import load_text_dataset
from engine.data.uploads import list_uploads, safe_filename, save_upload

CSV = b"text,label\nthe parcel is late,shipping\nrefund my card,billing\n"


def test_same_bytes_same_path_without_rewriting(workspace):
    first = save_upload(CSV, "tickets.csv")
    assert first.read_bytes() == CSV and first.parent.parent == workspace / "uploads"
    os.utime(first, (1_000_000, 1_000_000))  # an old upload
    again = save_upload(CSV, "tickets.csv")
    assert again == first and again.stat().st_mtime == 1_000_000  # not written a second time
    assert [u["path"] for u in list_uploads()] == [str(first)]


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


def test_list_uploads_newest_first_and_loadable(workspace):
    old = save_upload(CSV, "old.csv")
    os.utime(old, (1_000_000, 1_000_000))
    new = save_upload(CSV.replace(b"late", b"lost"), "new.csv")
    (new.parent / ".upload-half.tmp").write_bytes(b"partial")  # a write in progress is not listed
    listed = list_uploads()
    assert [u["name"] for u in listed] == ["new.csv", "old.csv"]
    assert listed[0] == {
        "name": "new.csv",
        "path": str(new),
        "size": new.stat().st_size,
        "uploaded_at": new.stat().st_mtime,
    }
    assert load_text_dataset(listed[1]["path"]).label_names == ["billing", "shipping"]


def test_no_uploads_yet(workspace):
    assert list_uploads() == []


def test_zip_uploads_are_stored_as_they_are_and_load_as_images(workspace):
    demo = (Path(__file__).resolve().parent.parent / "data" / "fashion_demo.zip").read_bytes()
    path = save_upload(demo, "C:\\Users\\me\\fashion_demo.zip")
    assert path.name == "fashion_demo.zip" and path.read_bytes() == demo and is_image_data(path)
    assert [u["name"] for u in list_uploads()] == ["fashion_demo.zip"]
    data = load_image_dataset(path)
    assert len(data) == 1000 and data.source == "fashion_demo.zip"


def test_too_large_zips_are_refused_with_advice_about_images(workspace, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_FILE_BYTES", 1024**2)
    with pytest.raises(DataError, match="up to 1 MB. Use fewer images, or smaller ones"):
        save_upload(b"PK" + bytes(1024**2), "photos.zip")
    assert not list((workspace / "uploads").rglob("*.zip"))
