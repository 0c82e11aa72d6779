"""What TransferLab reads: file types, size limits and the checks on untrusted archives.

One home for these numbers and lists: the readers in ``engine.data``, the upload widgets of the
pages and the error messages all take them from here.

>>> is_image_data("photos.zip"), is_image_data("reviews.csv")
(True, False)
>>> table_upload_types()[:3]
['csv', 'tsv', 'txt']
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_FILE_BYTES = 200 * 1024 * 1024  # one uploaded file (a table or a ZIP)
# A labeled table larger than this trains from a memory-mapped Arrow copy of its texts (engine.data.large)
# instead of from lists in memory; it can be larger than MAX_FILE_BYTES when given as a path on this machine.
LARGE_TABLE_BYTES = 32 * 1024 * 1024
LARGE_TABLE_ENV = "TRANSFERLAB_LARGE_TABLE_BYTES"  # overrides it (0: every streamable table goes through Arrow)


def large_table_bytes() -> int:
    """``LARGE_TABLE_BYTES``, or the number in ``TRANSFERLAB_LARGE_TABLE_BYTES``."""
    return int(os.environ.get(LARGE_TABLE_ENV, LARGE_TABLE_BYTES))


# Tables of texts and labels, by file name ending.
TABLE_FORMATS = {
    ".csv": "CSV",
    ".tsv": "TSV",
    ".txt": "TSV",
    ".json": "JSON",
    ".jsonl": "JSONL",
    ".ndjson": "JSONL",
    ".parquet": "Parquet",
    ".pq": "Parquet",
    ".xlsx": "Excel",
    ".xls": "Excel",
}
SUPPORTED_TABLES = (
    "CSV (.csv), TSV (.tsv, .txt), JSON (.json), JSON Lines (.jsonl, .ndjson), Parquet (.parquet, .pq) "
    "or Excel (.xlsx, .xls)"
)
# A labels table that goes with a ZIP of pictures (file name, label).
LABEL_TABLE_FORMATS = (".csv", ".tsv", ".txt", ".xlsx", ".xls")

# Pictures.
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"})
IMAGE_FORMAT_NAMES = "JPEG, PNG, BMP, WebP or GIF"
ARCHIVE_EXTENSIONS = (".zip",)
MIN_IMAGES_PER_CLASS = 5

# Limits against archives built to fill the disk or the memory ("decompression bombs").
MAX_TOTAL_UNCOMPRESSED = 2 * 1024**3  # bytes of images unpacked from one ZIP
MAX_MEMBERS = 200_000  # entries in a ZIP, or files in a folder
# A ZIP whose pictures would unpack to more than this ratio of their packed size (and more than
# MAX_BOMB_FREE_BYTES in all) is a ZIP bomb: PNG and JPEG files hardly compress further.
MAX_COMPRESSION_RATIO = 100
MAX_BOMB_FREE_BYTES = 50 * 1024**2
MAX_PIXELS = 40_000_000  # width x height of one image, read from its header before decoding
MAX_SKIPPED_FRACTION = 0.10  # more damaged images than this is an error, not a warning


def _types(suffixes) -> list[str]:
    return [s.lstrip(".") for s in suffixes]


def table_upload_types() -> list[str]:
    """File types a table upload widget accepts (no dots), e.g. ``["csv", "tsv", ...]``."""
    return _types(TABLE_FORMATS)


def label_table_upload_types() -> list[str]:
    return _types(LABEL_TABLE_FORMATS)


def image_upload_types() -> list[str]:
    return _types(sorted(IMAGE_EXTENSIONS))


def archive_upload_types() -> list[str]:
    return _types(ARCHIVE_EXTENSIONS)


def is_image_data(path: str | Path) -> bool:
    """True for a ZIP or a folder (pictures), False for a table file (CSV, Excel, ...). Looks at the name only."""
    path = Path(path)
    return path.is_dir() or path.suffix.lower() in ARCHIVE_EXTENSIONS
