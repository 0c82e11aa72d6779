"""Plotly figures as pure functions of plain data: no Streamlit, no torch.

>>> fig = class_counts_bar({"ham": 40, "spam": 10})
>>> list(fig.data[0].x)
['ham', 'spam']
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
_BLUE = "#1f77b4"
_ORANGE = "#ff7f0e"

# Validation metrics worth plotting, in the order a reader looks for them.
EVAL_METRICS = {"eval_accuracy": "accuracy", "eval_macro_f1": "macro-F1"}


def plot_text(value: Any) -> str:
    """A user's string (a class or run name) as plotly shows it: plotly renders a few HTML tags in labels
    and hover text (<a href> becomes a link), so they are escaped and shown as typed."""
    return html.escape(str(value), quote=False)


def _layout(fig: go.Figure, title: str, height: int = 320, **kw: Any) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=_MARGIN, **kw)
    return fig


def _waiting(fig: go.Figure, what: str) -> go.Figure:
    """An empty chart says what it is waiting for instead of showing bare axes."""
    fig.add_annotation(text=f"No {what} yet", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return fig


def class_counts_bar(counts: Mapping[str, int], title: str = "Examples per class") -> go.Figure:
    """A bar per class; the smallest class is highlighted so an imbalance is easy to see."""
    labels = [plot_text(k) for k in counts]
    values = [int(v) for v in counts.values()]
    smallest = min(values) if values else 0
    colors = [_ORANGE if v == smallest and len(set(values)) > 1 else _BLUE for v in values]
    fig = go.Figure(go.Bar(x=labels, y=values, marker_color=colors, text=values, textposition="auto"))
    fig.update_xaxes(type="category", title="class")
    fig.update_yaxes(title="examples")
    return _layout(fig, title)


def events_frames(events: Sequence[Mapping[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split events.jsonl into (train steps, evaluations), one row per step, later lines winning.

    A resumed run repeats steps after its checkpoint; keeping the last line per step keeps the
    curve honest.
    """
    train = [e for e in events if e.get("type") == "train" and e.get("step") is not None]
    evals = [e for e in events if e.get("type") == "eval" and e.get("step") is not None]
    train_df = pd.DataFrame(train, columns=["step", "epoch", "loss", "learning_rate", "samples_per_second"])
    eval_df = pd.DataFrame(evals)
    if not train_df.empty:
        train_df = train_df.drop_duplicates("step", keep="last").sort_values("step")
    if not eval_df.empty:
        eval_df = eval_df.drop_duplicates("step", keep="last").sort_values("step")
    return train_df.reset_index(drop=True), eval_df.reset_index(drop=True)


def loss_curve(events: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Training loss per logging step, with the validation loss per epoch when there is one."""
    train_df, eval_df = events_frames(events)
    fig = go.Figure()
    if not train_df.empty:
        fig.add_trace(go.Scatter(x=train_df["step"], y=train_df["loss"], mode="lines+markers", name="train loss"))
    if not eval_df.empty and "eval_loss" in eval_df:
        fig.add_trace(
            go.Scatter(x=eval_df["step"], y=eval_df["eval_loss"], mode="lines+markers", name="validation loss")
        )
    if not fig.data:
        _waiting(fig, "training steps logged")
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="loss", rangemode="tozero")
    return _layout(fig, "Loss", legend={"orientation": "h", "y": -0.25})


def metric_curve(events: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Validation accuracy and macro-F1 after each epoch."""
    _, eval_df = events_frames(events)
    fig = go.Figure()
    for column, name in EVAL_METRICS.items():
        if not eval_df.empty and column in eval_df:
            fig.add_trace(go.Scatter(x=eval_df["epoch"], y=eval_df[column], mode="lines+markers", name=name))
    if not fig.data:
        _waiting(fig, "validation results (one after each epoch)")
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title="validation score", range=[0, 1.02])
    return _layout(fig, "Validation metrics", legend={"orientation": "h", "y": -0.25})


def confusion_matrix_heatmap(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> go.Figure:
    """Rows are the true class, columns the predicted one; each cell shows its count."""
    labels = [plot_text(x) for x in labels]
    z = [[int(v) for v in row] for row in matrix]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            text=z,
            texttemplate="%{text}",
            colorscale="Blues",
            hovertemplate="true %{y}<br>predicted %{x}<br>%{z} examples<extra></extra>",
        )
    )
    fig.update_xaxes(title="predicted", type="category", side="bottom")
    fig.update_yaxes(title="true", type="category", autorange="reversed")
    side = max(320, 60 * len(labels) + 120)
    return _layout(fig, "Confusion matrix (test split)", height=min(side, 800))


def per_class_bars(per_class: Mapping[str, Mapping[str, float]]) -> go.Figure:
    """Grouped precision / recall / F1 bars, one group per class."""
    labels = [plot_text(k) for k in per_class]
    fig = go.Figure()
    for score in ("precision", "recall", "f1"):
        fig.add_trace(
            go.Bar(name="F1" if score == "f1" else score, x=labels, y=[per_class[k][score] for k in per_class])
        )
    fig.update_xaxes(type="category", title="class")
    fig.update_yaxes(range=[0, 1.02], title="score")
    return _layout(fig, "Per-class scores (test split)", barmode="group", legend={"orientation": "h", "y": -0.25})


def validation_overlay(curves: Mapping[str, Sequence[Mapping[str, Any]]], metric: str = "eval_macro_f1") -> go.Figure:
    """One validation curve per run (run name -> its events), to compare runs."""
    fig = go.Figure()
    for name, events in curves.items():
        _, eval_df = events_frames(events)
        if eval_df.empty or metric not in eval_df:
            continue
        fig.add_trace(go.Scatter(x=eval_df["epoch"], y=eval_df[metric], mode="lines+markers", name=plot_text(name)))
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title=f"validation {EVAL_METRICS.get(metric, metric)}", range=[0, 1.02])
    return _layout(fig, "Validation curves", legend={"orientation": "h", "y": -0.25})


def runs_scatter(runs: pd.DataFrame) -> go.Figure:
    """Test accuracy against train time, one marker per run, sized by trainable parameters.

    ``runs`` needs the columns run, accuracy, train_seconds and trainable_params.
    """
    df = runs.dropna(subset=["accuracy", "train_seconds"]).copy()
    fig = go.Figure()
    if not df.empty:
        params = df["trainable_params"].fillna(0).astype(float)
        # Area proportional to the parameter count, between 10 and 60 pixels across.
        top = params.max() or 1.0
        sizes = 10 + 50 * (params / top) ** 0.5
        fig.add_trace(
            go.Scatter(
                x=df["train_seconds"],
                y=df["accuracy"],
                mode="markers+text",
                text=[plot_text(r) for r in df["run"]],
                textposition="top center",
                marker={"size": sizes, "sizemode": "diameter", "opacity": 0.7},
                customdata=params,
                hovertemplate="%{text}<br>accuracy %{y:.3f}<br>%{x:.0f} s<br>%{customdata:,.0f} trainable parameters"
                "<extra></extra>",
            )
        )
    fig.update_xaxes(title="train time (s)", rangemode="tozero")
    fig.update_yaxes(title="test accuracy")
    return _layout(fig, "Accuracy vs train time (marker size: trainable parameters)", height=380)


def probability_bars(probabilities: Mapping[str, float]) -> go.Figure:
    """Horizontal bar per class, most likely on top."""
    items = sorted(probabilities.items(), key=lambda kv: kv[1])
    labels = [plot_text(k) for k, _ in items]
    values = [float(v) for _, v in items]
    colors = [_BLUE] * len(values)
    if colors:
        colors[-1] = _ORANGE
    fig = go.Figure(
        go.Bar(
            x=values,
            y=labels,
            orientation="h",
            marker_color=colors,
            text=[f"{v:.1%}" for v in values],
            textposition="auto",
        )
    )
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title="probability")
    fig.update_yaxes(type="category")
    return _layout(fig, "Probability per class", height=max(200, 40 * len(labels) + 100))
