"""Labeled images from a ZIP or a folder: layouts, formats, plain-language errors and safe unpacking.

Every ZIP here is built in the test from images PIL draws; nothing imports torch.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import engine.data.archives as archives
import engine.data.images as images
from engine.core.errors import DataError
from engine.core.formats import IMAGE_EXTENSIONS, MIN_IMAGES_PER_CLASS, is_image_data
from engine.data.images import ImageDataset, describe_images, list_images, load_image_dataset, open_image, sample_images

DEMO = Path(__file__).resolve().parent.parent / "data" / "fashion_demo.zip"
DEMO_CLASSES = ["ankle-boot", "bag", "coat", "dress", "pullover", "sandal", "shirt", "sneaker", "t-shirt", "trouser"]


def image_bytes(mode: str = "RGB", size: tuple[int, int] = (16, 16), seed: int = 0, fmt: str = "PNG", **save) -> bytes:
    """A small image of random pixels (so no two files are alike), encoded as ``fmt``."""
    rng = np.random.default_rng(seed)
    im = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **save)
    return buf.getvalue()


def make_zip(path: Path, entries: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    """A ZIP whose entry names are written exactly as given (no clean-up by zipfile)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # Unix, where the mode bits mean something
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def class_entries(counts: dict[str, int], prefix: str = "", seed: int = 0) -> dict[str, bytes]:
    entries = {}
    for c, (name, n) in enumerate(counts.items()):
        for i in range(n):
            entries[f"{prefix}{name}/{i:03d}.png"] = image_bytes(seed=seed + 100 * c + i)
    return entries


def class_zip(path: Path, counts: dict[str, int], prefix: str = "", extra: dict[str, bytes] | None = None) -> Path:
    return make_zip(path, {**class_entries(counts, prefix), **(extra or {})})


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


# --------------------------------------------------------------------------- the demo and the cache


def test_demo_zip_loads_quickly_then_from_the_cache(workspace):
    start = time.perf_counter()
    data = load_image_dataset(DEMO)
    first = time.perf_counter() - start
    assert first < 5, f"first load took {first:.1f} s"
    assert len(data) == 1000 and data.label_names == DEMO_CLASSES
    assert data.class_counts() == dict.fromkeys(DEMO_CLASSES, 100)
    assert data.source == "fashion_demo.zip" and data.warnings == [] and data.skipped == []
    assert Path(data.root).parent == (workspace / "cache" / "images").resolve()
    assert all(Path(p).is_file() and Path(p).is_relative_to(data.root) for p in data.paths)
    with zipfile.ZipFile(DEMO) as zf:
        assert sorted(data.files) == sorted(zf.namelist())
    assert all(data.label_names[y] == f.split("/")[0] for f, y in zip(data.files, data.labels, strict=True))

    start = time.perf_counter()
    again = load_image_dataset(DEMO)
    cached = time.perf_counter() - start
    assert cached < 1, f"cached load took {cached:.2f} s"
    assert again.paths == data.paths and again.labels == data.labels
    assert [p.name for p in (workspace / "cache" / "images").iterdir()] == [Path(data.root).name]  # no temp left

    # A file removed from the cache is noticed, and the ZIP unpacked again.
    Path(data.paths[0]).unlink()
    third = load_image_dataset(DEMO)
    assert Path(third.paths[0]).is_file() and len(third) == 1000


def test_demo_images_open_as_rgb(workspace):
    data = load_image_dataset(DEMO)
    im = open_image(data.paths[0])
    assert im.mode == "RGB" and im.size == (28, 28)
    summary = describe_images(data)
    assert summary["rows"] == 1000 and summary["classes"] == DEMO_CLASSES
    assert summary["image_size"]["median_width"] == 28 and summary["image_size"]["max_height"] == 28
    assert summary["image_size"]["sampled"] == 200 and summary["image_size"]["modes"] == {"L": 200}
    assert summary["skipped"] == [] and summary["ignored_files"] == 0


# --------------------------------------------------------------------------- formats and modes


def test_every_format_and_mode_becomes_rgb(workspace, tmp_path):
    transparent = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    palette = Image.new("P", (10, 10), 0)
    palette.putpalette([0, 0, 0] + [255, 0, 0] * 255)
    gif = io.BytesIO()
    Image.new("RGB", (12, 12), (255, 0, 0)).save(
        gif, format="GIF", save_all=True, append_images=[Image.new("RGB", (12, 12), (0, 0, 255))]
    )
    sixteen = Image.new("I;16", (6, 6))
    sixteen.putdata([128 * 257] * 36)

    def encode(im: Image.Image, fmt: str, **save) -> bytes:
        buf = io.BytesIO()
        im.save(buf, format=fmt, **save)
        return buf.getvalue()

    samples = {
        "a/gray.png": (encode(Image.new("L", (10, 10), 100), "PNG"), (100, 100, 100)),
        "a/clear.png": (encode(transparent, "PNG"), (255, 255, 255)),  # laid on white
        "a/palette.png": (encode(palette, "PNG", transparency=0), (255, 255, 255)),
        "a/cmyk.jpg": (encode(Image.new("CMYK", (10, 10), (0, 255, 255, 0)), "JPEG", quality=95), None),
        "a/two-frames.gif": (gif.getvalue(), (255, 0, 0)),  # the first frame
        "a/sixteen-bit.png": (encode(sixteen, "PNG"), (128, 128, 128)),  # scaled, not clipped to white
        "b/photo.jpeg": (image_bytes(fmt="JPEG", seed=1), None),
        "b/bitmap.bmp": (image_bytes(fmt="BMP", seed=2), None),
        "b/lossless.webp": (encode(Image.new("RGB", (10, 10), (0, 200, 0)), "WEBP", lossless=True), (0, 200, 0)),
        "b/UPPER.PNG": (image_bytes(seed=3), None),
        "b/rgb.png": (image_bytes(seed=4), None),
    }
    assert {Path(n).suffix.lower() for n in samples} == IMAGE_EXTENSIONS
    path = make_zip(tmp_path / "mixed.zip", {n: b for n, (b, _) in samples.items()})
    data = load_image_dataset(path)
    assert sorted(data.files) == sorted(samples) and data.skipped == []
    assert data.class_counts() == {"a": 6, "b": 5}
    for name, file in zip(data.files, data.paths, strict=True):
        im = open_image(file)
        assert im.mode == "RGB", name
        expected = samples[name][1]
        if expected is not None:
            assert max(abs(a - b) for a, b in zip(im.getpixel((0, 0)), expected, strict=True)) <= 2, name
    cmyk = open_image(data.paths[data.files.index("a/cmyk.jpg")]).getpixel((0, 0))
    assert cmyk[0] > 200 and cmyk[1] < 50  # cyan-free, full magenta and yellow: red


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (20, 10), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    path = tmp_path / "phone.jpg"
    im.save(path, exif=exif)
    assert Image.open(path).size == (20, 10)
    assert open_image(path).size == (10, 20)


def test_open_image_accepts_file_objects_and_refuses_garbage(tmp_path):
    assert open_image(io.BytesIO(image_bytes(size=(7, 5)))).size == (7, 5)
    with pytest.raises(DataError, match="^'the image' cannot be used: it is not a JPEG"):
        open_image(io.BytesIO(b"nope"))
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(DataError, match=r"'notes.png' cannot be used: it is not a JPEG, PNG"):
        open_image(bad)
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(image_bytes(size=(64, 64), fmt="JPEG")[:600])
    with pytest.raises(DataError, match="cut short"):
        open_image(truncated)
    with pytest.raises(DataError, match="does not exist"):
        open_image(tmp_path / "missing.png")


# --------------------------------------------------------------------------- layouts


def test_one_wrapping_folder_is_fine(workspace, tmp_path):
    path = class_zip(tmp_path / "fashion.zip", {"t-shirt": 5, "bag": 6}, prefix="fashion/")
    data = load_image_dataset(path)
    assert data.label_names == ["bag", "t-shirt"] and data.class_counts() == {"bag": 6, "t-shirt": 5}
    assert data.files[0] == "fashion/bag/000.png"  # names as the user sees them in the ZIP


def test_windows_backslash_names_are_folders(workspace, tmp_path):
    entries = {name.replace("/", "\\"): data for name, data in class_entries({"cat": 5, "dog": 5}).items()}
    data = load_image_dataset(make_zip(tmp_path / "windows.zip", entries))
    assert data.class_counts() == {"cat": 5, "dog": 5} and "cat/000.png" in data.files


def test_numeric_class_folders_sort_as_numbers(workspace, tmp_path):
    data = load_image_dataset(class_zip(tmp_path / "digits.zip", {"10": 5, "2": 5, "1": 5}))
    assert data.label_names == ["1", "2", "10"]


def test_images_outside_class_folders_are_left_out_with_a_note(workspace, tmp_path):
    path = class_zip(tmp_path / "mixed.zip", {"cat": 5, "dog": 5}, extra={"stray.png": image_bytes(seed=9)})
    data = load_image_dataset(path)
    assert len(data) == 10 and "stray.png" not in data.files
    assert any("Left out 1 image" in w and "'stray.png'" in w for w in data.warnings)


def test_labels_csv_with_a_zip_matches_paths_base_names_and_stems(workspace, tmp_path):
    entries = {f"img/{i:03d}.png": image_bytes(seed=i) for i in range(14)}
    path = make_zip(tmp_path / "flat.zip", entries)
    labels = tmp_path / "labels.csv"
    rows = ["file,label,notes"]
    for i in range(12):  # 012 and 013 are not listed
        name = [f"img/{i:03d}.png", f"{i:03d}.png", f"{i:03d}"][i % 3]  # full path, base name, stem
        rows.append(f"{name},{'cat' if i % 2 else 'dog'},note {i}")
    labels.write_text("\n".join(rows) + "\n")
    data = load_image_dataset(path, labels_file=labels)
    assert data.label_names == ["cat", "dog"] and len(data) == 12
    by_file = dict(zip(data.files, (data.label_names[y] for y in data.labels), strict=True))
    assert by_file["img/001.png"] == "cat" and by_file["img/002.png"] == "dog" and by_file["img/009.png"] == "cat"
    assert any("Left out 2 images" in w and "'img/012.png'" in w for w in data.warnings)


def test_labels_csv_with_a_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(10):
        (folder / f"p{i}.jpg").write_bytes(image_bytes(fmt="JPEG", seed=i))
    labels = folder / "labels.tsv"  # beside the images: not reported as an ignored file
    labels.write_text("image\tspecies\n" + "".join(f"p{i}.jpg\t{['ant', 'bee'][i % 2]}\n" for i in range(10)))
    data = load_image_dataset(folder, labels_file=labels)
    assert data.class_counts() == {"ant": 5, "bee": 5} and data.root == str(folder.resolve())
    assert data.ignored_files == 0 and data.warnings == []
    assert data.paths[0] == str(folder.resolve() / "p0.jpg") and data.source == "photos"


def test_labels_csv_naming_files_not_in_the_zip(workspace, tmp_path):
    path = make_zip(tmp_path / "flat.zip", {f"{i}.png": image_bytes(seed=i) for i in range(10)})
    labels = tmp_path / "labels.csv"
    rows = [f"{i}.png,{'a' if i % 2 else 'b'}" for i in range(10)] + [f"ghost{i}.png,a" for i in range(7)]
    labels.write_text("filename,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError) as err:
        load_image_dataset(path, labels_file=labels)
    message = str(err.value)
    assert "'labels.csv' names 7 files that are not in 'flat.zip'" in message
    assert "'ghost0.png' (row 12)" in message and "and 2 more" in message


def test_labels_csv_without_a_file_name_column(workspace, tmp_path):
    path = make_zip(tmp_path / "flat.zip", {f"{i}.png": image_bytes(seed=i) for i in range(6)})
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\n" + "".join(f"x{i},a\n" for i in range(6)))
    with pytest.raises(DataError, match=r"None of the columns of 'labels.csv' \('id', 'label'\) holds the file names"):
        load_image_dataset(path, labels_file=labels)


# --------------------------------------------------------------------------- errors users can cause


def test_a_renamed_csv_is_not_a_zip(workspace, tmp_path):
    path = tmp_path / "images.zip"
    path.write_text("file,label\na.png,cat\n")
    with pytest.raises(DataError) as err:
        load_image_dataset(path)
    assert "'images.zip' is not a ZIP archive" in str(err.value)
    assert "renamed" in str(err.value) and "one folder per class" in str(err.value)


def test_a_truncated_zip_is_not_a_zip(workspace, tmp_path):
    whole = class_zip(tmp_path / "whole.zip", {"cat": 5, "dog": 5}).read_bytes()
    path = tmp_path / "cut.zip"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(
        DataError, match="'cut.zip' is not a ZIP archive: it starts like a ZIP archive but is incomplete"
    ):
        load_image_dataset(path)


def test_a_table_file_is_not_image_data(tmp_path):
    path = tmp_path / "texts.csv"
    path.write_text("text,label\nhi,a\n")
    with pytest.raises(DataError, match="'texts.csv' is not a ZIP archive or a folder of images"):
        load_image_dataset(path)


def test_a_zip_without_images_lists_what_it_holds(workspace, tmp_path):
    path = make_zip(tmp_path / "docs.zip", {"a.txt": b"x", "b.csv": b"y", "scans/c.tif": b"z", ".DS_Store": b"junk"})
    with pytest.raises(DataError) as err:
        load_image_dataset(path)
    message = str(err.value)
    assert "'docs.zip' holds no images: it holds 3 files ('a.txt', 'b.csv', 'scans/c.tif')" in message
    assert "none is a JPEG, PNG, BMP, WebP or GIF image" in message
    assert "TIFF images: convert them to PNG or JPEG" in message and "DS_Store" not in message


def test_an_empty_zip(workspace, tmp_path):
    with pytest.raises(DataError, match="holds no images: it holds no files"):
        load_image_dataset(make_zip(tmp_path / "empty.zip", {}))


def test_images_at_the_top_level_need_folders_or_a_labels_file(workspace, tmp_path):
    path = make_zip(
        tmp_path / "flat.zip", {**{f"{i}.png": image_bytes(seed=i) for i in range(6)}, "labels.csv": b"file,label\n"}
    )
    with pytest.raises(DataError) as err:
        load_image_dataset(path)
    message = str(err.value)
    assert "are not in class folders (for example '0.png' is at the top level)" in message
    assert "folder named after the class" in message and "CSV file with two columns" in message
    assert "The ZIP holds 'labels.csv': upload that file as the labels file" in message


def test_one_class_is_not_enough(workspace, tmp_path):
    with pytest.raises(DataError, match=r"has only one class, 'cat' \(6 images\).*at least two"):
        load_image_dataset(class_zip(tmp_path / "cats.zip", {"cat": 6}))


def test_a_class_with_too_few_images_is_named(workspace, tmp_path):
    path = class_zip(tmp_path / "small.zip", {"cat": 6, "dog": 3, "eel": 1})
    with pytest.raises(DataError) as err:
        load_image_dataset(path)
    message = str(err.value)
    assert "class 'dog' has 3 images; class 'eel' has 1 image" in message
    assert f"at least {MIN_IMAGES_PER_CLASS} images of each class" in message and "'cat'" not in message


def test_split_folders_are_recognised(workspace, tmp_path):
    entries = {**class_entries({"cat": 5, "dog": 5}, "train/"), **class_entries({"cat": 5, "dog": 5}, "test/", 50)}
    with pytest.raises(DataError, match=r"'test', 'train'.*already split into training and test sets"):
        load_image_dataset(make_zip(tmp_path / "splits.zip", entries))


def test_other_files_are_ignored_and_counted_system_files_silently(workspace, tmp_path):
    extra = {
        "README.txt": b"about",
        "cat/scan.tiff": b"tiff",
        ".DS_Store": b"x",
        "__MACOSX/cat/._000.png": b"resource fork",
        "dog/Thumbs.db": b"x",
        "dog/.hidden.png": b"x",
        "empty/": b"",
    }
    data = load_image_dataset(class_zip(tmp_path / "messy.zip", {"cat": 5, "dog": 5}, extra=extra))
    assert data.class_counts() == {"cat": 5, "dog": 5} and data.ignored_files == 2
    text = " ".join(data.warnings)
    assert "Ignored 2 files that are not images ('README.txt', 'cat/scan.tiff')" in text
    assert "1 file are TIFF images" in text and "'empty'" in text  # an empty folder is not a class
    for junk in ("DS_Store", "MACOSX", "Thumbs", "hidden"):
        assert junk not in text
    assert not (Path(data.root) / "README.txt").exists()  # only images are unpacked


def test_validation_data_must_use_the_training_classes(workspace, tmp_path):
    ok = load_image_dataset(class_zip(tmp_path / "val.zip", {"dog": 2}), label_names=["dog", "cat"])
    assert ok.label_names == ["dog", "cat"] and ok.class_counts() == {"dog": 2, "cat": 0}  # small is fine here
    with pytest.raises(DataError) as err:
        load_image_dataset(class_zip(tmp_path / "bad.zip", {"cat": 2, "bird": 3}), label_names=["cat", "dog"])
    message = str(err.value)
    assert "'bad.zip' has the class 'bird' (3 images), which is not one of the training data's classes" in message
    assert "'cat', 'dog'" in message


# --------------------------------------------------------------------------- unsafe archives


@pytest.mark.parametrize(
    "entry",
    ["../evil-dotdot.png", "cat/../../evil-deep.png", "C:\\evil-drive.png", "..\\evil-backslash.png", "ABSOLUTE"],
)
def test_entries_that_escape_the_folder_are_refused(workspace, tmp_path, entry):
    outside = tmp_path / "outside"
    outside.mkdir()
    if entry == "ABSOLUTE":
        entry = str(outside / "evil-absolute.png")
    archive = tmp_path / "zips" / "evil.zip"
    archive.parent.mkdir()
    class_zip(archive, {"cat": 5, "dog": 5}, extra={entry: image_bytes(seed=99)})
    before = files_under(tmp_path)
    with pytest.raises(DataError) as err:
        load_image_dataset(archive)
    assert f"holds the entry '{entry}', whose path points outside" in str(err.value)
    assert "does not unpack such archives" in str(err.value)
    assert files_under(tmp_path) - before == {"workspace", "workspace/cache", "workspace/cache/images"}  # all empty
    with pytest.raises(DataError, match="points outside"):
        list_images(archive)


def test_link_entries_are_refused(workspace, tmp_path):
    archive = make_zip(
        tmp_path / "link.zip", class_entries({"cat": 5, "dog": 5}), links={"cat/passwd.png": "/etc/passwd"}
    )
    with pytest.raises(DataError, match=r"'cat/passwd.png', which is a link to another place"):
        load_image_dataset(archive)
    assert not any((workspace / "cache" / "images").iterdir())


def test_safety_check_inside_the_unpacker(tmp_path):
    # _plan_zip refuses these first; the unpacker checks again each path it builds.
    archive = make_zip(tmp_path / "evil.zip", {"../x.png": b"x"})
    with zipfile.ZipFile(archive) as zf:
        info = zf.infolist()[0]
        with pytest.raises(DataError, match="points outside"):
            archives._unpack_into(zf, [(info, "../x.png")], tmp_path / "into", "evil.zip")
    assert not (tmp_path / "x.png").exists()


# --------------------------------------------------------------------------- bombs and limits


def test_declared_size_over_the_limit_is_refused(workspace, tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "MAX_TOTAL_UNCOMPRESSED", 1024**2)
    zeros = b"\x89PNG" + bytes(5 * 1024**2)  # 5 MB that deflate to a few KB
    archive = class_zip(tmp_path / "bomb.zip", {"cat": 5, "dog": 5}, extra={"cat/bomb.png": zeros})
    assert archive.stat().st_size < 100_000
    with pytest.raises(DataError, match=r"The images in 'bomb.zip' unpack to 5.0 MB; TransferLab unpacks up to 1.0 MB"):
        load_image_dataset(archive)
    assert not any((workspace / "cache" / "images").iterdir())


def _patch_sizes(archive: Path, entry: str, size: int) -> None:
    """Make the headers of ``entry`` claim ``size`` unpacked bytes (what a crafted archive does)."""
    raw = bytearray(archive.read_bytes())
    name = entry.encode()
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (at := raw.find(signature, start)) != -1:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if raw[name_at : name_at + len(name)] == name:
                raw[at + offset : at + offset + 4] = struct.pack("<I", size)
            start = at + 4
    archive.write_bytes(bytes(raw))


def test_an_entry_bigger_than_its_header_says_is_not_unpacked(workspace, tmp_path):
    big = image_bytes(size=(64, 64), seed=5)
    archive = class_zip(tmp_path / "liar.zip", {"cat": 6, "dog": 6}, extra={"cat/liar.png": big})
    _patch_sizes(archive, "cat/liar.png", 100)
    with zipfile.ZipFile(archive) as zf:
        assert zf.getinfo("cat/liar.png").file_size == 100
    data = load_image_dataset(archive)
    assert len(data) == 12 and [name for name, _ in data.skipped] == ["cat/liar.png"]
    assert "damaged inside the ZIP" in data.skipped[0][1]
    assert not (Path(data.root) / "cat" / "liar.png").exists()
    assert any("Skipped 1 damaged or unreadable image: 'cat/liar.png'" in w for w in data.warnings)


def test_the_copy_counts_bytes_actually_read():
    with pytest.raises(DataError, match="unpacks to more than the 100 bytes its ZIP header says"):
        archives._copy_capped(io.BytesIO(b"x" * 5000), io.BytesIO(), 100, 10**9, "a.png", "a.zip")
    with pytest.raises(DataError, match="unpack to more than"):
        archives._copy_capped(io.BytesIO(b"x" * 5000), io.BytesIO(), 10**9, 1000, "a.png", "a.zip")
    out = io.BytesIO()
    assert archives._copy_capped(io.BytesIO(b"x" * 5000), out, 5000, 5000, "a.png", "a.zip") == 5000
    assert out.getvalue() == b"x" * 5000


def test_too_many_entries(workspace, tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "MAX_MEMBERS", 9)
    with pytest.raises(DataError, match="holds 10 entries; TransferLab unpacks ZIPs of up to 9"):
        load_image_dataset(class_zip(tmp_path / "many.zip", {"cat": 5, "dog": 5}))


def test_images_over_the_pixel_limit_are_skipped_before_decoding(workspace, tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    extra = {"cat/huge.png": image_bytes(size=(64, 64), seed=7)}
    archive = class_zip(tmp_path / "big.zip", {"cat": 10, "dog": 10}, extra=extra)
    decoded = []
    real_load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self.size) or real_load(self))
    data = load_image_dataset(archive)
    assert len(data) == 20 and data.skipped[0][0] == "cat/huge.png"
    assert data.skipped[0][1].startswith("too large: 64×64 pixels (0.0041 megapixels; TransferLab reads up to 0.001)")
    assert (64, 64) not in decoded and (16, 16) in decoded  # the header was enough to refuse it
    with pytest.raises(DataError, match=r"'huge.png' is too large: 64×64 pixels"):
        open_image(Path(data.root) / "cat" / "huge.png")


def test_corrupt_images_are_skipped_and_listed(workspace, tmp_path):
    extra = {
        "cat/cut.png": image_bytes(size=(64, 64), seed=1)[:300],
        "dog/cut.jpg": image_bytes(size=(64, 64), seed=2, fmt="JPEG")[:400],
        "dog/text.png": b"this is not a picture",
    }
    data = load_image_dataset(class_zip(tmp_path / "some-bad.zip", {"cat": 14, "dog": 14}, extra=extra))
    assert len(data) == 28 and data.class_counts() == {"cat": 14, "dog": 14}
    skipped = dict(data.skipped)
    assert list(skipped) == ["cat/cut.png", "dog/cut.jpg", "dog/text.png"]
    assert "cut short" in skipped["cat/cut.png"] and "cut short" in skipped["dog/cut.jpg"]
    assert "not a JPEG, PNG" in skipped["dog/text.png"]
    assert describe_images(data)["skipped"][0] == {"file": "cat/cut.png", "reason": skipped["cat/cut.png"]}
    assert all(Path(p).name not in {"cut.png", "cut.jpg", "text.png"} for p in data.paths)


def test_more_than_a_tenth_corrupt_is_an_error(workspace, tmp_path):
    extra = {f"cat/bad{i}.png": b"garbage" for i in range(3)}
    with pytest.raises(DataError, match=r"3 images of 15 in 'bad.zip' cannot be used \(more than 10%\)"):
        load_image_dataset(class_zip(tmp_path / "bad.zip", {"cat": 6, "dog": 6}, extra=extra))


def test_a_class_emptied_by_damage_is_named(workspace, tmp_path):
    entries = {**class_entries({"cat": 50}), **{f"dog/{i}.png": b"garbage" for i in range(2)}}
    entries.update({f"dog/ok{i}.png": image_bytes(seed=200 + i) for i in range(3)})
    with pytest.raises(DataError, match=r"class 'dog' has 3 images \(2 more damaged\)"):
        load_image_dataset(make_zip(tmp_path / "dogs.zip", entries))


# --------------------------------------------------------------------------- folders in place


def test_a_folder_is_read_in_place(tmp_path):
    folder = tmp_path / "pets"
    for name, data in class_entries({"cat": 5, "dog": 6}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder / ".DS_Store").write_bytes(b"x")
    data = load_image_dataset(folder)
    assert data.class_counts() == {"cat": 5, "dog": 6} and data.source == "pets"
    assert data.root == str(folder.resolve()) and data.paths[0] == str(folder.resolve() / "cat" / "000.png")
    assert data.warnings == [] and data.ignored_files == 0


def test_a_folder_with_a_link_to_outside_is_refused(tmp_path):
    folder = tmp_path / "pets"
    for name, data in class_entries({"cat": 5, "dog": 5}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder / "cat" / "inside.png").symlink_to(folder / "dog" / "000.png")  # inside: fine
    assert load_image_dataset(folder).class_counts() == {"cat": 6, "dog": 5}
    secret = tmp_path / "secret.png"
    secret.write_bytes(image_bytes())
    (folder / "cat" / "outside.png").symlink_to(secret)
    with pytest.raises(DataError, match=r"'cat/outside.png' in the folder 'pets' is a link to .*outside the folder"):
        load_image_dataset(folder)
    (folder / "cat" / "outside.png").unlink()
    (folder / "linked").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(DataError, match="'linked' in the folder 'pets' is a link"):
        list_images(folder)


# --------------------------------------------------------------------------- images to predict on


def test_list_images_from_a_zip_in_any_layout(workspace, tmp_path):
    entries = {"a.png": image_bytes(seed=1), "deep/er/b.jpg": image_bytes(seed=2, fmt="JPEG"), "c.gif": b"broken"}
    entries.update({"notes.txt": b"x", "__MACOSX/._a.png": b"x"})
    paths, names, root, skipped = list_images(make_zip(tmp_path / "new.zip", entries))
    assert names == ["a.png", "deep/er/b.jpg"] and skipped[0][0] == "c.gif" and len(skipped) == 1
    assert paths == [os.path.join(root, "a.png"), os.path.join(root, "deep", "er", "b.jpg")]
    assert all(open_image(p).mode == "RGB" for p in paths)
    assert Path(root).parent == (workspace / "cache" / "images").resolve()


def test_list_images_from_a_folder_and_one_file(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "x.webp").write_bytes(image_bytes(fmt="WEBP"))
    (tmp_path / "in" / "sub" / "y.bmp").write_bytes(image_bytes(fmt="BMP"))
    paths, names, root, skipped = list_images(tmp_path / "in")
    assert names == ["sub/y.bmp", "x.webp"] and root == str((tmp_path / "in").resolve()) and skipped == []
    assert list_images(tmp_path / "in" / "x.webp")[1] == ["x.webp"]


def test_list_images_with_nothing_usable(workspace, tmp_path):
    with pytest.raises(DataError, match=r"holds no images: it holds 1 file \('readme.md'\)"):
        list_images(make_zip(tmp_path / "none.zip", {"readme.md": b"x"}))
    with pytest.raises(DataError, match="None of the 2 images in 'broken.zip' can be used"):
        list_images(make_zip(tmp_path / "broken.zip", {"a.png": b"x", "b.jpg": b"y"}))


# --------------------------------------------------------------------------- small helpers


def test_is_image_data(tmp_path):
    (tmp_path / "folder").mkdir()
    assert is_image_data(tmp_path / "folder") and is_image_data("photos.zip") and is_image_data("PHOTOS.ZIP")
    for name in ("texts.csv", "texts.tsv", "texts.xlsx", "texts.json", "texts.parquet", "texts.jsonl"):
        assert not is_image_data(tmp_path / name)


def test_subset_files_and_samples(workspace, tmp_path):
    data = load_image_dataset(class_zip(tmp_path / "pets.zip", {"cat": 8, "dog": 6}))
    part = data.subset([0, 13])
    assert isinstance(part, ImageDataset) and len(part) == 2
    assert part.files == ["cat/000.png", "dog/005.png"] and part.class_counts() == {"cat": 1, "dog": 1}
    assert part.label_names == data.label_names and part.label_names is not data.label_names
    samples = sample_images(data, per_class=3, seed=1)
    assert list(samples) == ["cat", "dog"] and all(len(v) == 3 for v in samples.values())
    assert all("/cat/" in p for p in samples["cat"]) and samples == sample_images(data, per_class=3, seed=1)
    assert sample_images(data, per_class=3, seed=2) != samples
    assert len(sample_images(data, per_class=50)["dog"]) == 6
