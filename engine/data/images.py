"""Labeled pictures: decoded safely, checked, labeled, summarised.

Images come as a ZIP (or a folder) with one folder per class, the layout most image tools
export; one wrapping folder is fine::

    fashion.zip            fashion.zip
      bag/1.png              fashion/bag/1.png
      coat/2.png             fashion/coat/2.png

or as a ZIP (or folder) of images plus a table (CSV, Excel, ...) with a file-name column and a
label column (``engine.data.image_labels``). Archives are unpacked by ``engine.data.archives``.
Every problem raises one :class:`~engine.core.errors.DataError` whose message says what is wrong,
where (the name inside the ZIP) and what to do. Damaged images are skipped and listed (an error
only when more than a tenth are damaged).

>>> data = load_image_dataset("data/fashion_demo.zip")
>>> len(data), data.label_names[:3]
(1000, ['ankle-boot', 'bag', 'coat'])
>>> open_image(data.paths[0]).mode
'RGB'
"""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.core.errors import DataError
from engine.core.formats import (
    IMAGE_EXTENSIONS,
    IMAGE_FORMAT_NAMES,
    MAX_PIXELS,
    MAX_SKIPPED_FRACTION,
    MIN_IMAGES_PER_CLASS,
)
from engine.core.words import MAX_LISTED, listed, plural
from engine.data.archives import CACHE_VERSION, Listing, list_archive, suffix, write_json
from engine.data.dataset import LabeledDataset, imbalance_warning, sort_label_names
from engine.data.image_labels import LAYOUT_HINT, folder_labels, table_labels

_PIL_FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "GIF")  # camera JPEGs open as "MPO" through JPEG


_OTHER_IMAGE_FORMATS = {
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".heic": "HEIC",
    ".heif": "HEIF",
    ".avif": "AVIF",
    ".svg": "SVG",
    ".psd": "Photoshop",
    ".ico": "icon",
    ".jfif": "JFIF (JPEG)",
    ".dng": "raw camera",
    ".cr2": "raw camera",
    ".nef": "raw camera",
    ".arw": "raw camera",
}


_CHECKS = ".transferlab-checks.json"


@dataclass(kw_only=True)
class ImageDataset(LabeledDataset):
    """Image files with integer labels, and what loading skipped, in words for the user."""

    paths: list[str]  # absolute paths, one per example
    root: str  # absolute folder the images are under
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name in the ZIP or folder, reason)
    ignored_files: int = 0  # files that are not images, left out
    per_example = ("paths",)

    @property
    def files(self) -> list[str]:
        """Each image's name relative to ``root`` with ``/`` separators, as the user sees it in the ZIP."""
        return [Path(os.path.relpath(p, self.root)).as_posix() for p in self.paths]


def _too_large(width: int, height: int) -> str:
    return (
        f"too large: {width:,}×{height:,} pixels ({width * height / 1e6:.3g} megapixels; TransferLab reads up to "
        f"{MAX_PIXELS / 1e6:.3g}). Resize it, e.g. to 1024 pixels on the long side"
    )


def _failure_reason(err: BaseException) -> str:
    if isinstance(err, Image.DecompressionBombError):
        return f"too large (over {MAX_PIXELS / 1e6:.3g} megapixels). Resize it, e.g. to 1024 pixels on the long side"
    if isinstance(err, UnidentifiedImageError):
        return f"not a {IMAGE_FORMAT_NAMES} image (its content is in another format, or is not an image)"
    text = str(err).strip()
    if "truncated" in text.lower() or isinstance(err, EOFError):
        return "damaged: the file is cut short (truncated); copy or export it again"
    detail = f" ({text[:120]})" if text else ""
    return f"damaged: it could not be decoded{detail}; open and save it again, or remove it"


def _check_image(path: str) -> str | None:
    """None when the image decodes, else the reason it cannot be used (never raises)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=_PIL_FORMATS) as im:
                width, height = im.size
                if width * height > MAX_PIXELS:
                    return _too_large(width, height)
                if im.format in ("JPEG", "MPO"):
                    # libjpeg still reads the whole stream at 1/8 scale, so truncation shows, at a fraction of the cost.
                    im.draft(None, (max(1, width // 8), max(1, height // 8)))
                im.load()
    except Exception as err:  # any decoder failure on untrusted bytes means "skip this one"
        return _failure_reason(err)
    return None


def _to_rgb(im: Image.Image) -> Image.Image:
    mode = im.mode
    if mode.startswith("I") or mode == "F":
        # 16-bit and float grayscale: scale to 0..255 (a plain convert would clip most pixels to white).
        arr = np.asarray(im, dtype=np.float64)
        if mode.startswith("I;16") or (mode == "I" and arr.size and arr.max() > 255):
            arr = arr / 257.0
        elif mode == "F" and arr.size and arr.max() <= 1.0:
            arr = arr * 255.0
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8)).convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def open_image(path_or_fileobj: str | Path | IO[bytes]) -> Image.Image:
    """The image as RGB, upright (EXIF orientation applied), first frame of an animation.

    Grayscale, palette, CMYK and 16-bit images are converted; transparency is laid on white.
    Raises :class:`DataError` for damaged, unsupported or too large (over ``MAX_PIXELS``) images.
    """
    given = path_or_fileobj if isinstance(path_or_fileobj, (str, Path)) else getattr(path_or_fileobj, "name", None)
    name = Path(str(given)).name if given else "the image"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path_or_fileobj, formats=_PIL_FORMATS) as im:
                width, height = im.size
                if width * height > MAX_PIXELS:
                    raise DataError(f"'{name}' is {_too_large(width, height)}.")
                im.load()
                upright = ImageOps.exif_transpose(im)
                return _to_rgb(upright)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"The image '{name}' does not exist. Check the name and the folder.") from None
    except Exception as err:
        raise DataError(f"'{name}' cannot be used: it is {_failure_reason(err)}.") from None


def _no_images(source: str, listing: Listing, what: str) -> DataError:
    visible = listing.ignored
    if visible:
        held = f"it holds {plural(len(visible), 'file')} ({listed(visible)}) and none is a {IMAGE_FORMAT_NAMES} image"
    elif listing.damaged:
        held = "every image in it is damaged: " + "; ".join(f"'{n}': {r}" for n, r in listing.damaged[:3])
    else:
        held = "it holds no files (system files such as .DS_Store are not counted)"
    formats = Counter(_OTHER_IMAGE_FORMATS[suffix(n)] for n in visible if suffix(n) in _OTHER_IMAGE_FORMATS)
    hint = "".join(f" {plural(c, 'file')} are {f} images: convert them to PNG or JPEG." for f, c in formats.items())
    return DataError(f"{what} '{source}' holds no images: {held}.{hint} {LAYOUT_HINT}")


def _verify(listing: Listing, names: Sequence[str]) -> dict[str, str | None]:
    """Decode each image once (cached beside a ZIP's extraction); name -> None when usable, else why not."""
    checks_path = listing.root / _CHECKS
    known: dict[str, str | None] = {}
    if listing.kind == "ZIP":
        try:
            cached = json.loads(checks_path.read_text(encoding="utf-8"))
            if cached.get("max_pixels") == MAX_PIXELS and cached.get("version") == CACHE_VERSION:
                known = cached["results"]
        except (OSError, ValueError, KeyError, AttributeError):
            known = {}
    todo = [n for n in names if n not in known]
    if todo:
        paths = [os.path.join(listing.root, *n.split("/")) for n in todo]
        if len(paths) > 64:
            # Decoders release the GIL, so threads check photos several times faster.
            with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
                reasons = list(pool.map(_check_image, paths))
        else:
            reasons = [_check_image(p) for p in paths]
        known.update(zip(todo, reasons, strict=True))
        if listing.kind == "ZIP":
            try:
                write_json(checks_path, {"version": CACHE_VERSION, "max_pixels": MAX_PIXELS, "results": known})
            except OSError:
                pass  # only a cache
    return {n: known[n] for n in names}


def load_image_dataset(
    path: str | Path,
    labels_file: str | Path | None = None,
    label_names: list[str] | None = None,
) -> ImageDataset:
    """Read, check and label images from a ZIP or a folder.

    Classes come from the folders (one per class) or, with ``labels_file``, from a table whose
    columns are the image file name and the label. Give ``label_names`` for a validation or test
    set, so it must use the training data's classes (in that order). Damaged images are skipped
    and listed in ``skipped``.
    """
    path, listing = list_archive(path)
    source = path.name
    what = "The folder" if listing.kind == "folder" else "The ZIP"
    candidates = listing.images + [n for n, _ in listing.damaged]
    if not candidates:
        raise _no_images(source, listing, what)
    if labels_file is not None:
        labels, warnings = table_labels(listing, source, sorted(candidates), labels_file)
    else:
        labels, warnings = folder_labels(listing, source, candidates)

    classes = set(labels.values())
    if label_names is not None:
        unknown = sorted(classes - set(label_names))
        if unknown:
            counts = Counter(labels.values())
            shown = ", ".join(f"'{c}' ({plural(counts[c], 'image')})" for c in unknown[:MAX_LISTED])
            raise DataError(
                f"'{source}' has the class{'es' if len(unknown) > 1 else ''} {shown}, which "
                f"{'are' if len(unknown) > 1 else 'is'} not one of the training data's classes: "
                f"{listed(label_names, 20)}. Rename or remove {'them' if len(unknown) > 1 else 'it'}, so every class "
                "matches one of the training data."
            )
        names = list(label_names)
    else:
        names = sort_label_names(sorted(classes))
        if len(names) < 2:
            only = f"only one class, '{names[0]}' ({plural(len(labels), 'image')})" if names else "no labeled images"
            raise DataError(
                f"'{source}' has {only}. TransferLab learns to tell classes apart, so it needs at least two: "
                + (
                    "give each class its own folder, e.g. cat/1.jpg and dog/2.jpg."
                    if labels_file is None
                    else "the label column must hold at least two different labels."
                )
            )

    damaged = dict(listing.damaged)
    present = [n for n in sorted(labels) if n not in damaged]
    reasons = _verify(listing, present)
    skipped = [(n, damaged[n]) for n in sorted(labels) if n in damaged]
    skipped += [(n, r) for n, r in reasons.items() if r is not None]
    skipped.sort()
    good = [n for n in present if reasons[n] is None]
    if len(skipped) > MAX_SKIPPED_FRACTION * len(labels) or not good:
        shown = "; ".join(f"'{n}': {r}" for n, r in skipped[:3])
        raise DataError(
            f"{plural(len(skipped), 'image')} of {len(labels):,} in '{source}' cannot be used (more than "
            f"{MAX_SKIPPED_FRACTION:.0%}), for example {shown}. Check how the images were exported or copied, "
            "and replace the damaged files (or create the ZIP again)."
        )

    index = {n: i for i, n in enumerate(names)}
    counts = Counter(labels[n] for n in good)
    if label_names is None:
        lost = Counter(labels[n] for n, _ in skipped)
        small = [c for c in names if counts[c] < MIN_IMAGES_PER_CLASS]
        if small:
            said = [
                f"'{c}' has {plural(counts[c], 'image')}" + (f" ({lost[c]} more damaged)" if lost[c] else "")
                for c in small[:MAX_LISTED]
            ]
            fix = (
                "Add images to those class folders, or remove the folders."
                if labels_file is None
                else f"Add images of those classes (with rows in '{Path(labels_file).name}'), or remove their rows."
            )
            raise DataError(
                f"In '{source}', class {'; class '.join(said)}. TransferLab needs at least {MIN_IMAGES_PER_CLASS} "
                f"images of each class (some to train on, some to test on). {fix}"
            )
        imbalance = imbalance_warning({c: counts[c] for c in names}, unit="image")
        if imbalance:
            warnings.append(imbalance)

    if skipped:
        warnings.append(
            f"Skipped {plural(len(skipped), 'damaged or unreadable image')}: "
            + "; ".join(f"'{n}' ({r})" for n, r in skipped[:3])
            + (f"; and {len(skipped) - 3:,} more (see the list of skipped images)." if len(skipped) > 3 else ".")
        )
    ignored = listing.ignored
    if labels_file is not None and Path(labels_file).resolve().is_relative_to(listing.root):
        ignored = [n for n in ignored if n != Path(labels_file).resolve().relative_to(listing.root).as_posix()]
    if ignored:
        formats = Counter(_OTHER_IMAGE_FORMATS[suffix(n)] for n in ignored if suffix(n) in _OTHER_IMAGE_FORMATS)
        hint = "".join(
            f" {plural(c, 'file')} are {f} images: convert them to PNG or JPEG to use them." for f, c in formats.items()
        )
        warnings.append(
            f"Ignored {plural(len(ignored), 'file')} that {'is' if len(ignored) == 1 else 'are'} not "
            f"{'an image' if len(ignored) == 1 else 'images'} ({listed(ignored)}). TransferLab reads {IMAGE_FORMAT_NAMES} "
            f"images.{hint}"
        )

    root = str(listing.root)
    return ImageDataset(
        paths=[os.path.join(root, *n.split("/")) for n in good],
        labels=[index[labels[n]] for n in good],
        label_names=names,
        source=source,
        root=root,
        warnings=warnings,
        skipped=skipped,
        ignored_files=len(ignored),
    )


def list_images(path: str | Path) -> tuple[list[str], list[str], str, list[tuple[str, str]]]:
    """Images to predict on, in any layout: ``(absolute paths, names relative to root, root, skipped)``.

    ``path`` is a ZIP (unpacked as in :func:`load_image_dataset`), a folder, or one image file.
    """
    path = Path(path)
    if path.is_file() and suffix(path.name) in IMAGE_EXTENSIONS:
        reason = _check_image(str(path))
        if reason is not None:
            raise DataError(f"'{path.name}' cannot be used: it is {reason}.")
        root = str(path.resolve().parent)
        return [str(path.resolve())], [path.name], root, []
    path, listing = list_archive(path)
    what = "The folder" if listing.kind == "folder" else "The ZIP"
    if not listing.images and not listing.damaged:
        raise _no_images(path.name, listing, what)
    reasons = _verify(listing, listing.images)
    good = [n for n in listing.images if reasons[n] is None]
    skipped = sorted(listing.damaged + [(n, r) for n, r in reasons.items() if r is not None])
    if not good:
        shown = "; ".join(f"'{n}': {r}" for n, r in skipped[:3])
        raise DataError(f"None of the {plural(len(skipped), 'image')} in '{path.name}' can be used: {shown}.")
    root = str(listing.root)
    return [os.path.join(root, *n.split("/")) for n in good], good, root, skipped


def describe_images(data: ImageDataset, sample: int = 200) -> dict:
    """A plain summary for the UI: sizes, classes, image sizes (from the headers of a sample), skipped files."""
    rng = np.random.default_rng(0)
    picked = sorted(rng.choice(len(data), size=min(sample, len(data)), replace=False).tolist()) if len(data) else []
    widths, heights, modes = [], [], Counter()
    for i in picked:
        try:
            with Image.open(data.paths[i], formats=_PIL_FORMATS) as im:  # reads the header only
                widths.append(im.size[0])
                heights.append(im.size[1])
                modes[im.mode] += 1
        except Exception:
            continue  # removed or changed since loading: the summary just leaves it out

    def agg(values: list[int], fn: Any) -> int:
        return int(fn(values)) if values else 0

    return {
        "source": data.source,
        "rows": len(data),
        "classes": list(data.label_names),
        "class_counts": data.class_counts(),
        "skipped": [{"file": name, "reason": reason} for name, reason in data.skipped],
        "ignored_files": data.ignored_files,
        "warnings": list(data.warnings),
        "image_size": {
            "median_width": agg(widths, np.median),
            "median_height": agg(heights, np.median),
            "min_width": agg(widths, min),
            "min_height": agg(heights, min),
            "max_width": agg(widths, max),
            "max_height": agg(heights, max),
            "sampled": len(widths),
            "modes": dict(modes),
        },
    }


def sample_images(data: ImageDataset, per_class: int = 6, seed: int = 0) -> dict[str, list[str]]:
    """A few absolute paths per class, the same ones for the same seed (for a thumbnail grid)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(data.labels, dtype=int)
    out: dict[str, list[str]] = {}
    for i, name in enumerate(data.label_names):
        members = np.flatnonzero(labels == i)
        chosen = np.sort(rng.choice(members, size=min(per_class, len(members)), replace=False)) if len(members) else []
        out[name] = [data.paths[j] for j in chosen]
    return out


def load_for_config(config, path: str | Path | None = None, label_names: list[str] | None = None) -> ImageDataset:
    """The run's training pictures (``path=None``), or validation/test pictures with the training classes."""
    if path is None:
        return load_image_dataset(config.data, config.image_labels)
    return load_image_dataset(path, label_names=label_names)


def read_inputs(path: str | Path, text_column: str | None = None) -> tuple[pd.DataFrame, list[str], list]:
    """Pictures to predict on, in any layout: (a table of their names, their paths, skipped files)."""
    paths, names, _root, skipped = list_images(path)
    return pd.DataFrame({"file": names}), paths, skipped
