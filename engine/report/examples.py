"""Correct and wrong test predictions for the report, with explanations when ``engine.explain`` is there.

The examples come from predictions.csv: the most confident mistakes first (they are worth a look),
and as many correct predictions, the least confident ones among them being the instructive ones but
the confident ones showing what the model gets right, so a spread of both. Explanations are asked of
``engine.explain`` (words that pushed a text toward its predicted class, a heat map over a picture);
without that module, or when it fails, the examples are shown without them.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from engine.core.explanations import highlight_html
from engine.core.reporting import EXAMPLES_SHOWN
from engine.report.document import esc, image_data_uri

log = logging.getLogger(__name__)
MAX_TEXT_CHARS = 600  # a long e-mail is cut in the report (its explanation covers the start)
EXPLAIN_TOKENS = 256


def pick(predictions: pd.DataFrame, n: int = EXAMPLES_SHOWN) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(wrong, correct): the ``n`` most confident mistakes, and ``n`` correct predictions spread over confidence.

    >>> table = pd.DataFrame({"text": list("abcdef"), "correct": [True, False, True, True, False, True],
    ...                       "confidence": [0.9, 0.8, 0.6, 0.99, 0.7, 0.5]})
    >>> wrong, right = pick(table, 2)
    >>> wrong["text"].tolist(), right["text"].tolist()
    (['b', 'e'], ['d', 'f'])
    """
    correct = predictions["correct"].astype(str) == "True"
    wrong = predictions[~correct].sort_values("confidence", ascending=False).head(n)
    right = predictions[correct].sort_values("confidence", ascending=False)
    if len(right) > n:  # from the most to the least confident, evenly
        step = (len(right) - 1) / max(n - 1, 1)
        right = right.iloc[sorted({round(i * step) for i in range(n)})]
    return wrong, right


def explanations(model_dir: Path, rows: pd.DataFrame, column: str, picture: bool, out: Path) -> dict[int, dict]:
    """Explanations by row position, from ``engine.explain``; empty when it is not installed or fails."""
    try:
        from engine import explain  # part of TransferLab from issue 14 on; older checkouts lack it
    except ImportError:
        log.info("No explanations: engine.explain is not available")
        return {}
    found: dict[int, dict] = {}
    try:
        from engine.predict import Predictor

        model = Predictor(model_dir)  # loaded once for every example
        if picture:
            for i, path in enumerate(rows[column].tolist()):
                if Path(str(path)).is_file():
                    found[i] = explain.explain_image(model, str(path), str(out / f"heatmap-{i}.png"))
        else:
            texts = [str(t) for t in rows[column].tolist()]
            if texts:
                found = dict(enumerate(explain.explain_texts(model, texts, max_tokens=EXPLAIN_TOKENS)))
    except Exception as exc:  # an explanation is extra: the report goes on without it
        log.warning("Explanations left out (%s: %s)", type(exc).__name__, exc)
        return {}
    return found


def highlighted(text: str, explanation: dict[str, Any] | None, label: str) -> str:
    """The text as escaped HTML, each explained word shaded by its weight toward ``label``."""
    return highlight_html(text, (explanation or {}).get("tokens"), label, MAX_TEXT_CHARS)


def examples_html(predictions: pd.DataFrame, model_dir: Path | None, picture: bool) -> tuple[str, bool]:
    """The examples section's body, and whether explanations are in it."""
    wrong, right = pick(predictions)
    column = "path" if picture and "path" in predictions else predictions.columns[0]
    parts = []
    with tempfile.TemporaryDirectory(prefix="transferlab-report-") as tmp:
        both = pd.concat([wrong, right])
        found = explanations(model_dir, both, column, picture, Path(tmp)) if model_dir and len(both) else {}
        explained = bool(found)
        offset = 0
        for title, rows in (("Wrong predictions, the most confident first", wrong), ("Correct predictions", right)):
            if rows.empty:
                parts.append(f"<h3>{esc(title)}</h3><p class='muted'>None in the test split.</p>")
                continue
            records = rows.to_dict("records")
            items = [example_html(row, found.get(offset + i), column, picture) for i, row in enumerate(records)]
            offset += len(records)
            parts.append(f"<h3>{esc(title)}</h3>" + "".join(items))
    return "".join(parts), explained


def example_html(row: dict[str, Any], explanation: dict[str, Any] | None, column: str, picture: bool) -> str:
    verdict = (
        f"true: {row.get('true_label')} · predicted: {row.get('predicted_label')} ({float(row['confidence']):.0%})"
    )
    if picture:
        pictures = []
        source = image_data_uri(row.get(column, "")) if row.get(column) else None
        if source:
            pictures.append(f'<img alt="test picture" src="{source}">')
        heatmap = (explanation or {}).get("heatmap")
        heat = image_data_uri(heatmap) if heatmap else None
        if heat:
            pictures.append(f'<img alt="heat map: where the model looked" src="{heat}">')
        name = row.get("file") or Path(str(row.get(column, ""))).name
        body = "".join(pictures) or "<span class='muted'>(the picture is no longer on this computer)</span>"
        return f'<div class="example"><div>{body}</div><div class="muted">{esc(name)} · {esc(verdict)}</div></div>'
    text = str(row.get(column, ""))
    return (
        f'<div class="example"><div class="text">{highlighted(text, explanation, str(row.get("predicted_label")))}'
        f'</div><div class="muted">{esc(verdict)}</div></div>'
    )
