"""Numbers, sizes, durations and lists in words people read at a glance (pure functions).

>>> plural(1, "row"), plural(1200, "row")
('1 row', '1,200 rows')
>>> listed(["a", "b", "c"], limit=2)
"'a', 'b' and 1 more"
>>> format_bytes(3 * 1024**3), format_bytes(1536), format_bytes(12)
('3.0 GB', '1.5 KB', '12 bytes')
>>> format_seconds(83), about_duration(480)
('1 min 23 s', '8 minutes')
>>> print(markdown_text("![x](p.png) <b>"))
\\!\\[x\\]\\(p\\.png\\) \\<b\\>
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

MAX_LISTED = 5  # names quoted in a message before "and N more"


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def listed(names: Sequence[str], limit: int = MAX_LISTED) -> str:
    """Names in quotes, at most ``limit`` of them: 'a', 'b', 'c' and 4 more."""
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


def format_bytes(value: float | None) -> str:
    if value is None:
        return "unknown"
    value = float(value)
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} bytes"


def format_seconds(value: float | None) -> str:
    """A measured duration: '45 s', '1 min 23 s', '2 h 5 min'."""
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


def about_duration(seconds: float) -> str:
    """An estimated duration, rounded as an estimate deserves: '25 seconds', '8 minutes', '1.5 hours'."""
    if seconds < 90:
        return f"{max(5, round(seconds / 5) * 5)} seconds"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{seconds / 3600:.1f} hours"


def format_params(value: float | None) -> str:
    """'74.5 K', '22.7 M', '1.2 B'."""
    if value is None:
        return "unknown"
    value = float(value)
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f}"


# Markdown (and Streamlit's additions: :color[...], :material/icon:, $LaTeX$) and HTML punctuation.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=\"'])")


def markdown_text(value: object) -> str:
    """A user's string (a label, a file, column or run name, a message quoting them) made inert where it is
    shown as Markdown: every punctuation mark that could start a link, an image, HTML, a directive or a
    formula is backslash-escaped (shown as itself), web and e-mail addresses are kept from becoming links
    (an invisible word joiner), and each line stays a line (a hard break)."""
    lines = (" ".join(line.split()) for line in str(value).splitlines())
    escaped = "  \n".join(_MARKDOWN_SPECIAL.sub(r"\\\1", line) for line in lines)
    # GitHub-style autolinks (http://, www., e-mail addresses) are found after escapes are resolved:
    # an invisible word joiner inside the pattern keeps them text.
    for pattern, inert in (("\\://", "\\:\u2060//"), ("www\\.", "www\u2060\\."), ("@", "@\u2060")):
        escaped = escaped.replace(pattern, inert)
    return escaped


def percent(share: float) -> str:
    """A share in words, precise enough not to round a few cases to nothing.

    >>> percent(0.934), percent(0.0042), percent(0.0), percent(0.05)
    ('93%', '0.4%', '0%', '5%')
    """
    return f"{share:.1%}" if 0 < share < 0.01 else f"{share:.0%}"
