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
from plotly.colors import qualitative

from engine.data.dataset import IMBALANCE_RATIO, imbalance_ratio

_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
_BLUE = "#1f77b4"
_ORANGE = "#ff7f0e"
_GREEN = "#2ca02c"

# Class and run names longer than these are cut with an ellipsis in axes and legends (the hover has them whole).
MAX_LABEL_CHARS = 22
MAX_RUN_CHARS = 32
CELL_TEXT_MAX_CLASSES = 12  # the confusion matrix writes each cell's share up to this many classes
SIDE_BY_SIDE_MAX_CLASSES = 10  # beyond, Results shows its class charts one above the other, full width
CELL_PX = 22  # confusion matrix: pixels per class (row) at the least
BAR_GROUP_PX = 26  # per-class bars: pixels per class's group of three bars
CHART_TOP = 80  # room above the plot for a title and a subtitle or legend

# Validation metrics worth plotting, in the order a reader looks for them.
EVAL_METRICS = {"eval_accuracy": "accuracy", "eval_macro_f1": "macro-F1"}


def plot_text(value: Any) -> str:
    """A user's string (a class or run name) as plotly shows it: plotly renders a few HTML tags in labels
    and hover text (<a href> becomes a link), so they are escaped and shown as typed."""
    return html.escape(str(value), quote=False)


def _layout(fig: go.Figure, title: str | dict, height: int = 320, **kw: Any) -> go.Figure:
    fig.update_layout(title=title, height=height, **{"margin": _MARGIN, **kw})
    return fig


def _waiting(fig: go.Figure, what: str) -> go.Figure:
    """An empty chart says what it is waiting for instead of showing bare axes."""
    fig.add_annotation(text=f"No {what} yet", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return fig


def class_counts_bar(counts: Mapping[str, int], title: str = "Examples per class") -> go.Figure:
    """A bar per class, its count written on it; the smallest class is highlighted when the classes are
    imbalanced (as the Data page's warning says, ``IMBALANCE_RATIO``), so the imbalance is easy to see."""
    labels = [plot_text(k) for k in counts]
    values = [int(v) for v in counts.values()]
    smallest = min(values) if values else 0
    imbalanced = bool(values) and imbalance_ratio(dict(counts)) >= IMBALANCE_RATIO
    colors = [_ORANGE if v == smallest and imbalanced else _BLUE for v in values]
    text = [f"{v:,}" for v in values]
    fig = go.Figure(go.Bar(x=labels, y=values, marker_color=colors, text=text, textposition="auto"))
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


def short_label(value: Any, max_chars: int = MAX_LABEL_CHARS) -> str:
    """A user's string cut to ``max_chars`` with an ellipsis, escaped for plotly (the full one goes in the hover).

    >>> short_label("a very long class name indeed", 12), short_label("<b>", 12)
    ('a very long…', '&lt;b&gt;')
    """
    text = " ".join(str(value).split())
    return plot_text(text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…")


def _class_axis(names: Sequence[str], shorts: Sequence[str]) -> dict[str, Any]:
    """A categorical axis that labels every class: the values are the full (escaped) names, the ticks their
    short forms, so two names alike in their first characters stay two categories."""
    font = 12 if len(names) <= CELL_TEXT_MAX_CLASSES else 10
    return {
        "type": "category",
        "tickmode": "array",
        "tickvals": list(names),
        "ticktext": list(shorts),
        "tickfont": {"size": font},
        "automargin": True,
    }


def _label_px(shorts: Sequence[str], font: int) -> int:
    """About how many pixels the longest tick label takes (plotly's automargin makes room for it out of the
    figure's height, so the height adds it)."""
    longest = max((len(html.unescape(s)) for s in shorts), default=0)
    return int(longest * font * 0.62) + 10


def run_colors(n: int) -> list[str]:
    """One colour per run, in order; the same runs get the same colours in every Compare chart."""
    palette = qualitative.Plotly if n <= len(qualitative.Plotly) else qualitative.Dark24
    return [palette[i % len(palette)] for i in range(n)]


def confusion_matrix_heatmap(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> go.Figure:
    """Rows are the true class, columns the predicted one. A cell's colour (and number, while numbers fit)
    is its share of the true class's examples, so a small class's mistakes show as clearly as a large
    one's; the hover gives the counts. Every class is labelled, the height grows with their number.

    >>> fig = confusion_matrix_heatmap(["ham", "spam"], [[9, 1], [2, 8]])
    >>> list(fig.data[0].z[0]), list(fig.data[0].text[0])
    ([0.9, 0.1], ['90%', '10%'])
    """
    names = [plot_text(x) for x in labels]
    shorts = [short_label(x) for x in labels]
    counts = [[int(v) for v in row] for row in matrix]
    totals = [sum(row) for row in counts]
    shares = [[c / total if total else 0.0 for c in row] for row, total in zip(counts, totals, strict=True)]
    hover = [
        [
            f"true: {t}<br>predicted: {p}<br>"
            + (f"{c:,} of {total:,} test examples ({c / total:.0%})" if total else "no test examples of this class")
            for p, c in zip(names, row, strict=True)
        ]
        for t, row, total in zip(names, counts, totals, strict=True)
    ]
    n = len(names)
    numbers = n <= CELL_TEXT_MAX_CLASSES  # beyond that a cell is too small for "100%": the hover has it
    fig = go.Figure(
        go.Heatmap(
            z=shares,
            x=names,
            y=names,
            zmin=0,
            zmax=1,
            text=[
                [f"{v:.0%}" if c or i == j else "" for j, (v, c) in enumerate(zip(r, cr, strict=True))]
                for i, (r, cr) in enumerate(zip(shares, counts, strict=True))
            ]
            if numbers
            else None,
            texttemplate="%{text}" if numbers else None,
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            colorscale="Blues",
            colorbar={"title": {"text": "share of<br>true class", "side": "top"}, "tickformat": ".0%", "thickness": 12},
            xgap=1 if n <= 30 else 0,
            ygap=1 if n <= 30 else 0,
        )
    )
    axis = _class_axis(names, shorts)
    # Level while all the labels fit side by side in a narrow chart, slanted while a few more do, else upright.
    angle = 0 if n * _label_px(shorts, 12) <= 300 else -45 if n <= 15 else -90
    fig.update_xaxes(title="predicted class", side="bottom", tickangle=angle, **axis)
    fig.update_yaxes(title="true class (each row adds up to 100%)", autorange="reversed", **axis)
    label = _label_px(shorts, axis["tickfont"]["size"])
    below = {0: 20, -45: int(label * 0.75), -90: label}[angle]
    height = CHART_TOP + max(220, CELL_PX * n) + below + 50
    return _layout(
        fig,
        {
            "text": "Confusion matrix (test split)",
            "subtitle": {
                "text": "colour: share of each true class" + ("" if numbers else " · hover a cell for its count")
            },
        },
        height=height,
        margin={**_MARGIN, "t": CHART_TOP},
    )


def per_class_bars(per_class: Mapping[str, Mapping[str, float]]) -> go.Figure:
    """Precision, recall and F1 of each class as horizontal bars, one group per class (every class labelled,
    in the given order top down; the height grows with the number of classes), the legend above the bars.

    >>> fig = per_class_bars({"a": {"precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 4}})
    >>> [t.name for t in fig.data], fig.data[1].x
    (['precision', 'recall', 'F1'], (0.5,))
    """
    names = [plot_text(k) for k in per_class]
    shorts = [short_label(k) for k in per_class]
    support = [int(per_class[k].get("support") or 0) for k in per_class]
    fig = go.Figure()
    for score, color in (("precision", _BLUE), ("recall", _ORANGE), ("f1", _GREEN)):
        title = "F1" if score == "f1" else score
        fig.add_trace(
            go.Bar(
                name=title,
                orientation="h",
                y=names,
                x=[float(per_class[k][score]) for k in per_class],
                marker_color=color,
                customdata=support,
                hovertemplate=f"%{{y}}<br>{title} %{{x:.3f}}<br>%{{customdata:,}} test examples<extra></extra>",
            )
        )
    n = len(names)
    axis = _class_axis(names, shorts)
    fig.update_yaxes(autorange="reversed", **axis)
    fig.update_xaxes(range=[0, 1.02], title="score")
    height = CHART_TOP + max(160, BAR_GROUP_PX * n) + 60
    return _layout(
        fig,
        {"text": "Per-class scores (test split)"},
        height=height,
        barmode="group",
        bargap=0.25,
        margin={**_MARGIN, "t": CHART_TOP},
        # Above the bars, under the title: it covers nothing and stays in view at the top of a tall chart.
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1, "yanchor": "bottom"},
    )


_RUN_LEGEND = {"title": {"text": "run"}, "itemsizing": "constant"}  # markers in the legend: one size, not the bubble's


def validation_overlay(curves: Mapping[str, Sequence[Mapping[str, Any]]], metric: str = "eval_macro_f1") -> go.Figure:
    """One validation curve per run (run name -> its events), in the run's colour (``run_colors``); a run that
    logged no validation score is still in the legend, marked so."""
    fig = go.Figure()
    curves_drawn = 0
    for (name, events), color in zip(curves.items(), run_colors(len(curves)), strict=True):
        _, eval_df = events_frames(events)
        has_curve = not eval_df.empty and metric in eval_df
        curves_drawn += has_curve
        fig.add_trace(
            go.Scatter(
                x=eval_df["epoch"] if has_curve else [None],
                y=eval_df[metric] if has_curve else [None],
                mode="lines+markers",
                name=short_label(name, MAX_RUN_CHARS) + ("" if has_curve else " (no validation scores)"),
                line={"color": color},
                marker={"color": color},
                hovertemplate=f"{plot_text(name)}<br>epoch %{{x}}<br>%{{y:.3f}}<extra></extra>",
            )
        )
    if not curves_drawn:
        fig.add_annotation(
            text="No validation scores logged by these runs", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5
        )
    what = EVAL_METRICS.get(metric, metric)
    fig.update_xaxes(title="epoch", rangemode="tozero")
    fig.update_yaxes(title=f"validation {what}", range=[0, 1.02])
    return _layout(
        fig,
        {"text": "Validation curves", "subtitle": {"text": f"{what} after each epoch"}},
        height=380,
        margin={**_MARGIN, "t": CHART_TOP},
        legend=_RUN_LEGEND,
    )


def runs_scatter(runs: pd.DataFrame, baseline: float | None = None) -> go.Figure:
    """Test accuracy against the time to train, one marker per run in its own colour (``run_colors``, by row) and
    named in the legend, with its 95% interval as an error bar and sized by trainable parameters.

    ``runs`` needs the columns name (else run), accuracy, train_seconds and trainable_params; accuracy_low and
    accuracy_high draw the interval where known. ``baseline``, when given, is drawn as a dotted line: the
    accuracy of always answering the most common class.
    """
    label = "name" if "name" in runs else "run"  # list_runs' rows have both: the user's name and the folder
    df = runs.assign(color=run_colors(len(runs)), label=runs[label]).dropna(subset=["accuracy", "train_seconds"])
    fig = go.Figure()
    params = df["trainable_params"].fillna(0).astype(float)
    top = params.max() if len(params) and params.max() > 0 else 1.0
    for row, count in zip(df.itertuples(index=False), params, strict=True):
        low, high = getattr(row, "accuracy_low", None), getattr(row, "accuracy_high", None)
        known = low is not None and high is not None and pd.notna(low) and pd.notna(high)
        interval = f" (95% interval {low:.3f}–{high:.3f})" if known else " (95% interval n/a)"
        fig.add_trace(
            go.Scatter(
                x=[row.train_seconds],
                y=[row.accuracy],
                mode="markers",
                name=short_label(row.label, MAX_RUN_CHARS),
                # Area grows with the parameter count, 10 to 40 pixels across; see-through, so that an
                # interval narrower than its bubble still shows.
                marker={
                    "size": 10 + 30 * (count / top) ** 0.5,
                    "color": row.color,
                    "opacity": 0.55,
                    "line": {"width": 1, "color": "white"},
                },
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [high - row.accuracy],
                    "arrayminus": [row.accuracy - low],
                    "color": row.color,
                    "thickness": 2,
                    "width": 8,
                }
                if known
                else None,
                cliponaxis=False,
                hovertemplate=f"{plot_text(row.label)}<br>accuracy %{{y:.3f}}{interval}<br>%{{x:.0f}} s"
                f"<br>{count:,.0f} trainable parameters<extra></extra>",
            )
        )
    if baseline is not None:
        fig.add_hline(
            y=baseline,
            line={"dash": "dot", "color": "grey", "width": 1},
            annotation={"text": f"always the most common class: {baseline:.3f}", "font": {"color": "grey"}},
            annotation_position="bottom right",
        )
    fig.update_xaxes(title="time to train (s)", rangemode="tozero")
    # From 0 to 1: a zoomed axis (0.76 to 0.82) makes a difference of a few test examples look like a
    # landslide. Not from the majority-class share either: it differs between data sets, and the dotted line
    # already marks it when the runs share a test split.
    fig.update_yaxes(title="test accuracy", range=[0, 1.02])
    return _layout(
        fig,
        {
            "text": "Accuracy vs time to train",
            "subtitle": {"text": "bars: 95% interval · bubble size: trainable parameters"},
        },
        height=420,
        margin={**_MARGIN, "t": CHART_TOP},
        legend=_RUN_LEGEND,
    )


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
