"""Files the pages offer for download, built in memory."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def zip_folder(folder: str | Path, root_name: str = "model") -> bytes:
    """A ZIP of ``folder`` (every file, under ``root_name/``), built in memory.

    Unzipped, ``root_name/`` is a model folder that ``engine.predict.Predictor`` loads (and,
    for backbone/ or adapter/, plain transformers or peft).
    """
    folder = Path(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{root_name}/{path.relative_to(folder).as_posix()}")
    return buffer.getvalue()
