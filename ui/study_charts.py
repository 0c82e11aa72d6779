"""Plotly figures of a learning curve and a strategy sweep, as pure functions of their JSON.

>>> curve = {"points": [
...     {"fraction": 0.5, "examples": 50, "method": "lora", "accuracy": 0.7, "accuracy_ci": [0.6, 0.8]},
...     {"fraction": 1, "examples": 100, "method": "lora", "accuracy": 0.8, "accuracy_ci": [0.7, 0.9]}]}
>>> [trace.name for trace in learning_curve_figure(curve).data]
['lora: 95% interval', 'lora']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
from plotly.colors import qualitative

from engine.core.studies import CLASSICAL
from engine.core.words import format_params, format_seconds
from ui.charts import plot_text

HEIGHT = 380
MARGIN = {"l": 10, "r": 10, "t": 60, "b": 10}
BUBBLE_PX = (14, 48)  # marker diameter of the sweep's fewest and most trainable parameters


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def learning_curve_figure(curve: Mapping[str, Any], unit: str = "example") -> go.Figure:
    """Test accuracy against labeled examples (log scale: each fraction evenly spaced), one line per method
    (the strategy, the classical baseline) with its 95% interval as a band."""
    fig = go.Figure()
    sizes = sorted({int(p["examples"]) for p in curve.get("points") or []})
    methods = list(dict.fromkeys(p["method"] for p in curve.get("points") or []))
    methods.sort(key=lambda m: m == CLASSICAL)  # the model first, the baseline after
    for i, method in enumerate(methods):
        pts = sorted((p for p in curve["points"] if p["method"] == method), key=lambda p: p["examples"])
        colour = "#7f7f7f" if method == CLASSICAL else qualitative.Plotly[i % len(qualitative.Plotly)]
        name = plot_text(pts[0].get("name") or "classical baseline") if method == CLASSICAL else plot_text(method)
        x = [p["examples"] for p in pts]
        cis = [p.get("accuracy_ci") or [p["accuracy"], p["accuracy"]] for p in pts]
        fig.add_trace(
            go.Scatter(
                x=x + x[::-1],
                y=[c[1] for c in cis] + [c[0] for c in cis][::-1],
                fill="toself",
                fillcolor=_rgba(colour, 0.15),
                mode="lines",  # the band alone: plotly's default would dot its corners
                line={"width": 0},
                hoverinfo="skip",
                name=f"{name}: 95% interval",
                showlegend=False,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[p["accuracy"] for p in pts],
                mode="lines+markers",
                name=name,
                line={"color": colour, "dash": "dot" if method == CLASSICAL else "solid"},
                customdata=[[f"{p['fraction']:.0%}", c[0], c[1]] for p, c in zip(pts, cis, strict=True)],
                hovertemplate=f"%{{x:,}} {unit}s (%{{customdata[0]}})<br>accuracy %{{y:.3f}}"
                "<br>95% interval %{customdata[1]:.3f}–%{customdata[2]:.3f}<extra>" + name + "</extra>",
            )
        )
    fig.update_layout(
        title={"text": f"Test accuracy against labeled {unit}s", "subtitle": {"text": "bands: 95% intervals"}},
        height=HEIGHT,
        margin=MARGIN,
        # Ticks at the curve's own sizes: a log axis's default ticks (5, 6, ... 1000, 2, 3) read as nonsense.
        xaxis={
            "title": f"labeled {unit}s to train on",
            "type": "log",
            "tickvals": sizes,
            "ticktext": [f"{n:,}" for n in sizes],
        },
        yaxis={"title": "test accuracy"},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def bubble_sizes(params: list[int]) -> list[float]:
    """Marker diameters by area, proportional to the log of the trainable parameters (they span 1,000×).

    >>> bubble_sizes([1000, 1000000])
    [14.0, 48.0]
    """
    logs = [math.log10(max(1, p)) for p in params]
    low, high = min(logs), max(logs)
    small, large = BUBBLE_PX
    if high == low:
        return [float(large + small) / 2] * len(params)
    return [round(math.sqrt(small**2 + (large**2 - small**2) * (v - low) / (high - low)), 1) for v in logs]


def sweep_figure(sweep: Mapping[str, Any]) -> go.Figure:
    """Accuracy (95% interval as error bars) against time to train, one bubble per strategy sized by its
    trainable parameters; the Pareto front (no other strategy both more accurate and faster) joined by a
    line and its bubbles outlined."""
    pts = sorted(sweep.get("points") or [], key=lambda p: p["train_seconds"])
    sizes = bubble_sizes([int(p.get("trainable_params") or 1) for p in pts])
    fig = go.Figure()
    front = [p for p in pts if p.get("pareto")]
    if front:
        fig.add_trace(
            go.Scatter(
                x=[p["train_seconds"] for p in front],
                y=[p["accuracy"] for p in front],
                mode="lines",
                line={"color": "#2ca02c", "dash": "dash"},
                name="Pareto front",
                hoverinfo="skip",
            )
        )
    cis = [p.get("accuracy_ci") or [p["accuracy"], p["accuracy"]] for p in pts]
    fig.add_trace(
        go.Scatter(
            x=[p["train_seconds"] for p in pts],
            y=[p["accuracy"] for p in pts],
            mode="markers+text",
            text=[plot_text(p["strategy"]) for p in pts],
            textposition="top center",
            marker={
                "size": sizes,
                "color": ["#2ca02c" if p.get("pareto") else "#1f77b4" for p in pts],
                "opacity": 0.7,
                "line": {"width": [3 if p.get("pareto") else 0 for p in pts], "color": "#145a14"},
            },
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [c[1] - p["accuracy"] for p, c in zip(pts, cis, strict=True)],
                "arrayminus": [p["accuracy"] - c[0] for p, c in zip(pts, cis, strict=True)],
                "color": "#999999",
            },
            customdata=[
                [
                    format_seconds(p["train_seconds"]),
                    format_params(p.get("trainable_params")),
                    "yes" if p.get("pareto") else "no",
                ]
                for p in pts
            ],
            hovertemplate="%{text}<br>accuracy %{y:.3f}<br>time to train %{customdata[0]}"
            "<br>trainable parameters %{customdata[1]}<br>on the Pareto front: %{customdata[2]}<extra></extra>",
            name="strategies",
            showlegend=False,
        )
    )
    fig.update_layout(
        title={
            "text": "Accuracy against time to train",
            "subtitle": {"text": "bubble area: trainable parameters · bars: 95% intervals"},
        },
        height=HEIGHT,
        margin=MARGIN,
        xaxis={"title": "time to train (seconds, log scale)", "type": "log"},
        yaxis={"title": "test accuracy"},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig
