"""The model downloads on Results: the self-contained model folder and the ONNX export, each as one ZIP built
when clicked by ``python -m engine.export`` in a subprocess (exporting loads the model), and what transformers'
own classes can load of it."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import streamlit as st

from engine.core.exports import (
    AUTO_CLASSES,
    EXPORT_FORMATS,
    EXPORT_TIMEOUT_S,
    HF_FOLDER,
    export_command,
    hf_classes_note,
    write_zip,
)
from engine.core.rundir import RunDir, read_object
from engine.core.words import markdown_text as md
from ui.downloads import failed, run_engine, show_failure

DOWNLOADS = (("zip", "model"), ("onnx", "onnx"))  # format, and the ZIP's name after the run's: NAME-model.zip


def build_export(run_path: str, format_name: str, root: str, key: str) -> bytes:
    """The run's model exported in ``format_name`` as the bytes of one ZIP. A format that writes a folder is zipped
    here under ``root/``; the "zip" format names its top folder after the run itself."""
    with tempfile.TemporaryDirectory(prefix="transferlab-export-") as tmp:
        written = Path(tmp) / (f"{root}.zip" if format_name == "zip" else root)
        run_engine(export_command(run_path, format_name, written), key, EXPORT_TIMEOUT_S, "the export")
        if written.is_dir():
            written = write_zip(written, Path(tmp) / f"{root}.zip", root)
        if not written.is_file():
            failed(key, "the export command finished without writing its file.")
        return written.read_bytes()


def model_downloads(run: RunDir) -> None:
    """Results: "Model folder (ZIP)" and "ONNX (ZIP)", and which transformers class loads the model (or why none)."""
    key = f"export:{run.path}"
    show_failure(key, "The model download")
    for column, (format_name, suffix) in zip(st.columns(len(DOWNLOADS)), DOWNLOADS, strict=True):
        fmt = EXPORT_FORMATS[format_name]
        stem = f"{run.name}-{suffix}"
        column.download_button(
            fmt.label,
            # Built only when clicked: a fully fine-tuned model is hundreds of MB.
            data=functools.partial(build_export, str(run.path), format_name, stem, key),
            file_name=f"{stem}.zip",
            mime="application/zip",
            icon=":material/download:",
            on_click="ignore",
            key=f"export_{format_name}",
            help=fmt.describe,
        )
    meta = read_object(run.model_dir / "transferlab.json")
    if meta is not None:
        note = hf_classes_note(meta)
        auto = AUTO_CLASSES.get(str(meta.get("task")), "Auto")
        said = f"The model folder also holds {HF_FOLDER}/, which transformers' {auto} loads without TransferLab."
        st.caption(md(note) if note else said)
