"""Untrusted ZIPs and folders of pictures: listed and unpacked safely, once, into the cache.

Each entry's path is built and checked here (never ``extractall``): entries that would land
outside the extraction folder and links are refused before anything is written, and the number
of entries and the unpacked bytes (as declared and as actually read) are capped. A ZIP is
unpacked once into ``workspace/cache/images/<first 16 hex digits of its SHA-256>``; a marker
written last says the folder is whole.
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
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from engine.core.errors import DataError
from engine.core.formats import (
    ARCHIVE_EXTENSIONS,
    IMAGE_EXTENSIONS,
    MAX_BOMB_FREE_BYTES,
    MAX_COMPRESSION_RATIO,
    MAX_MEMBERS,
    MAX_TOTAL_UNCOMPRESSED,
    TABLE_FORMATS,
)
from engine.core.housekeeping import evict, touch
from engine.core.words import format_bytes, listed
from engine.core.workspace import cache_dir

# Files in a ZIP that may be the labels table (a .txt is more often a README).
TABLE_ENTRIES = frozenset(TABLE_FORMATS) - {".txt"}

# Files that operating systems add to folders and ZIPs; never the user's data, never mentioned.
_SYSTEM_FILES = frozenset({".ds_store", "thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r"})


CACHE_VERSION = 1


_MANIFEST = ".transferlab-manifest.json"


_COMPLETE = ".transferlab-complete"  # written last: its presence means the folder is whole


_CHUNK = 1024 * 1024


@dataclass
class Listing:
    """What a ZIP or folder holds, before any image is decoded."""

    root: Path
    kind: str  # "ZIP" or "folder"
    images: list[str]  # names relative to root, "/"-separated, sorted; present on disk
    damaged: list[tuple[str, str]] = field(default_factory=list)  # image entries that could not be unpacked
    ignored: list[str] = field(default_factory=list)  # files that are not images (system files left out)
    folders: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)  # CSV/Excel/... files among the ignored ones


def _is_system_file(parts: Sequence[str]) -> bool:
    """Hidden files, macOS resource forks (__MACOSX/, ._x.png) and Windows thumbnails."""
    return parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts) or parts[-1].lower() in _SYSTEM_FILES


def suffix(name: str) -> str:
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


def _plan_zip(zf: zipfile.ZipFile, source: str) -> tuple[list[tuple[zipfile.ZipInfo, str]], Listing]:
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
        if suffix(name) not in IMAGE_EXTENSIONS:
            ignored.append(name)
        elif name in images:
            damaged.append((name, "appears twice in the ZIP; the first copy was used"))
        else:
            images[name] = info
    encrypted = [n for n, i in images.items() if i.flag_bits & 0x1]
    if encrypted:
        raise DataError(
            f"'{source}' is password-protected ({listed(encrypted, 3)} cannot be read without the password). "
            "Create the ZIP again without a password."
        )
    declared = sum(i.file_size for i in images.values())
    if declared > MAX_TOTAL_UNCOMPRESSED:
        raise DataError(
            f"The images in '{source}' unpack to {format_bytes(declared)}; TransferLab unpacks up to "
            f"{format_bytes(MAX_TOTAL_UNCOMPRESSED)}. Use fewer images, or smaller ones (about 512 pixels on the long side "
            "is plenty for training)."
        )
    packed = sum(i.compress_size for i in images.values())
    if declared > MAX_BOMB_FREE_BYTES and declared > MAX_COMPRESSION_RATIO * max(packed, 1):
        raise DataError(
            f"The images in '{source}' would unpack from {format_bytes(packed)} to {format_bytes(declared)}: more "
            f"than {MAX_COMPRESSION_RATIO}x, which real pictures never are (PNG and JPEG are compressed already). "
            "This looks like a ZIP bomb, so it was not unpacked. Create the ZIP again from the picture files."
        )
    listing = Listing(
        root=Path(),
        kind="ZIP",
        images=[],
        damaged=damaged,
        ignored=sorted(ignored),
        folders=sorted(folders),
        tables=sorted(n for n in ignored if suffix(n) in TABLE_ENTRIES),
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
                f"The images in '{source}' unpack to more than {format_bytes(MAX_TOTAL_UNCOMPRESSED)}, TransferLab's limit. "
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
                    f"The disk is full: unpacking '{source}' needs {format_bytes(sum(i.file_size for i, _ in members))}. "
                    "Free some space (old runs in the Runs page), or use fewer images."
                ) from None
            damaged.append((name, f"could not be unpacked ({err.strerror or err}); rename it"))
            continue
        unpacked.append(name)
    return unpacked, damaged


def _cached_listing(folder: Path) -> Listing | None:
    """The listing of a complete earlier extraction whose files are all still there, else None."""
    if not (folder / _COMPLETE).is_file():
        return None
    try:
        manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("version") != CACHE_VERSION:
        return None
    images = manifest["images"]
    if not all(os.path.isfile(os.path.join(folder, *n.split("/"))) for n in images):
        return None
    return Listing(
        root=folder,
        kind="ZIP",
        images=images,
        damaged=[tuple(d) for d in manifest["damaged"]],
        ignored=manifest["ignored"],
        folders=manifest["folders"],
        tables=manifest["tables"],
    )


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def _unpack_zip(path: Path) -> Listing:
    """Unpack the images of a ZIP into the cache (once per content) and list what it holds."""
    cache = cache_dir("images")
    target = cache / _sha256(path)[:16]
    listing = _cached_listing(target)
    if listing is not None:
        touch(target)
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
                "version": CACHE_VERSION,
                "images": images,
                "damaged": listing.damaged + damaged,
                "ignored": listing.ignored,
                "folders": listing.folders,
                "tables": listing.tables,
            }
            write_json(tmp / _MANIFEST, manifest)
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
    evict("images", keep=target)
    return listing


def _scan_folder(path: Path) -> Listing:
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
            (images if suffix(f) in IMAGE_EXTENSIONS else ignored).append(name)
    return Listing(
        root=root,
        kind="folder",
        images=sorted(images),
        ignored=sorted(ignored),
        folders=sorted(folders),
        tables=sorted(n for n in ignored if suffix(n) in TABLE_ENTRIES),
    )


def _link_outside(path: Path, parts: Sequence[str], full: Path) -> DataError:
    return DataError(
        f"'{'/'.join(parts)}' in the folder '{path.name}' is a link to '{os.readlink(full)}', outside the folder. "
        "TransferLab only reads files inside the folder you choose: copy the images in, or remove the link."
    )


def list_archive(path: str | Path) -> tuple[Path, Listing]:
    path = Path(path)
    if not path.exists():
        raise DataError(f"'{path}' does not exist. Check the name and the folder, then try again.")
    if path.is_dir():
        return path, _scan_folder(path)
    if path.stat().st_size == 0:
        raise DataError(f"'{path.name}' is empty (0 bytes). Choose the ZIP that holds your images.")
    if path.suffix.lower() not in ARCHIVE_EXTENSIONS and not zipfile.is_zipfile(path):
        raise DataError(
            f"'{path.name}' is not a ZIP archive or a folder of images. Upload the images as a ZIP with one folder "
            "per class (cat/1.jpg, dog/2.jpg, ...); a CSV file of file names and labels can go with it."
        )
    return path, _unpack_zip(path)
