"""Pictures on a page: small thumbnails, so a grid of photos stays light in the browser.

A user's photos can be 4,000 pixels wide; the page sends each as a PNG with its long side
``side`` pixels instead. Tiny pictures (Fashion-MNIST's 28x28) are enlarged with sharp pixels
rather than blurred.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import streamlit as st
from PIL import Image

from engine.core.errors import TransferLabError
from engine.data.images import open_image
from ui.memo import memo

THUMB_SIDE = 112


def thumbnail(path: str | Path, side: int = THUMB_SIDE) -> bytes | None:
    """PNG bytes of the picture with its long side ``side`` pixels; None when it cannot be read.

    >>> thumbnail("data/no-such-picture.png") is None
    True
    """
    try:
        image = open_image(path)
    except (TransferLabError, OSError):
        return None
    longest = max(image.size)
    if longest > side:
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
    elif longest * 2 <= side:
        factor = side // longest
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# Paths are content-addressed uploads or cache folders, so a path always means the same picture.
@memo()
def _cached_thumbnail(path: str, side: int, mtime: float) -> bytes | None:
    return thumbnail(path, side)


def show_pictures(paths: Sequence[str], captions: Sequence[str], side: int = THUMB_SIDE) -> int:
    """A row of thumbnails (wrapping) with a caption under each; pictures that are gone are left out.

    Returns how many were shown.
    """
    shown, words = [], []
    for path, caption in zip(paths, captions, strict=True):
        try:
            mtime = Path(path).stat().st_mtime
        except OSError:
            continue
        data = _cached_thumbnail(str(path), side, mtime)
        if data is not None:
            shown.append(data)
            words.append(caption)
    if shown:
        st.image(shown, caption=words, width=side, output_format="PNG")
    return len(shown)
