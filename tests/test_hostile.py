"""A corpus of hostile or broken inputs: tables, ZIPs, pictures, model folders, run names and settings.

Each must be refused (or read) with a plain message that says what is wrong, without a traceback and
without writing outside the workspace. The expected words are part of each case.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.core.errors import TransferLabError


# --- builders -----------------------------------------------------------------------------------------
def png(width: int = 8, height: int = 8) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge size (a decompression bomb) with almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def zip_of(path: Path, entries: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16  # a symbolic link
            zf.writestr(info, "/etc/passwd")
    return path


def pictures(n: int = 3) -> dict[str, bytes]:
    return {f"{c}/{i}.png": png() for c in ("cats", "dogs") for i in range(n)}


# --- what each case runs ------------------------------------------------------------------------------
def read_table(path: Path) -> None:
    from engine.data.text import load_text_dataset

    load_text_dataset(path)


def read_pictures(path: Path) -> None:
    from engine.data.images import load_image_dataset

    load_image_dataset(path)


def open_picture(path: Path) -> None:
    from engine.data.images import open_image

    open_image(path)


def use_model(path: Path) -> None:
    from engine.core.errors import ModelNotAvailableError
    from engine.core.resolve import model_problem

    problem = model_problem(str(path))
    if problem:
        raise ModelNotAvailableError(problem)


def name_run(name: str) -> Callable[[Path], None]:
    def start(tmp: Path) -> None:
        from engine.core import jobs
        from engine.core.config import TrainConfig

        jobs.start_run(TrainConfig(data="d.csv", model="minilm", strategy="frozen"), folder=name, root=tmp / "runs")

    return start


def settings(**kw) -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        from engine.core.config import TrainConfig

        TrainConfig(**{"data": "d.csv", "model": "minilm", "strategy": "frozen", **kw})

    return check


def model_folder(files: dict[str, bytes]) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        folder = tmp / "model"
        folder.mkdir()
        for name, data in files.items():
            (folder / name).write_bytes(data)
        return folder

    return build


def file(name: str, data: bytes) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name

    return build


def zipped(entries: dict[str, bytes], symlink: str | None = None) -> Callable[[Path], Path]:
    return lambda tmp: zip_of(tmp / "upload.zip", entries, symlink)


BERT_CONFIG = json.dumps({"model_type": "bert", "hidden_size": 8}).encode()
ROWS = "".join(f"text number {i},{'a' if i % 2 else 'b'}\n" for i in range(20))

# (id, build the input in a temp folder, what reads it, words the message must hold)
CASES: list[tuple[str, Callable[[Path], object], Callable[[object], None], str]] = [
    # tables
    ("empty-file", file("a.csv", b""), read_table, "empty"),
    ("header-only", file("a.csv", b"text,label\n"), read_table, "no data rows"),
    ("binary-as-csv", file("a.csv", bytes(range(256)) * 40), read_table, "binary data"),
    ("one-column", file("a.csv", b"text\nhello\nworld\n"), read_table, "column"),
    (
        "one-class",
        file("a.csv", ("text,label\n" + "".join(f"t{i},same\n" for i in range(20))).encode()),
        read_table,
        "class",
    ),
    (
        "labels-all-empty",
        file("a.csv", ("text,label\n" + "".join(f"t{i},\n" for i in range(20))).encode()),
        read_table,
        "label",
    ),
    (
        "texts-all-empty",
        file("a.csv", ("text,label\n" + "".join(f",{'a' if i % 2 else 'b'}\n" for i in range(20))).encode()),
        read_table,
        "text",
    ),
    ("ragged-rows", file("a.csv", ("text,label\n" + ROWS + "one,two,three,four\n").encode()), read_table, "row 22"),
    ("unclosed-quote", file("a.csv", ('text,label\n"never closed,a\n' + ROWS).encode()), read_table, "quote"),
    ("fake-xlsx", file("a.xlsx", b"PK\x03\x04 not really a workbook"), read_table, "Excel"),
    ("fake-parquet", file("a.parquet", b"PAR1 garbage"), read_table, "Parquet"),
    ("jsonl-broken-line", file("a.jsonl", b'{"text": "a", "label": "x"}\n{"text": \n'), read_table, "line 2"),
    ("json-scalar", file("a.json", b"42"), read_table, "JSON"),
    ("unknown-extension", file("a.docx", b"hello"), read_table, ".docx"),
    ("utf16-without-bom", file("a.csv", "text,label\nhi,a\n".encode("utf-16-le")), read_table, "binary data"),
    ("null-bytes", file("a.csv", b"text,label\n\0\0\0,a\n" + ROWS.encode()), read_table, "binary data"),
    # ZIPs of pictures
    ("not-a-zip", file("a.zip", b"just text"), read_pictures, "ZIP"),
    ("zip-parent-path", zipped({"../evil.png": png(), **pictures()}), read_pictures, ".."),
    ("zip-absolute-path", zipped({"/tmp/evil.png": png(), **pictures()}), read_pictures, "outside the ZIP"),
    ("zip-backslash", zipped({"cats\\..\\..\\evil.png": png(), **pictures()}), read_pictures, "\\"),
    ("zip-drive-letter", zipped({"C:/evil.png": png(), **pictures()}), read_pictures, "C:"),
    ("zip-symlink", zipped(pictures(), symlink="cats/link.png"), read_pictures, "link"),
    ("zip-no-pictures", zipped({"notes.txt": b"hello", "more/readme.md": b"x"}), read_pictures, "holds no images"),
    ("zip-one-class", zipped({f"cats/{i}.png": png() for i in range(4)}), read_pictures, "class"),
    (
        "zip-all-damaged",
        zipped({f"{c}/{i}.png": b"not a png" for c in ("a", "b") for i in range(3)}),
        read_pictures,
        "cannot be used",
    ),
    ("zip-bomb", zipped({"a/x.png": b"\0" * (60 * 1024**2), "b/y.png": png()}), read_pictures, "ZIP bomb"),
    ("zip-flat-no-labels", zipped({f"{i}.png": png() for i in range(6)}), read_pictures, "folder"),
    ("zip-empty", zipped({}), read_pictures, "holds no files"),
    # single pictures (Try it)
    ("picture-not-an-image", file("x.png", b"hello"), open_picture, "not a JPEG"),
    ("picture-50000-square", file("x.png", png_header_claiming(50_000, 50_000)), open_picture, "pixels"),
    ("picture-empty", file("x.png", b""), open_picture, "not a JPEG"),
    ("picture-truncated", file("x.png", png(64, 64)[:60]), open_picture, "cut short"),
    # model folders
    ("model-missing-folder", lambda tmp: tmp / "no-such-model", use_model, "not available"),
    ("model-empty-folder", model_folder({}), use_model, "config.json"),
    (
        "model-pickle-weights",
        model_folder({"config.json": BERT_CONFIG, "pytorch_model.bin": b"\x80\x04"}),
        use_model,
        "safetensors",
    ),
    (
        "model-garbage-config",
        model_folder({"config.json": b"{not json", "model.safetensors": b"x"}),
        use_model,
        "config.json",
    ),
    ("model-hub-id-offline", lambda tmp: "some-org/not-cached-anywhere", use_model, "offline"),
    # run names
    ("name-slash", lambda tmp: tmp, name_run("a/b"), "run name"),
    ("name-dotdot", lambda tmp: tmp, name_run(".."), "run name"),
    ("name-empty", lambda tmp: tmp, name_run("   "), "run name"),
    ("name-300-chars", lambda tmp: tmp, name_run("x" * 300), "at most 100"),
    ("name-leading-dot", lambda tmp: tmp, name_run(".hidden"), "leading dot"),
    # settings
    ("epochs-zero", lambda tmp: tmp, settings(epochs=0), "epochs"),
    ("learning-rate-negative", lambda tmp: tmp, settings(learning_rate=-1.0), "learning_rate"),
    ("unknown-strategy", lambda tmp: tmp, settings(strategy="magic"), "magic"),
    ("image-size-tiny", lambda tmp: tmp, settings(image_size=8), "32 pixels"),
    ("min-steps-negative", lambda tmp: tmp, settings(min_steps=-3), "min_steps"),
]


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case, build, use, words", CASES, ids=[c[0] for c in CASES])
def test_hostile_input_gets_a_plain_message(case, build, use, words, tmp_path, workspace, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    outside = {p.name for p in tmp_path.parent.iterdir()}
    target = build(tmp_path)
    with pytest.raises(TransferLabError) as caught:
        use(target)
    message = str(caught.value)
    assert words.lower() in message.lower(), message
    assert "Traceback" not in message and len(message) < 1200 and message.strip().endswith((".", ")", "'")), message
    assert {p.name for p in tmp_path.parent.iterdir()} == outside  # nothing written beside the test's folder
