"""The report as one self-contained HTML document: styles, tables, pictures and charts, nothing fetched.

Every user string goes through :func:`esc` (``html.escape``); charts are plotly figures drawn by
plotly's JavaScript, inlined once in the page's head, from JSON in which ``<``, ``>`` and ``&`` are
escaped (a class named ``</script>`` cannot end the script). Pictures are ``data:`` URIs.

>>> esc("<b>&</b>")
'&lt;b&gt;&amp;&lt;/b&gt;'
>>> table(["class", "n"], [["<x>", 3]])
'<table><thead><tr><th>class</th><th>n</th></tr></thead><tbody><tr><td>&lt;x&gt;</td><td>3</td></tr></tbody></table>'
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

STYLE = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #d9dee7; --accent: #1f77b4; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--ink);
  margin: 0; line-height: 1.45; font-size: 15px; background: #fff; }
main { max-width: 740px; margin: 0 auto; padding: 24px 16px 64px; }
h1 { font-size: 1.7rem; margin: 0 0 4px; } h2 { font-size: 1.3rem; margin: 32px 0 8px; border-bottom: 2px solid
  var(--line); padding-bottom: 4px; } h3 { font-size: 1.05rem; margin: 20px 0 6px; }
p, li { margin: 6px 0; } .muted { color: var(--muted); font-size: 0.9rem; }
.lead { font-size: 1.05rem; } .chapter { margin-top: 48px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 12px; font-size: 0.9rem; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #f3f5f9; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.cards { display: flex; gap: 10px; flex-wrap: wrap; margin: 10px 0; }
.card { flex: 1 1 150px; border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.card .value { font-size: 1.5rem; font-weight: 600; } .card .label { color: var(--muted); font-size: 0.85rem; }
.warning { border-left: 4px solid #e0a100; background: #fff8e5; padding: 6px 10px; margin: 8px 0; color: var(--warn); }
.chart { width: 100%; margin: 8px 0; }
.example { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; margin: 8px 0; }
.example .text { white-space: pre-wrap; overflow-wrap: anywhere; }
.example img { max-width: 160px; max-height: 160px; margin-right: 8px; image-rendering: auto; }
.tok { border-radius: 3px; }
pre { background: #f3f5f9; padding: 8px; overflow-x: auto; font-size: 0.8rem; white-space: pre-wrap;
  overflow-wrap: anywhere; }
code { font-size: 0.85rem; }
@page { size: A4; margin: 12mm; }
@media print {
  main { max-width: none; padding: 0; }
  body { font-size: 12px; }
  .chapter { break-before: page; margin-top: 0; }
  h2 { break-after: avoid-page; }
  .chart, .example, table, .cards, .warning, figure { break-inside: avoid-page; }
  a { color: inherit; text-decoration: none; }
}
"""

CHART_CONFIG = {"displayModeBar": False, "responsive": True, "staticPlot": False}


def esc(value: Any) -> str:
    """A user's value as HTML text: never markup."""
    return html.escape("" if value is None else str(value), quote=True)


def script_json(text: str) -> str:
    """JSON placed inside a <script>: no character that HTML parses there (``</script>``, ``<!--``)."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    """An HTML table of escaped cells (``numeric``: the columns aligned right)."""

    def cell(tag: str, i: int, value: Any) -> str:
        klass = ' class="num"' if i in numeric else ""
        return f"<{tag}{klass}>{esc(value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bullets(lines: Iterable[str]) -> str:
    items = "".join(f"<li>{esc(line)}</li>" for line in lines)
    return f"<ul>{items}</ul>" if items else ""


def warning(text: str) -> str:
    return f'<div class="warning">{esc(text)}</div>'


def cards(values: Sequence[tuple[str, str, str]]) -> str:
    """Big numbers: (label, value, words beneath)."""
    out = "".join(
        f'<div class="card"><div class="label">{esc(label)}</div><div class="value">{esc(value)}</div>'
        f'<div class="muted">{esc(words)}</div></div>'
        for label, value, words in values
    )
    return f'<div class="cards">{out}</div>'


class Charts:
    """Numbers the chart divs of one document and writes the script that draws them."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, figure: Any, caption: str = "") -> str:
        self.count += 1
        div = f"chart-{self.count}"
        data = script_json(figure.to_json())
        config = script_json(json.dumps(CHART_CONFIG))
        note = f'<p class="muted">{esc(caption)}</p>' if caption else ""
        return (
            f'<figure class="chart"><div id="{div}" class="plot"></div>{note}</figure>'
            f"<script>(function(){{var f={data};Plotly.newPlot('{div}',f.data,f.layout,{config});}})();</script>"
        )


def image_data_uri(path: str | Path, side: int = 160) -> str | None:
    """A picture as a small PNG ``data:`` URI (None when it cannot be read)."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((side, side))
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
    except (OSError, ValueError):
        return None
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def page(title: str, body: str, plotly_js: str | None) -> str:
    """The whole document. ``plotly_js`` is plotly's library, inlined once (None when there is no chart)."""
    script = f"<script>{plotly_js}</script>" if plotly_js else ""
    # No request may leave the page: the policy blocks any that slipped in (fonts, images, scripts by URL).
    policy = (
        "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
        "img-src data:; font-src data:"
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="{policy}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)}</title>'
        f"<style>{STYLE}</style>{script}</head><body><main>{body}</main></body></html>\n"
    )
