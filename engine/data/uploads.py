"""Uploaded files, stored on disk by content so later pages and later sessions can use them.

``workspace/uploads/<first 16 hex digits of the SHA-256>/<file name>``: the same bytes uploaded
again land on the same path and are not rewritten. The user's file name is kept (it names the
format and is what people recognise), with any folder parts and unsafe characters removed.
Any format is stored as it is: tables (CSV, Excel, ...) and ZIPs of images alike; reading and
checking them is :mod:`engine.data`'s job (``engine.core.formats.is_image_data`` tells which).

>>> path = save_upload(b"text,label\\nhello,a\\n", "../../my data.csv")
>>> path.name
'my data.csv'

Torch-free: the Streamlit process imports this module.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

from engine.core.errors import DataError
from engine.core.formats import MAX_FILE_BYTES, is_image_data
from engine.core.workspace import uploads_dir

_MAX_NAME = 120


def safe_filename(filename: str) -> str:
    """The last part of ``filename``, without characters that are unsafe in a file name.

    >>> safe_filename("C:\\\\Users\\\\me\\\\..\\\\notes<1>.CSV")
    'notes_1_.CSV'
    """
    name = re.split(r"[\\/]", str(filename))[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # control characters
    name = re.sub(r"[^\w.\- ()+,@]", "_", name).strip(" .")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = ext[:16]
    stem = stem.lstrip(".")[: _MAX_NAME - len(ext) - 1].strip(" .") or "upload"
    return f"{stem}.{ext}" if ext else stem


def save_upload(data: bytes, filename: str) -> Path:
    """Store uploaded bytes and return their path (the same path for the same bytes and name)."""
    name = safe_filename(filename)
    if len(data) > MAX_FILE_BYTES:
        fix = (
            "Use fewer images, or smaller ones (about 512 pixels on the long side is plenty for training)."
            if is_image_data(name)
            else "Use a sample of the rows, or split the file into smaller ones."
        )
        raise DataError(
            f"'{name}' is {len(data) / 1024**2:.0f} MB; TransferLab reads files up to "
            f"{MAX_FILE_BYTES // 1024**2} MB. {fix}"
        )
    folder = uploads_dir() / hashlib.sha256(data).hexdigest()[:16]
    path = folder / name
    if path.is_file() and path.stat().st_size == len(data):
        return path
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _facts_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.json")  # hidden: never listed as an upload itself


def record_training_data(path: str | Path, rows: int, classes: int, **facts: Any) -> None:
    """Remember that the stored upload at ``path`` validated as training data, with its size.

    Only such files are offered again as "an earlier upload": not the rejected ones, not files
    uploaded to be labelled on Try it, not labels files.
    """
    path = Path(path)
    if path.parent.parent != uploads_dir() or not path.is_file():
        return  # the demo data, or a file outside the uploads
    record = {"rows": int(rows), "classes": int(classes), "validated_at": time.time(), **facts}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".facts-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f, default=str)
        os.replace(tmp, _facts_path(path))
    except OSError:
        Path(tmp).unlink(missing_ok=True)  # a full disk: the file is simply not offered again


def list_uploads() -> list[dict[str, Any]]:
    """Earlier uploads that validated as training data, the one validated last first:
    ``[{"name", "path", "size", "rows", "classes", "validated_at", ...}]``."""
    uploads = []
    for folder in uploads_dir().iterdir():
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name.startswith(".") or not path.is_file():
                continue  # a temp file being written, or a file's facts
            try:
                facts = json.loads(_facts_path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # never validated as training data
            if not isinstance(facts, dict) or not isinstance(facts.get("validated_at"), (int, float)):
                continue
            uploads.append({**facts, "name": path.name, "path": str(path), "size": path.stat().st_size})
    uploads.sort(key=lambda u: u["validated_at"], reverse=True)
    return uploads
