"""Explanations in plain data: the numbers they are made with, and words as spans of the text.

Torch-free, so the dashboard, the report and the explainer in the model process share one rule.
A text's explanation is a list of words, each ``{"text", "start", "end", "weights": {class: w}}``:
the span in the text (character offsets) and, for every class, how much the word moved that
class's probability (positive: toward it).

>>> text = "free prize, call now"
>>> words = pieces_to_words(text, [None, 0, 1, 1, 2, 3, None], [(0, 0), (0, 4), (5, 10), (10, 11),
...     (12, 16), (17, 20), (0, 0)], [[0.0], [0.2], [0.3], [0.0], [0.1], [-0.1], [0.0]], ["spam"])
>>> [(w["text"], w["weights"]["spam"]) for w in words]
[('free', 0.2), ('prize,', 0.3), ('call', 0.1), ('now', -0.1)]
>>> without_words(text, words, [0, 1])
'call now'
>>> strongest_words(words, "spam", 0.5)
[1, 0]
>>> highlight_html("<b>free</b> prize", [{"start": 3, "end": 7, "weights": {"spam": 0.4}}], "spam")
'&lt;b&gt;<span class="tok" style="background:rgba(44,160,44,0.60)" title="+40 points">free</span>&lt;/b&gt; prize'
>>> word_summary(words, "spam", 2)
"Toward 'spam' most: 'prize,' (+30 points), 'free' (+20 points). Away from it: 'now' (-10 points)."
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from typing import Any

EXPLAIN_MAX_TOKENS = 128  # a text's explanation covers at most this many tokens (and the model's max length)
OCCLUSION_TEXTS_PER_PASS = 32  # a text with one word deleted, this many copies per forward pass
OCCLUSION_WINDOW = 1 / 7  # a picture is hidden a square of this share of its side at a time ...
OCCLUSION_STRIDE = 1 / 14  # ... moved this share of its side per step
OCCLUSION_PER_PASS = 16  # hidden copies of the picture per forward pass
EXPLAINED_MISTAKES = 10  # Results offers the most confident mistakes, this many, to explain
HIGHLIGHT_MAX_CHARS = 2_000  # a longer text is shown cut (its explanation covers the start only)
HIGHLIGHT_ALPHA = 0.6  # the strongest word's shade; the others in proportion
SURE_BELOW_POINTS = 1  # when no word moves the probability this many points, the summary says why
TOWARD_COLOUR, AWAY_COLOUR = "44,160,44", "214,39,40"  # green: pushed toward the class; red: away from it


def pieces_to_words(
    text: str,
    word_ids: Sequence[int | None],
    offsets: Sequence[tuple[int, int]],
    weights: Sequence[Sequence[float]],
    label_names: Sequence[str],
) -> list[dict[str, Any]]:
    """Word pieces merged back into the words of ``text`` (their weights summed); special tokens
    (``word_ids`` None) are left out, and each word's span is trimmed of surrounding spaces."""
    merged: dict[int, list[Any]] = {}
    for word, (start, end), row in zip(word_ids, offsets, weights, strict=True):
        if word is None or end <= start:
            continue
        if word not in merged:
            merged[word] = [start, end, [0.0] * len(label_names)]
        entry = merged[word]
        entry[0], entry[1] = min(entry[0], start), max(entry[1], end)
        entry[2] = [a + float(b) for a, b in zip(entry[2], row, strict=True)]
    words = []
    for start, end, totals in sorted(merged.values(), key=lambda e: e[0]):
        span = text[start:end]
        start, end = start + len(span) - len(span.lstrip()), end - (len(span) - len(span.rstrip()))
        if end > start:
            words.append(
                {
                    "text": text[start:end],
                    "start": start,
                    "end": end,
                    "weights": {name: round(w, 6) for name, w in zip(label_names, totals, strict=True)},
                }
            )
    return words


def strongest_words(words: Sequence[dict[str, Any]], label: str, share: float) -> list[int]:
    """The indices of the ``share`` of words (at least one) that pushed most toward ``label``, strongest first."""
    k = max(1, math.ceil(len(words) * share)) if words else 0
    return sorted(range(len(words)), key=lambda i: -words[i]["weights"][label])[:k]


def without_words(text: str, words: Sequence[dict[str, Any]], indices: Sequence[int]) -> str:
    """``text`` with the given words deleted (what a faithfulness check feeds the model again)."""
    cut = sorted((words[i]["start"], words[i]["end"]) for i in indices)
    parts, at = [], 0
    for start, end in cut:
        parts.append(text[at:start])
        at = end
    parts.append(text[at:])
    return re.sub(r"\s{2,}", " ", "".join(parts)).strip()


def highlight_html(
    text: str, words: Sequence[dict[str, Any]] | None, label: str, max_chars: int = HIGHLIGHT_MAX_CHARS
) -> str:
    """The text as escaped HTML (never markup), each explained word shaded by its weight toward ``label``:
    green pushed toward it, red away from it, the strongest word the darkest; its weight in the tooltip.
    Cut at ``max_chars`` with an ellipsis. The dashboard and the report show explanations with this."""
    shown = str(text)[:max_chars]
    spans = []
    for word in words or []:
        try:
            start, end = int(word["start"]), int(word["end"])
            weight = float((word.get("weights") or {}).get(label, 0.0))
        except (KeyError, TypeError, ValueError):
            continue
        if 0 <= start < end <= len(shown) and math.isfinite(weight):
            spans.append((start, end, weight))
    top = max((abs(w) for *_, w in spans), default=0.0)
    more = "…" if len(str(text)) > len(shown) else ""
    if not top:
        return html.escape(shown) + more
    out, at = [], 0
    for start, end, weight in sorted(spans):
        if start < at:
            continue  # overlapping words: the first one wins
        out.append(html.escape(shown[at:start]))
        colour = TOWARD_COLOUR if weight > 0 else AWAY_COLOUR
        alpha = min(abs(weight) / top, 1.0) * HIGHLIGHT_ALPHA
        out.append(
            f'<span class="tok" style="background:rgba({colour},{alpha:.2f})" title="{points(weight)}">'
            f"{html.escape(shown[start:end])}</span>"
        )
        at = end
    out.append(html.escape(shown[at:]))
    return "".join(out) + more


def word_summary(words: Sequence[dict[str, Any]], label: str, n: int = 5) -> str:
    """In words: the ``n`` words that pushed most toward ``label`` and the ``n`` that pushed most away."""
    weighted = [(w["text"], float(w["weights"].get(label, 0.0))) for w in words]
    toward = sorted((x for x in weighted if x[1] > 0), key=lambda x: -x[1])[:n]
    away = sorted((x for x in weighted if x[1] < 0), key=lambda x: x[1])[:n]

    def listed(items: list[tuple[str, float]]) -> str:
        return ", ".join(f"'{text}' ({points(weight)})" for text, weight in items)

    parts = [f"Toward '{label}' most: {listed(toward)}." if toward else f"No word pushed toward '{label}'."]
    if away:
        parts.append(f"Away from it: {listed(away)}.")
    strongest = max((abs(w) for _, w in weighted), default=0.0)
    if 0 < strongest < SURE_BELOW_POINTS / 100:
        parts.append(
            f"No single word moves the probability by {SURE_BELOW_POINTS:g} point or more: the model rests on many "
            "words together, and the shades compare the words with each other."
        )
    return " ".join(parts)


def points(weight: float) -> str:
    """A change of probability in percentage points, to two significant digits however small.

    >>> points(0.3), points(-0.0004), points(0.05123), points(-0.99999), points(1e-8), points(0.0)
    ('+30 points', '-0.04 points', '+5.1 points', '-100 points', '+<0.001 points', '0 points')
    """
    size, sign = abs(weight) * 100, "+" if weight > 0 else "-"
    if size == 0:
        return "0 points"
    if size < 0.001:
        return f"{sign}<0.001 points"
    return f"{sign}{size:.0f} points" if size >= 10 else f"{sign}{size:.2g} points"
