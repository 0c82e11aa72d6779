#!/usr/bin/env python3
"""Predict with a classifier exported from TransferLab as ONNX: no TransferLab, no torch, no pandas.

    python predict.py texts.csv --out predictions.csv [--text-column NAME]
    python predict.py pictures/ --out predictions.csv

Needs ``onnxruntime``, ``numpy`` and ``tokenizers`` (texts) or ``pillow`` (pictures). It writes the
input's columns (pictures: ``file``), then ``predicted_label``, ``confidence``, ``uncertain`` and one
``prob_<label>`` per class, as TransferLab's ``python -m engine.predict`` does (probabilities checked
to 1e-4 at export). Kept in TransferLab as ``engine/export/onnx_predict.py`` and copied into every
ONNX export; the rules it shares with TransferLab (uncertain, text-column hints, picture limits,
batch sizes) come from ``config.json``, written by the export from their home in TransferLab.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

MODEL_FILE = "model.onnx"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
PREPROCESSING_FILE = "preprocessing.json"

# A cell a spreadsheet would run as a formula gets a leading quote (OWASP "CSV injection"); plain numbers
# are left alone. Copied from TransferLab's engine/core/csvsafe.py (TRIGGERS, needs_escape), where the
# rule lives; a test checks the two agree.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Picture formats Pillow may decode (camera JPEGs open as "MPO" through JPEG). Copied from TransferLab's
# engine/data/images.py (_PIL_FORMATS); a test checks the two agree.
PIL_FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "GIF")
# Hidden files, macOS resource forks and Windows thumbnails are not pictures of the user's. Copied from
# TransferLab's engine/data/archives.py (_SYSTEM_FILES); a test checks the two agree.
SYSTEM_FILES = frozenset({".ds_store", "thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r"})


class PredictError(Exception):
    """A problem the person running the script can fix; printed as ``Error: ...`` (exit status 2)."""


# --- the model ---------------------------------------------------------------------------------------
def read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PredictError(f"{path} is missing: keep predict.py in the folder the model was exported to.") from None
    except (OSError, ValueError) as exc:
        raise PredictError(f"{path} cannot be read ({exc}); export the model again.") from None


class Classifier:
    """The exported model on the CPU (``threads``: the cores it may use; default: all), in batches."""

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.folder = Path(folder)
        self.config = read_config(self.folder)
        self.labels: list[str] = list(self.config["labels"])
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        if not (self.folder / MODEL_FILE).is_file():
            raise PredictError(f"{self.folder / MODEL_FILE} is missing: keep predict.py in the exported folder.")
        self.session = ort.InferenceSession(str(self.folder / MODEL_FILE), options, providers=["CPUExecutionProvider"])

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, feed)[0]


class TextClassifier(Classifier):
    def __init__(self, folder: Path, threads: int | None = None) -> None:
        super().__init__(folder, threads)
        self.tokenizer = load_tokenizer(self.folder / TOKENIZER_FILE, int(self.config["max_length"]))
        self.pad_id = int(self.config["pad_id"])

    def predict_proba(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Class probabilities, one row per text; texts run in batches of similar length (little padding)."""
        batch_size = batch_size or int(self.config["batch_size"])
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.zeros((len(ids), len(self.labels)), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self.run(pad([ids[i] for i in idx], self.pad_id))
        return out


def load_tokenizer(path: Path, max_length: int):
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # the tokenizers library raises plain Exceptions for a missing or damaged file
        raise PredictError(f"{path} cannot be read ({exc}); export the model again.") from None
    tokenizer.enable_truncation(max_length)  # what the model was trained with; longer texts are cut
    tokenizer.no_padding()  # each batch is padded to its own longest text (pad)
    return tokenizer


def pad(batch: list[list[int]], pad_id: int) -> dict[str, np.ndarray]:
    """Token ids padded on the right to the batch's longest, and the mask saying which are real."""
    width = max(len(ids) for ids in batch)
    input_ids = np.full((len(batch), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, ids in enumerate(batch):
        input_ids[row, : len(ids)] = ids
        mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


class ImageClassifier(Classifier):
    def __init__(self, folder: Path, threads: int | None = None) -> None:
        super().__init__(folder, threads)
        try:
            self.preprocessing = json.loads((self.folder / PREPROCESSING_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PredictError(f"{self.folder / PREPROCESSING_FILE} cannot be read ({exc}); export again.") from None

    def predict_proba(self, images: list[Any], batch_size: int | None = None) -> np.ndarray:
        """Class probabilities, one row per picture (RGB PIL images, e.g. from :func:`open_image`)."""
        batch_size = batch_size or int(self.config["batch_size"])
        out = np.zeros((len(images), len(self.labels)), dtype=np.float32)
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            pixels = np.stack([prepare(image, self.preprocessing) for image in chunk])
            out[start : start + len(chunk)] = self.run({"pixel_values": pixels})
        return out


# --- pictures ----------------------------------------------------------------------------------------
def open_image(path: str | Path, max_pixels: int):
    """The picture as RGB, upright (EXIF orientation applied), first frame of an animation; grayscale,
    palette, CMYK and 16-bit pictures converted, transparency laid on white: as TransferLab opens it."""
    from PIL import Image, ImageOps

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path, formats=PIL_FORMATS) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise PredictError(f"too large: {width}x{height} pixels (up to {max_pixels / 1e6:.3g} megapixels)")
            im.load()
            return to_rgb(ImageOps.exif_transpose(im))


def to_rgb(im):
    from PIL import Image

    mode = im.mode
    if mode.startswith("I") or mode == "F":
        # 16-bit and float grayscale: scale to 0..255 (a plain convert would clip most pixels to white).
        arr = np.asarray(im, dtype=np.float64)
        if mode.startswith("I;16") or (mode == "I" and arr.size and arr.max() > 255):
            arr = arr / 257.0
        elif mode == "F" and arr.size and arr.max() <= 1.0:
            arr = arr * 255.0
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8)).convert("RGB")
    if mode in ("RGBA", "LA", "La", "RGBa", "PA") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def prepare(image, spec: dict[str, Any]) -> np.ndarray:
    """An RGB picture as the model's input, ``(3, size, size)`` float32: the shorter side resized to
    ``resize`` (bicubic), the centre ``size`` x ``size`` cropped, scaled to 0..1 and normalised."""
    from PIL import Image

    width, height = image.size
    scale = spec["resize"] / min(width, height)
    resized = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BICUBIC)
    size = int(spec["size"])
    left, top = (resized.size[0] - size) // 2, (resized.size[1] - size) // 2
    cropped = resized.crop((left, top, left + size, top + size))
    array = np.asarray(cropped, dtype=np.float32) / 255.0
    mean = np.asarray(spec["mean"], dtype=np.float32)
    std = np.asarray(spec["std"], dtype=np.float32)
    return ((array - mean) / std).transpose(2, 0, 1).copy()


def list_pictures(folder: Path, extensions: set[str]) -> list[str]:
    """The pictures in a folder and its subfolders, as sorted ``/``-separated paths relative to it."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath).relative_to(folder).parts
        dirnames[:] = [d for d in dirnames if not is_system_file((*here, d))]
        for name in filenames:
            parts = (*here, name)
            if not is_system_file(parts) and os.path.splitext(name)[1].lower() in extensions:
                found.append("/".join(parts))
    return sorted(found)


def is_system_file(parts: tuple[str, ...]) -> bool:
    return parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts) or parts[-1].lower() in SYSTEM_FILES


# --- tables of texts -----------------------------------------------------------------------------------
def read_csv(path: Path) -> tuple[list[str], list[list[str | None]]]:
    """A CSV (or TSV) file as its column names and rows of cells, ``None`` for an empty cell.

    UTF-8 (else Windows-1252), a comma, or a semicolon or tab when the header has no comma
    (spreadsheets in many European locales save CSV with semicolons); rows with no value are left out.
    """
    if not path.is_file():
        raise PredictError(f"'{path}' does not exist or is not a file. Check the name and the folder.")
    if path.suffix.lower() not in (".csv", ".tsv"):
        raise PredictError(
            f"'{path.name}' is not a CSV file. predict.py reads texts from a CSV (or tab-separated .tsv) file with a "
            "header row; save the table as CSV (a spreadsheet program's 'Save as CSV')."
        )
    raw = path.read_bytes()
    if not raw.strip():
        raise PredictError(f"'{path.name}' is empty. Choose the file that holds your texts.")
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):  # latin-1 decodes any bytes
        with contextlib.suppress(UnicodeDecodeError):
            text = raw.decode(encoding)
            break
    header = text.split("\n", 1)[0]
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    if sep == "," and "," not in header and (";" in header or "\t" in header):
        sep = ";" if ";" in header else "\t"
    rows = list(csv.reader(text.splitlines(keepends=True), delimiter=sep))
    if not rows:
        raise PredictError(f"'{path.name}' holds no header row.")
    columns = column_names(rows[0])
    table: list[list[str | None]] = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) > len(columns):
            raise PredictError(
                f"'{path.name}' row {number} has {len(row)} cells but the header names {len(columns)} columns. "
                "Check the quotes and separators on that row."
            )
        cells = [cell if cell != "" else None for cell in row] + [None] * (len(columns) - len(row))
        if any(cell is not None for cell in cells):
            table.append(cells)
    # A column with no name and no values is what a trailing separator leaves behind.
    keep = [i for i, c in enumerate(columns) if not (c.startswith("Unnamed: ") and all(r[i] is None for r in table))]
    if not table:
        raise PredictError(f"'{path.name}' has a header but no rows of data.")
    return [columns[i] for i in keep], [[r[i] for i in keep] for r in table]


def column_names(header: list[str]) -> list[str]:
    """Header cells as column names: an empty one is 'Unnamed: N', a repeated one 'name.1', as pandas reads them."""
    names: list[str] = []
    for i, cell in enumerate(header):
        name = cell if cell != "" else f"Unnamed: {i}"
        base, n = name, 0
        while name in names:
            n += 1
            name = f"{base}.{n}"
        names.append(name)
    return names


def _hint_score(column: str, hints: set[str]) -> int:
    """2 for a column named like a text ('Text', 'messages'), 1 for one whose name holds such a word."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", column).lower()
    words = [
        w[:-3] + "y" if w.endswith("ies") else w[:-1] if w.endswith("s") and w[:-1] in hints else w
        for w in re.split(r"[^0-9a-zA-Z]+", spaced)
        if w
    ]
    if len(words) == 1 and words[0] in hints:
        return 2
    return 1 if any(w in hints for w in words) else 0


def _is_number(text: str, finite: bool = True) -> bool:
    try:
        number = float(text)
    except ValueError:
        return False
    return not finite or abs(number) != float("inf")


def text_column(columns: list[str], rows: list[list[str | None]], hints: set[str], name: str | None) -> int:
    """The index of the column holding the texts: the one named, the only one, one named like a text
    column (text, message, review, ...), else the column of words with the longest texts on average."""
    if name is not None:
        if name not in columns:
            listed = ", ".join(f"'{c}'" for c in columns)
            raise PredictError(
                f"There is no column named '{name}'. The columns are: {listed}. Pick one with --text-column."
            )
        return columns.index(name)
    if len(columns) == 1:
        return 0

    values = {i: [v for v in (r[i].strip() for r in rows if r[i] is not None) if v] for i in range(len(columns))}
    mean_length = {i: sum(map(len, v)) / len(v) if v else 0.0 for i, v in values.items()}
    scores = [_hint_score(c, hints) for c in columns]
    if max(scores) > 0:
        return max((i for i, s in enumerate(scores) if s == max(scores)), key=mean_length.__getitem__)
    # Mostly words, not numbers: an id or a score column is not the text.
    texty = [i for i, v in values.items() if v and sum(not _is_number(x) for x in v) > len(v) / 2]
    if not texty:
        listed = ", ".join(f"'{c}'" for c in columns)
        raise PredictError(f"None of the columns ({listed}) holds text. Pick the text column with --text-column.")
    return max(texty, key=mean_length.__getitem__)


# --- the output ----------------------------------------------------------------------------------------
def uncertain(probs: np.ndarray, rule: dict[str, float]) -> list[bool]:
    """A prediction is uncertain when its two likeliest classes are close or the likeliest is below even odds
    (``rule``: TransferLab's numbers, from config.json)."""
    ordered = np.sort(probs, axis=-1)
    second = ordered[:, -2] if probs.shape[1] > 1 else np.zeros(len(probs))
    return ((ordered[:, -1] - second < rule["margin"]) | (ordered[:, -1] < rule["below"])).tolist()


def prediction_columns(probs: np.ndarray, labels: list[str], rule: dict[str, float]) -> dict[str, list[Any]]:
    columns = {"predicted_label": [labels[i] for i in probs.argmax(-1)], "confidence": probs.max(-1).tolist()}
    columns["uncertain"] = uncertain(probs, rule)
    return {**columns, **{f"prob_{label}": probs[:, i].tolist() for i, label in enumerate(labels)}}


def needs_escape(value: str) -> bool:
    if value.startswith(FORMULA_TRIGGERS):
        return not _is_number(value, finite=False)
    return value.startswith("'") and needs_escape(value[1:])


def cell(value: Any, raw: bool) -> Any:
    if value is None:
        return ""
    return "'" + value if isinstance(value, str) and not raw and needs_escape(value) else value


def write_csv(path: Path, columns: dict[str, list[Any]], raw: bool = False) -> None:
    """The table as UTF-8 CSV, through a temporary file renamed into place; cells a spreadsheet would run as a
    formula get a leading quote unless ``raw``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator=os.linesep)
            writer.writerow([cell(name, raw) for name in columns])
            for row in zip(*columns.values(), strict=True):
                writer.writerow([cell(v, raw) for v in row])
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --- the command -----------------------------------------------------------------------------------------
def predict_texts(folder: Path, source: Path, column: str | None, threads: int | None) -> dict[str, list[Any]]:
    if source.is_dir():
        raise PredictError(f"'{source}' is a folder; this model classifies texts. Give a CSV file of texts.")
    model = TextClassifier(folder, threads)
    names, rows = read_csv(source)
    i = text_column(names, rows, set(model.config["text_column_hints"]), column)
    probs = model.predict_proba([r[i] if r[i] is not None else "" for r in rows])
    table: dict[str, list[Any]] = {name: [r[j] for r in rows] for j, name in enumerate(names)}
    table.update(prediction_columns(probs, model.labels, model.config["uncertain"]))
    return table


def predict_pictures(folder: Path, source: Path, _column: str | None, threads: int | None) -> dict[str, list[Any]]:
    model = ImageClassifier(folder, threads)
    spec = model.preprocessing
    extensions = set(spec["image_extensions"])
    if source.is_file() and source.suffix.lower() not in extensions:
        raise PredictError(
            f"'{source.name}' is not a picture, and this model classifies pictures. Give a folder of "
            f"{', '.join(sorted(extensions))} files (subfolders are read too)."
        )
    files = [source.name] if source.is_file() else list_pictures(source, extensions)
    if not files:
        raise PredictError(f"'{source}' holds no pictures ({', '.join(sorted(extensions))} files).")
    root = source.parent if source.is_file() else source
    batch_size = int(model.config["batch_size"])
    kept: list[str] = []
    skipped: list[tuple[str, str]] = []
    parts: list[np.ndarray] = []
    # Pictures are opened a batch at a time, so a large folder never sits in memory at once.
    for start in range(0, len(files), batch_size):
        images = []
        for name in files[start : start + batch_size]:
            try:
                images.append(open_image(root / name, int(spec["max_pixels"])))
                kept.append(name)
            except Exception as exc:  # any decoder failure on a file means "skip this one"
                why = f"cannot be read as a picture ({type(exc).__name__}: {str(exc)[:120]})"
                skipped.append((name, str(exc) if isinstance(exc, PredictError) else why))
        if images:
            parts.append(model.predict_proba(images))
    for name, why in skipped:
        print(f"Skipped {name}: {why}", file=sys.stderr)
    if not kept:
        raise PredictError(f"None of the {len(files)} pictures in '{source}' can be read.")
    table: dict[str, list[Any]] = {"file": kept}
    table.update(prediction_columns(np.concatenate(parts), model.labels, model.config["uncertain"]))
    return table


# config.json's "task": how its inputs are read and predicted.
PREDICTORS = {"text": predict_texts, "image": predict_pictures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="predict.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="A CSV (or TSV) file of texts, or a folder of pictures (subfolders included).")
    parser.add_argument("--out", required=True, help="Where to write the predictions (CSV).")
    parser.add_argument("--text-column", default=None, help="The column holding the texts (guessed if unset).")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores).")
    parser.add_argument("--raw-csv", action="store_true", help="Write cells as they are (no spreadsheet escape).")
    parser.add_argument("--model", default=None, help="The exported folder (default: the folder this script is in).")
    args = parser.parse_args(argv)
    folder = Path(args.model) if args.model else Path(__file__).resolve().parent
    source = Path(args.input)
    try:
        if not source.exists():
            raise PredictError(f"'{source}' does not exist. Check the name and the folder.")
        table = PREDICTORS[read_config(folder)["task"]](folder, source, args.text_column, args.threads)
        write_csv(Path(args.out), table, raw=args.raw_csv)
    except PredictError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"Error: {exc.strerror or exc} ({exc.filename or args.out}).", file=sys.stderr)
        return 2
    print(f"Wrote {len(table['uncertain'])} predictions to {args.out}")
    rule = read_config(folder)["uncertain"]
    print(
        f"{sum(table['uncertain'])} of them uncertain: the two likeliest classes less than "
        f"{rule['margin'] * 100:.0f} percentage points apart, or the likeliest below {rule['below']:.0%}. "
        "Check those by hand."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
