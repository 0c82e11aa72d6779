"""Numbers and times in words people read at a glance (pure functions).

>>> seconds(83), params(74_498), size(3 * 1024**3)
('1 min 23 s', '74.5 K', '3.0 GB')
"""

from __future__ import annotations

import math
import time


def seconds(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "unknown"
    value = max(0.0, float(value))
    if value < 60:
        return f"{value:.0f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def params(value: float | None) -> str:
    if value is None:
        return "unknown"
    value = float(value)
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f}"


def size(value: float | None) -> str:
    if value is None:
        return "unknown"
    value = float(value)
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} bytes"


def when(timestamp: float | None) -> str:
    if not timestamp:
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def share(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"{value:.2%}" if value < 0.1 else f"{value:.1%}"
