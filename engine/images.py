"""Loading and validating a user's labeled images.

Images come as a ZIP (or a folder) with one folder per class, the layout most image tools
export; one wrapping folder is fine::

    fashion.zip            fashion.zip
      bag/1.png              fashion/bag/1.png
      coat/2.png             fashion/coat/2.png

or as a ZIP (or folder) of images plus a table (CSV, Excel, ...) with a file-name column and a
label column. Every problem raises one :class:`~engine.errors.DataError` whose message says what
is wrong, where (the name inside the ZIP) and what to do. Damaged images are skipped and listed
(an error only when more than a tenth are damaged).

>>> data = load_image_dataset("data/fashion_demo.zip")
>>> len(data), data.label_names[:3]
(1000, ['ankle-boot', 'bag', 'coat'])
>>> open_image(data.paths[0]).mode
'RGB'

ZIPs are untrusted: each entry's path is built and checked here (never ``extractall``), entries
that would land outside the extraction folder and links are refused, and the number of entries,
the unpacked bytes (as declared and as actually read) and the pixels per image are capped. A ZIP
is unpacked once into ``workspace/cache/images/<first 16 hex digits of its SHA-256>``.

No torch here: pages import this module to preview uploads.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.data import _LABEL_HINTS, _hint_score, read_table, sort_label_names
from engine.errors import DataError
from engine.workspace import cache_dir

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"})
MIN_IMAGES_PER_CLASS = 5

# Limits against archives built to fill the disk or the memory ("decompression bombs").
MAX_TOTAL_UNCOMPRESSED = 2 * 1024**3  # bytes of images unpacked from one ZIP
MAX_MEMBERS = 200_000  # entries in a ZIP, or files in a folder
MAX_PIXELS = 40_000_000  # width x height of one image, read from its header before decoding
MAX_SKIPPED_FRACTION = 0.10  # more damaged images than this is an error, not a warning

_PIL_FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "GIF")  # camera JPEGs open as "MPO" through JPEG
_FORMAT_NAMES = "JPEG, PNG, BMP, WebP or GIF"
_LAYOUT_HINT = (
    "Put each class's images in a folder named after the class (for example cat/1.jpg, dog/2.jpg) and "
    "ZIP those folders, or upload a CSV file with two columns, the image file name and its label, "
    "together with the ZIP."
)
# Files that operating systems add to folders and ZIPs; never the user's data, never mentioned.
_SYSTEM_FILES = frozenset({".ds_store", "thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r"})
_TABLE_EXTENSIONS = frozenset({".csv", ".tsv", ".xlsx", ".xls", ".json", ".jsonl", ".parquet"})
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
_SPLIT_NAMES = frozenset({"train", "training", "test", "testing", "val", "valid", "validation", "dev"})
_MAX_LISTED = 5
_CACHE_VERSION = 1
_MANIFEST = ".transferlab-manifest.json"
_CHECKS = ".transferlab-checks.json"
_COMPLETE = ".transferlab-complete"  # written last: its presence means the folder is whole
_CHUNK = 1024 * 1024


# --------------------------------------------------------------------------- dataset


@dataclass
class ImageDataset:
    """Image files with integer labels, and what loading skipped, in words for the user."""

    paths: list[str]  # absolute paths, one per example
    labels: list[int]  # indices into label_names
    label_names: list[str]
    source: str  # file name shown to the user
    root: str  # absolute folder the images are under
    warnings: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name in the ZIP or folder, reason)
    ignored_files: int = 0  # files that are not images, left out

    def __len__(self) -> int:
        return len(self.paths)

    def class_counts(self) -> dict[str, int]:
        """Images per class, in label_names order, zeros included."""
        counts = Counter(self.labels)
        return {name: counts.get(i, 0) for i, name in enumerate(self.label_names)}

    def subset(self, indices: Sequence[int]) -> ImageDataset:
        indices = [int(i) for i in indices]
        return replace(
            self,
            paths=[self.paths[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            label_names=list(self.label_names),
            warnings=list(self.warnings),
            skipped=list(self.skipped),
        )

    @property
    def files(self) -> list[str]:
        """Each image's name relative to ``root`` with ``/`` separators, as the user sees it in the ZIP."""
        return [Path(os.path.relpath(p, self.root)).as_posix() for p in self.paths]


@dataclass
class _Listing:
    """What a ZIP or folder holds, before any image is decoded."""

    root: Path
    kind: str  # "ZIP" or "folder"
    images: list[str]  # names relative to root, "/"-separated, sorted; present on disk
    damaged: list[tuple[str, str]] = field(default_factory=list)  # image entries that could not be unpacked
    ignored: list[str] = field(default_factory=list)  # files that are not images (system files left out)
    folders: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)  # CSV/Excel/... files among the ignored ones


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _listed(names: Sequence[str], limit: int = _MAX_LISTED) -> str:
    """Names in quotes, at most ``limit`` of them: 'a', 'b', 'c' and 4 more."""
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- single images


def _too_large(width: int, height: int) -> str:
    return (
        f"too large: {width:,}×{height:,} pixels ({width * height / 1e6:.3g} megapixels; TransferLab reads up to "
        f"{MAX_PIXELS / 1e6:.3g}). Resize it, e.g. to 1024 pixels on the long side"
    )


def _failure_reason(err: BaseException) -> str:
    if isinstance(err, Image.DecompressionBombError):
        return f"too large (over {MAX_PIXELS / 1e6:.3g} megapixels). Resize it, e.g. to 1024 pixels on the long side"
    if isinstance(err, UnidentifiedImageError):
        return f"not a {_FORMAT_NAMES} image (its content is in another format, or is not an image)"
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


# --------------------------------------------------------------------------- what a ZIP or folder holds


def _is_system_file(parts: Sequence[str]) -> bool:
    """Hidden files, macOS resource forks (__MACOSX/, ._x.png) and Windows thumbnails."""
    return parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts) or parts[-1].lower() in _SYSTEM_FILES


def _suffix(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def _safe_parts(raw: str) -> list[str] | None:
    """The parts of a ZIP entry's path, or None when it could land outside the extraction folder."""
    name = raw.replace("\\", "/")  # some Windows tools write backslashes
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [unicodedata.normalize("NFC", p) for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return parts


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _refuse(source: str, entry: str, why: str) -> DataError:
    return DataError(
        f"'{source}' holds the entry '{entry}', {why}. TransferLab does not unpack such archives: they can "
        "overwrite files elsewhere on the computer. Create the ZIP again from the folder of images (right-click "
        "the folder > Compress / Send to > Compressed folder)."
    )


def _not_a_zip(path: Path) -> DataError:
    with path.open("rb") as f:
        head = f.read(512)
    if head.startswith(b"PK"):
        what = "it starts like a ZIP archive but is incomplete or damaged (an upload or download cut short?)"
    elif head and all(32 <= b < 127 or b in b"\t\r\n" for b in head.rstrip(b"\x00")):
        what = "it holds text, like a CSV file that was renamed to .zip"
    else:
        what = "its content is not in ZIP format"
    return DataError(
        f"'{path.name}' is not a ZIP archive: {what}. TransferLab reads images from a ZIP with one folder per "
        f"class (cat/1.jpg, dog/2.jpg, ...), or from a ZIP of images with a CSV file of file names and labels. "
        "Create the ZIP again from the folder of images."
    )


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _plan_zip(zf: zipfile.ZipFile, source: str) -> tuple[list[tuple[zipfile.ZipInfo, str]], _Listing]:
    """Check every entry before anything is written; return the images to unpack and what else it holds."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise DataError(
            f"'{source}' holds {len(infos):,} entries; TransferLab unpacks ZIPs of up to {MAX_MEMBERS:,}. "
            "Use fewer images (a sample of each class), or split them over several ZIPs."
        )
    images: dict[str, zipfile.ZipInfo] = {}
    damaged: list[tuple[str, str]] = []
    ignored: list[str] = []
    folders: set[str] = set()
    for info in infos:
        parts = _safe_parts(info.filename)
        if parts is None:
            raise _refuse(source, info.filename, "whose path points outside the ZIP's own folder")
        if _is_link(info):
            raise _refuse(source, info.filename, "which is a link to another place, not a file")
        if not parts or _is_system_file(parts):
            continue
        is_dir = info.filename.endswith(("/", "\\"))
        folders.update("/".join(parts[:i]) for i in range(1, len(parts) + (1 if is_dir else 0)))
        if is_dir:
            continue
        name = "/".join(parts)
        if _suffix(name) not in IMAGE_EXTENSIONS:
            ignored.append(name)
        elif name in images:
            damaged.append((name, "appears twice in the ZIP; the first copy was used"))
        else:
            images[name] = info
    encrypted = [n for n, i in images.items() if i.flag_bits & 0x1]
    if encrypted:
        raise DataError(
            f"'{source}' is password-protected ({_listed(encrypted, 3)} cannot be read without the password). "
            "Create the ZIP again without a password."
        )
    declared = sum(i.file_size for i in images.values())
    if declared > MAX_TOTAL_UNCOMPRESSED:
        raise DataError(
            f"The images in '{source}' unpack to {_size(declared)}; TransferLab unpacks up to "
            f"{_size(MAX_TOTAL_UNCOMPRESSED)}. Use fewer images, or smaller ones (about 512 pixels on the long side "
            "is plenty for training)."
        )
    listing = _Listing(
        root=Path(),
        kind="ZIP",
        images=[],
        damaged=damaged,
        ignored=sorted(ignored),
        folders=sorted(folders),
        tables=sorted(n for n in ignored if _suffix(n) in _TABLE_EXTENSIONS),
    )
    return sorted(((i, n) for n, i in images.items()), key=lambda item: item[1]), listing


def _copy_capped(src: IO[bytes], dst: IO[bytes], declared: int, budget: int, entry: str, source: str) -> int:
    """Copy at most ``declared`` bytes (what the ZIP's header says) and at most ``budget``; return the count.

    Headers can lie, so the bytes actually read are what is counted.
    """
    copied = 0
    while chunk := src.read(_CHUNK):
        copied += len(chunk)
        if copied > declared:
            raise DataError(
                f"'{entry}' in '{source}' unpacks to more than the {declared:,} bytes its ZIP header says: the archive "
                "is damaged or built to fill the disk, so it was not unpacked. Create the ZIP again from the folder "
                "of images."
            )
        if copied > budget:
            raise DataError(
                f"The images in '{source}' unpack to more than {_size(MAX_TOTAL_UNCOMPRESSED)}, TransferLab's limit. "
                "Use fewer images, or smaller ones."
            )
        dst.write(chunk)
    return copied


def _unpack_into(
    zf: zipfile.ZipFile, members: list[tuple[zipfile.ZipInfo, str]], folder: Path, source: str
) -> tuple[list[str], list[tuple[str, str]]]:
    root = folder.resolve()
    unpacked: list[str] = []
    damaged: list[tuple[str, str]] = []
    total = 0
    made: set[Path] = set()
    for info, name in members:
        dest = root.joinpath(*name.split("/"))
        # _safe_parts already refused "..", absolute and drive paths; this is the last line of defence.
        resolved = dest.resolve()
        if not resolved.is_relative_to(root) or resolved == root:
            raise _refuse(source, info.filename, "whose path points outside the ZIP's own folder")
        try:
            if dest.parent not in made:
                dest.parent.mkdir(parents=True, exist_ok=True)
                made.add(dest.parent)
            with zf.open(info) as src, dest.open("xb") as dst:
                total += _copy_capped(src, dst, info.file_size, MAX_TOTAL_UNCOMPRESSED - total, name, source)
        except NotImplementedError:
            raise DataError(
                f"'{source}' uses a compression method TransferLab cannot unpack (entry '{name}'). Create the ZIP "
                "again with your system's built-in 'Compress' or with `zip -r`."
            ) from None
        except (zipfile.BadZipFile, zlib.error, EOFError) as err:
            dest.unlink(missing_ok=True)
            damaged.append((name, f"damaged inside the ZIP ({str(err)[:80] or 'unreadable data'}); add it again"))
            continue
        except FileExistsError:
            damaged.append((name, "clashes with another entry of the same name; the first one was used"))
            continue
        except OSError as err:
            if dest.is_file():
                dest.unlink()
            if err.errno == errno.ENOSPC:
                raise DataError(
                    f"The disk is full: unpacking '{source}' needs {_size(sum(i.file_size for i, _ in members))}. "
                    "Free some space (old runs in the Runs page), or use fewer images."
                ) from None
            damaged.append((name, f"could not be unpacked ({err.strerror or err}); rename it"))
            continue
        unpacked.append(name)
    return unpacked, damaged


def _cached_listing(folder: Path) -> _Listing | None:
    """The listing of a complete earlier extraction whose files are all still there, else None."""
    if not (folder / _COMPLETE).is_file():
        return None
    try:
        manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("version") != _CACHE_VERSION:
        return None
    images = manifest["images"]
    if not all(os.path.isfile(os.path.join(folder, *n.split("/"))) for n in images):
        return None
    return _Listing(
        root=folder,
        kind="ZIP",
        images=images,
        damaged=[tuple(d) for d in manifest["damaged"]],
        ignored=manifest["ignored"],
        folders=manifest["folders"],
        tables=manifest["tables"],
    )


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def _unpack_zip(path: Path) -> _Listing:
    """Unpack the images of a ZIP into the cache (once per content) and list what it holds."""
    cache = cache_dir("images")
    target = cache / _sha256(path)[:16]
    listing = _cached_listing(target)
    if listing is not None:
        return listing
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        raise _not_a_zip(path) from None
    with zf:
        members, listing = _plan_zip(zf, path.name)
        tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cache))
        try:
            images, damaged = _unpack_into(zf, members, tmp, path.name)
            manifest = {
                "version": _CACHE_VERSION,
                "images": images,
                "damaged": listing.damaged + damaged,
                "ignored": listing.ignored,
                "folders": listing.folders,
                "tables": listing.tables,
            }
            _write_json(tmp / _MANIFEST, manifest)
            (tmp / _COMPLETE).write_text("ok", encoding="utf-8")
            if _cached_listing(target) is None:  # another session may have finished the same ZIP meanwhile
                if target.exists():
                    shutil.rmtree(target)  # an interrupted earlier extraction
                os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    listing = _cached_listing(target)
    if listing is None:  # pragma: no cover - the folder was removed under us
        raise DataError(f"'{path.name}' could not be unpacked into {target}. Try again.")
    return listing


def _scan_folder(path: Path) -> _Listing:
    """List a folder in place; links that lead outside it are refused."""
    root = path.resolve()
    images: list[str] = []
    ignored: list[str] = []
    folders: list[str] = []
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).parts
        for d in sorted(dirnames):
            full = here / d
            if full.is_symlink():
                if not full.resolve().is_relative_to(root):
                    raise _link_outside(path, (*rel_dir, d), full)
                dirnames.remove(d)  # a link inside the folder: its images are there already
            elif _is_system_file((*rel_dir, d)):
                dirnames.remove(d)
            else:
                folders.append("/".join((*rel_dir, d)))
        for f in filenames:
            seen += 1
            if seen > MAX_MEMBERS:
                raise DataError(
                    f"The folder '{path.name}' holds more than {MAX_MEMBERS:,} files; TransferLab reads folders of up "
                    "to that many. Choose the folder that holds only your images, or use a sample of them."
                )
            parts = (*rel_dir, f)
            full = here / f
            if full.is_symlink() and not full.resolve().is_relative_to(root):
                raise _link_outside(path, parts, full)
            if _is_system_file(parts):
                continue
            name = "/".join(parts)
            (images if _suffix(f) in IMAGE_EXTENSIONS else ignored).append(name)
    return _Listing(
        root=root,
        kind="folder",
        images=sorted(images),
        ignored=sorted(ignored),
        folders=sorted(folders),
        tables=sorted(n for n in ignored if _suffix(n) in _TABLE_EXTENSIONS),
    )


def _link_outside(path: Path, parts: Sequence[str], full: Path) -> DataError:
    return DataError(
        f"'{'/'.join(parts)}' in the folder '{path.name}' is a link to '{os.readlink(full)}', outside the folder. "
        "TransferLab only reads files inside the folder you choose: copy the images in, or remove the link."
    )


def _listing(path: str | Path) -> tuple[Path, _Listing]:
    path = Path(path)
    if not path.exists():
        raise DataError(f"'{path}' does not exist. Check the name and the folder, then try again.")
    if path.is_dir():
        return path, _scan_folder(path)
    if path.stat().st_size == 0:
        raise DataError(f"'{path.name}' is empty (0 bytes). Choose the ZIP that holds your images.")
    if path.suffix.lower() != ".zip" and not zipfile.is_zipfile(path):
        raise DataError(
            f"'{path.name}' is not a ZIP archive or a folder of images. Upload the images as a ZIP with one folder "
            "per class (cat/1.jpg, dog/2.jpg, ...); a CSV file of file names and labels can go with it."
        )
    return path, _unpack_zip(path)


def _no_images(source: str, listing: _Listing, what: str) -> DataError:
    visible = listing.ignored
    if visible:
        held = f"it holds {_plural(len(visible), 'file')} ({_listed(visible)}) and none is a {_FORMAT_NAMES} image"
    elif listing.damaged:
        held = "every image in it is damaged: " + "; ".join(f"'{n}': {r}" for n, r in listing.damaged[:3])
    else:
        held = "it holds no files (system files such as .DS_Store are not counted)"
    formats = Counter(_OTHER_IMAGE_FORMATS[_suffix(n)] for n in visible if _suffix(n) in _OTHER_IMAGE_FORMATS)
    hint = "".join(f" {_plural(c, 'file')} are {f} images: convert them to PNG or JPEG." for f, c in formats.items())
    return DataError(f"{what} '{source}' holds no images: {held}.{hint} {_LAYOUT_HINT}")


# --------------------------------------------------------------------------- verification


def _verify(listing: _Listing, names: Sequence[str]) -> dict[str, str | None]:
    """Decode each image once (cached beside a ZIP's extraction); name -> None when usable, else why not."""
    checks_path = listing.root / _CHECKS
    known: dict[str, str | None] = {}
    if listing.kind == "ZIP":
        try:
            cached = json.loads(checks_path.read_text(encoding="utf-8"))
            if cached.get("max_pixels") == MAX_PIXELS and cached.get("version") == _CACHE_VERSION:
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
                _write_json(checks_path, {"version": _CACHE_VERSION, "max_pixels": MAX_PIXELS, "results": known})
            except OSError:
                pass  # only a cache
    return {n: known[n] for n in names}


# --------------------------------------------------------------------------- labels


def _folder_labels(listing: _Listing, source: str, names: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Class of each image from its folder; one wrapping folder (fashion/bag/1.png) is skipped."""
    split = {n: n.split("/") for n in names}
    depth = 0
    while split and all(len(p) >= depth + 3 for p in split.values()) and len({p[depth] for p in split.values()}) == 1:
        depth += 1
    prefix = "/".join(next(iter(split.values()))[:depth]) + "/" if depth else ""
    top = sorted(n for n, p in split.items() if len(p) == depth + 1)
    if len(top) == len(split):
        where = f"at the top of '{prefix}'" if prefix else "at the top level"
        tables = (
            f" The ZIP holds {_listed(listing.tables, 2)}: upload that file as the labels file."
            if listing.tables
            else ""
        )
        raise DataError(
            f"The images in '{source}' are not in class folders (for example '{top[0]}' is {where}), so TransferLab "
            f"cannot tell their classes. {_LAYOUT_HINT}{tables}"
        )
    splits = sorted({p[depth] for p in split.values() if len(p) >= depth + 3 and p[depth].lower() in _SPLIT_NAMES})
    if splits:
        raise DataError(
            f"'{source}' holds the folders {_listed(splits)}, each with folders of its own: it looks like data already "
            "split into training and test sets. Upload each as its own ZIP (the training folder as the data, the other "
            "as the validation or test set), with one folder per class inside."
        )
    warnings: list[str] = []
    if top:
        warnings.append(
            f"Left out {_plural(len(top), 'image')} that {'is' if len(top) == 1 else 'are'} not in a class folder "
            f"({_listed(top)}). Move {'it' if len(top) == 1 else 'them'} into the folder of {'its' if len(top) == 1 else 'their'} "
            "class to use them."
        )
    labels = {n: unicodedata.normalize("NFC", p[depth]) for n, p in split.items() if len(p) > depth + 1}
    holding = {n.split("/")[depth] for n in labels}
    empty = sorted(
        f for f in listing.folders if f.count("/") == depth and f.startswith(prefix) and f.split("/")[-1] not in holding
    )
    if empty:
        warnings.append(f"Ignored {_plural(len(empty), 'folder')} with no images in it ({_listed(empty)}).")
    return labels, warnings


def _norm_name(value: str) -> str:
    name = unicodedata.normalize("NFC", value.strip()).replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def _table_labels(
    listing: _Listing, source: str, names: Sequence[str], labels_file: str | Path
) -> tuple[dict[str, str], list[str]]:
    """Class of each image from a table with a file-name column and a label column."""
    df, warnings = read_table(labels_file)
    table = Path(labels_file).name
    by_path = {n: n for n in names}
    by_base: dict[str, list[str]] = {}
    by_stem: dict[str, list[str]] = {}
    for n in names:
        base = n.rsplit("/", 1)[-1]
        by_base.setdefault(base, []).append(n)
        by_stem.setdefault(os.path.splitext(base)[0], []).append(n)

    def match(value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return None
        name = _norm_name(value)
        if name in by_path:
            return name
        base = name.rsplit("/", 1)[-1]
        for candidates in (by_base.get(base), by_stem.get(base) if not _suffix(base) else None):
            if candidates and len(candidates) == 1:
                return candidates[0]
        return None

    columns = [str(c) for c in df.columns]
    if len(columns) < 2:
        raise DataError(
            f"'{table}' has {_plural(len(columns), 'column')}; TransferLab needs two: the image file name and its "
            "label. Add the missing column."
        )
    hits = {c: sum(match(v) is not None for v in df[c].tolist()) for c in columns}
    file_column = max(columns, key=lambda c: hits[c])
    if hits[file_column] == 0:
        example = names[0] if names else "cat/1.jpg"
        raise DataError(
            f"None of the columns of '{table}' ({_listed(columns, 10)}) holds the file names of the images in "
            f"'{source}' (they are named like '{example}'). Put each image's file name, as it is in the ZIP, in one "
            "column and its label in another."
        )
    others = [c for c in columns if c != file_column]
    label_column = _table_label_column(df, others, table)

    labels: dict[str, str] = {}
    missing: list[tuple[int, str]] = []
    no_label: list[tuple[int, str]] = []
    conflicts: list[str] = []
    for row, value, label in zip(df.index, df[file_column].tolist(), df[label_column].tolist(), strict=True):
        if not isinstance(value, str) or not value.strip():
            continue
        name = match(value)
        if name is None:
            missing.append((int(row), value.strip()))
            continue
        if not isinstance(label, str) or not label.strip():
            no_label.append((int(row), name))
            continue
        label = unicodedata.normalize("NFC", label.strip())
        if name in labels and labels[name] != label:
            conflicts.append(name)
            continue
        labels.setdefault(name, label)
    kind = df.index.name or "row"
    if missing:
        shown = ", ".join(f"'{v}' ({kind} {r})" for r, v in missing[:_MAX_LISTED])
        more = f" and {len(missing) - _MAX_LISTED:,} more" if len(missing) > _MAX_LISTED else ""
        raise DataError(
            f"'{table}' names {_plural(len(missing), 'file')} that {'is' if len(missing) == 1 else 'are'} not in "
            f"'{source}': {shown}{more}. Check the spelling and the folders (names as in the ZIP, e.g. "
            f"'{names[0]}'), add the missing images, or remove those rows."
        )
    if no_label:
        rows = ", ".join(str(r) for r, _ in no_label[:10]) + (" ..." if len(no_label) > 10 else "")
        warnings.append(
            f"Left out {_plural(len(no_label), 'image')} with no label in column '{label_column}' of '{table}' "
            f"({kind}s {rows})."
        )
    if conflicts:
        warnings.append(
            f"{_plural(len(conflicts), 'image')} appear in '{table}' with two different labels ({_listed(conflicts)}); "
            "the first label was used. Correct the table to be sure."
        )
    unlabeled = {n for _, n in no_label}
    unlisted = [n for n in names if n not in labels and n not in unlabeled]
    if unlisted:
        warnings.append(
            f"Left out {_plural(len(unlisted), 'image')} of '{source}' that '{table}' does not list "
            f"({_listed(unlisted)})."
        )
    return labels, warnings


def _table_label_column(df: pd.DataFrame, candidates: list[str], table: str) -> str:
    if len(candidates) == 1:
        return candidates[0]
    scores = {c: _hint_score(c, _LABEL_HINTS) for c in candidates}
    best = max(scores.values())
    if best > 0 and sum(s == best for s in scores.values()) == 1:
        return max(candidates, key=lambda c: scores[c])
    rows = len(df)
    plausible = [c for c in candidates if 2 <= df[c].dropna().nunique() < rows]
    if len(plausible) == 1:
        return plausible[0]
    raise DataError(
        f"Cannot tell which column of '{table}' holds the label: {_listed(plausible or candidates, 10)} could each be it. "
        "Name the label column 'label', or remove the other columns."
    )


# --------------------------------------------------------------------------- loading


def is_image_data(path: str | Path) -> bool:
    """True for a ZIP or a folder (images), False for a table file (CSV, Excel, ...). Looks at the name only."""
    path = Path(path)
    return path.is_dir() or path.suffix.lower() == ".zip"


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
    path, listing = _listing(path)
    source = path.name
    what = "The folder" if listing.kind == "folder" else "The ZIP"
    candidates = listing.images + [n for n, _ in listing.damaged]
    if not candidates:
        raise _no_images(source, listing, what)
    if labels_file is not None:
        labels, warnings = _table_labels(listing, source, sorted(candidates), labels_file)
    else:
        labels, warnings = _folder_labels(listing, source, candidates)

    classes = set(labels.values())
    if label_names is not None:
        unknown = sorted(classes - set(label_names))
        if unknown:
            counts = Counter(labels.values())
            listed = ", ".join(f"'{c}' ({_plural(counts[c], 'image')})" for c in unknown[:_MAX_LISTED])
            raise DataError(
                f"'{source}' has the class{'es' if len(unknown) > 1 else ''} {listed}, which "
                f"{'are' if len(unknown) > 1 else 'is'} not one of the training data's classes: "
                f"{_listed(label_names, 20)}. Rename or remove {'them' if len(unknown) > 1 else 'it'}, so every class "
                "matches one of the training data."
            )
        names = list(label_names)
    else:
        names = sort_label_names(sorted(classes))
        if len(names) < 2:
            only = f"only one class, '{names[0]}' ({_plural(len(labels), 'image')})" if names else "no labeled images"
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
            f"{_plural(len(skipped), 'image')} of {len(labels):,} in '{source}' cannot be used (more than "
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
                f"'{c}' has {_plural(counts[c], 'image')}" + (f" ({lost[c]} more damaged)" if lost[c] else "")
                for c in small[:_MAX_LISTED]
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
        present_counts = {c: counts[c] for c in names}
        smallest, largest = min(present_counts, key=present_counts.get), max(present_counts, key=present_counts.get)
        if present_counts[smallest] < 0.1 * present_counts[largest]:
            warnings.append(
                f"Classes are imbalanced: '{smallest}' has {_plural(present_counts[smallest], 'image')}, '{largest}' "
                f"has {present_counts[largest]:,}. Accuracy can look good while '{smallest}' is mostly missed; watch "
                f"the per-class scores, or add images of '{smallest}'."
            )

    if skipped:
        warnings.append(
            f"Skipped {_plural(len(skipped), 'damaged or unreadable image')}: "
            + "; ".join(f"'{n}' ({r})" for n, r in skipped[:3])
            + (f"; and {len(skipped) - 3:,} more (see the list of skipped images)." if len(skipped) > 3 else ".")
        )
    ignored = listing.ignored
    if labels_file is not None and Path(labels_file).resolve().is_relative_to(listing.root):
        ignored = [n for n in ignored if n != Path(labels_file).resolve().relative_to(listing.root).as_posix()]
    if ignored:
        formats = Counter(_OTHER_IMAGE_FORMATS[_suffix(n)] for n in ignored if _suffix(n) in _OTHER_IMAGE_FORMATS)
        hint = "".join(
            f" {_plural(c, 'file')} are {f} images: convert them to PNG or JPEG to use them."
            for f, c in formats.items()
        )
        warnings.append(
            f"Ignored {_plural(len(ignored), 'file')} that {'is' if len(ignored) == 1 else 'are'} not "
            f"{'an image' if len(ignored) == 1 else 'images'} ({_listed(ignored)}). TransferLab reads {_FORMAT_NAMES} "
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
    if path.is_file() and _suffix(path.name) in IMAGE_EXTENSIONS:
        reason = _check_image(str(path))
        if reason is not None:
            raise DataError(f"'{path.name}' cannot be used: it is {reason}.")
        root = str(path.resolve().parent)
        return [str(path.resolve())], [path.name], root, []
    path, listing = _listing(path)
    what = "The folder" if listing.kind == "folder" else "The ZIP"
    if not listing.images and not listing.damaged:
        raise _no_images(path.name, listing, what)
    reasons = _verify(listing, listing.images)
    good = [n for n in listing.images if reasons[n] is None]
    skipped = sorted(listing.damaged + [(n, r) for n, r in reasons.items() if r is not None])
    if not good:
        shown = "; ".join(f"'{n}': {r}" for n, r in skipped[:3])
        raise DataError(f"None of the {_plural(len(skipped), 'image')} in '{path.name}' can be used: {shown}.")
    root = str(listing.root)
    return [os.path.join(root, *n.split("/")) for n in good], good, root, skipped


# --------------------------------------------------------------------------- summaries


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
