"""Numbers and times in words people read at a glance (pure functions).

Sizes, durations and parameter counts come from ``engine.core.words`` (one home for both the
engine's messages and the pages).

>>> seconds(83), params(74_498), size(3 * 1024**3)
('1 min 23 s', '74.5 K', '3.0 GB')
"""

from __future__ import annotations

import time

from engine.core.words import format_bytes as size
from engine.core.words import format_params as params
from engine.core.words import format_seconds as seconds

__all__ = ["params", "seconds", "share", "size", "when"]


def when(timestamp: float | None) -> str:
    """A local date and time; empty for a missing or impossible time (a damaged status.json)."""
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp)) if timestamp else ""
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def share(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"{value:.2%}" if value < 0.1 else f"{value:.1%}"
