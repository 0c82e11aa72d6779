"""The formats a trained model leaves TransferLab in: what each one is, in words, for the CLI and Results.

Torch-free (the dashboard reads it). Each format's exporter lives in ``engine.export`` under the module
named here; ``python -m engine.export --run RUN --format NAME --out DIR`` runs it.

>>> sorted(EXPORT_FORMATS)
['folder', 'onnx', 'zip']
>>> EXPORT_FORMATS["onnx"].module
'engine.export.onnx'
"""

from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.core.catalog import find
from engine.core.reporting import base_model_id


@dataclass(frozen=True)
class ExportFormat:
    name: str
    label: str  # the button on Results
    module: str  # engine.export.<...> with ``export(run_dir, out, format_name) -> dict``
    describe: str  # what the receiver gets, in plain words


EXPORT_FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat(
            "folder",
            "Model folder",
            "engine.export.folder",
            "Everything the model needs in one folder: the weights (the pre-trained part included), the "
            "tokenizer or the picture preparation, the labels and a model card. Loads on any computer.",
        ),
        ExportFormat(
            "zip",
            "Model folder (ZIP)",
            "engine.export.folder",
            "Everything the model needs in one ZIP file: the weights (the pre-trained part included), the tokenizer "
            "or the picture preparation, the labels and a model card saying how to load it, with or without "
            "TransferLab. Loads on any computer.",
        ),
        ExportFormat(
            "onnx",
            "ONNX (ZIP)",
            "engine.export.onnx",
            "An ONNX file any language can run with onnxruntime (no Python ML libraries), with the tokenizer or "
            "the picture preparation, the labels and a small predict.py.",
        ),
    )
}


EXPORT_TIMEOUT_S = 900  # the dashboard gives up on building an export after this long
HF_FOLDER = "hf"  # in an exported folder: what transformers' Auto class loads, where the model maps onto one


def export_command(run: str | Path, format_name: str, out: str | Path) -> list[str]:
    """The ``python -m engine.export`` command line the dashboard runs to build a download.

    >>> export_command("runs/a", "zip", "a.zip")[1:]
    ['-m', 'engine.export', '--run', 'runs/a', '--format', 'zip', '--out', 'a.zip']
    """
    return [sys.executable, "-m", "engine.export", "--run", str(run), "--format", format_name, "--out", str(out)]


def portable_name(model: str) -> str:
    """The base model's name as an exported folder records it: a catalog name or a hub id as given, a local
    folder by its own name only (never a path of the computer that trained it).

    >>> portable_name("minilm"), portable_name("microsoft/resnet-50"), portable_name("/home/ada/models/my-bert")
    ('minilm', 'microsoft/resnet-50', 'my-bert')
    """
    if find(model) is not None or base_model_id(model):
        return model
    return Path(model).expanduser().name or "a local model"


AUTO_CLASSES = {"text": "AutoModelForSequenceClassification", "image": "AutoModelForImageClassification"}


def hf_classes_note(meta: Mapping[str, Any]) -> str | None:
    """Why a saved model (its transferlab.json) does not map onto a standard transformers class, in plain words;
    None when it does (its export then holds an ``hf/`` folder for that class).

    A map has to be exact: the same features into the same linear layer. transformers' text classes read
    the first token through an extra layer (BERT-style) or the last token into a layer without a bias
    (GPT-style); an image model's own classifier reads the features TransferLab's head reads.

    >>> print(hf_classes_note({"task": "text", "pooling": "mean", "normalize": False}))
    Not offered as a transformers AutoModelForSequenceClassification folder: this classifier reads the average of all the token vectors (mean pooling), while transformers' classes for this kind of model read the first token through an extra layer, so it would answer differently. The model card shows how to load it without TransferLab in a few lines of Python.
    >>> hf_classes_note({"task": "image", "arch": {"kind": "hf"}, "normalize": False}) is None
    True
    """
    task = str(meta.get("task", "text"))
    why = _MISMATCHES[task](meta)
    if meta.get("normalize"):
        why.append("it reads its features L2-normalised, which the transformers class does not do")
    if not why:
        return None
    return (
        f"Not offered as a transformers {AUTO_CLASSES[task]} folder: {'; '.join(why)}, so it would answer "
        "differently. The model card shows how to load it without TransferLab in a few lines of Python."
    )


def _text_mismatches(meta: Mapping[str, Any]) -> list[str]:
    if meta.get("pooling") == "last":
        return [
            "this classifier reads the last token's vector like transformers' GPT-style classes do, but its linear "
            "layer has a bias term and theirs has none"
        ]
    return [
        "this classifier reads the average of all the token vectors (mean pooling), while transformers' classes "
        "for this kind of model read the first token through an extra layer"
    ]


def _image_mismatches(meta: Mapping[str, Any]) -> list[str]:
    if (meta.get("arch") or {}).get("kind") != "hf":
        return ["its backbone (EfficientNet-Lite0) is not a transformers architecture"]
    return []


_MISMATCHES = {"text": _text_mismatches, "image": _image_mismatches}


def write_zip(folder: str | Path, out: str | Path, root_name: str) -> Path:
    """A ZIP of every file of ``folder`` under ``root_name/`` (relative paths only), written to a temp name
    beside ``out`` and renamed into place, so ``out`` is never half a file."""
    folder, out = Path(folder), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, f"{root_name}/{path.relative_to(folder).as_posix()}")
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out
