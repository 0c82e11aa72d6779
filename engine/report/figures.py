"""The report's own chart (the scores beside the baselines and scratch) and the report's page size.

The charts the dashboard also shows (confusion matrix, per-class bars, class counts, training and
comparison curves from ``ui.charts``; the learning curve and the sweep from ``ui.study_charts``) are
pure plotly functions: the report draws them the same way, at its own width. Every user string here goes through ``plot_text`` (plotly renders a few HTML tags in labels).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from engine.core.compare import interval_bounds
from ui.charts import plot_text

WIDTH = 700  # the report's column: charts drawn at this width print on A4 without being cut
MARGIN = {"l": 10, "r": 10, "t": 60, "b": 10}
METRICS = {"accuracy": "accuracy", "macro_f1": "macro-F1"}


def sized(fig: go.Figure, height: int | None = None) -> go.Figure:
    """A chart at the report's width (and ``height``), on a white background for print."""
    fig.update_layout(width=WIDTH, autosize=False, paper_bgcolor="white", plot_bgcolor="white")
    if height:
        fig.update_layout(height=height)
    fig.update_xaxes(showgrid=True, gridcolor="#e6e9ef", zeroline=False)
    fig.update_yaxes(showgrid=True, gridcolor="#e6e9ef", zeroline=False)
    return fig


def _error(value: float, interval: Any) -> dict[str, Any] | None:
    low, high = interval_bounds(interval)
    if low is None:
        return None
    return {"type": "data", "symmetric": False, "array": [high - value], "arrayminus": [value - low], "width": 6}


def scores_chart(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Accuracy and macro-F1 of the model and what it is measured against (``rows``: name, accuracy,
    accuracy_ci, macro_f1, macro_f1_ci), one bar each with its 95% interval."""
    fig = go.Figure()
    names = [plot_text(r["name"]) for r in rows]
    for (key, title), color in zip(METRICS.items(), ("#1f77b4", "#ff7f0e"), strict=True):
        values = [float(r.get(key) or 0.0) for r in rows]
        lows, highs = [], []
        for r, v in zip(rows, values, strict=True):
            low, high = interval_bounds(r.get(f"{key}_ci"))
            lows.append(0.0 if low is None else v - low)
            highs.append(0.0 if high is None else high - v)
        fig.add_trace(
            go.Bar(
                name=title,
                y=names,
                x=values,
                orientation="h",
                marker_color=color,
                text=[f"{v:.3f}" for v in values],
                textposition="inside",
                error_x={"type": "data", "symmetric": False, "array": highs, "arrayminus": lows, "width": 4},
            )
        )
    fig.update_layout(
        barmode="group",
        title={"text": "Test scores", "subtitle": {"text": "bars: 95% interval (bootstrap over the test examples)"}},
        margin=MARGIN,
        legend={"orientation": "h", "y": -0.2},
    )
    fig.update_xaxes(range=[0, 1.02], title="score on the test split")
    fig.update_yaxes(autorange="reversed", type="category")
    return sized(fig, 140 + 70 * len(rows))
