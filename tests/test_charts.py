"""The class and run charts stay readable from 2 to 50 classes (and many runs): checked on the figures.

The bug: on a 20-class file the per-class chart's labels were cut and overlapped by its legend, the confusion
matrix labelled every other class, and Compare drew every run as an unlabelled bubble of one colour on a y
axis zoomed to 0.76-0.82.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ui import charts

EVAL = [{"type": "eval", "step": s, "epoch": s, "eval_macro_f1": 0.5 + s / 10} for s in (1, 2)]


def synthetic(n: int, seed: int = 0) -> tuple[list[str], list[list[int]]]:
    """n classes, some with long names alike in their first characters, and a confusion matrix with mistakes."""
    rng = np.random.default_rng(seed)
    labels = [f"class {i}" if i % 3 else f"a rather long class name that goes on, number {i}" for i in range(n)]
    matrix = rng.integers(0, 4, size=(n, n)) + np.diag(rng.integers(5, 40, size=n))
    matrix[-1] = 0  # a class with no test example
    return labels, matrix.tolist()


def per_class_of(labels: list[str], matrix: list[list[int]]) -> dict:
    return {
        name: {"precision": 0.5, "recall": 0.75, "f1": 0.6, "support": int(sum(row))}
        for name, row in zip(labels, matrix, strict=True)
    }


@pytest.mark.parametrize("n", [2, 10, 20, 50])
def test_confusion_matrix_labels_every_class(n):
    labels, matrix = synthetic(n)
    fig = charts.confusion_matrix_heatmap(labels, matrix)
    names = [charts.plot_text(x) for x in labels]
    for axis in (fig.layout.xaxis, fig.layout.yaxis):
        assert axis.type == "category" and axis.tickmode == "array"
        assert list(axis.tickvals) == names  # every class has its tick, not every other one
        assert len(axis.ticktext) == n and all(len(t) <= charts.MAX_LABEL_CHARS for t in axis.ticktext)
    assert list(fig.data[0].x) == names and list(fig.data[0].y) == names


def test_long_class_names_are_cut_with_an_ellipsis_and_whole_in_the_hover():
    labels = ["a rather long class name that goes on, number 0", "a rather long class name that goes on, number 1"]
    fig = charts.confusion_matrix_heatmap(labels, [[3, 1], [0, 4]])
    ticks = list(fig.layout.xaxis.ticktext)
    assert ticks[0] == ticks[1] == "a rather long class n…"
    assert list(fig.layout.xaxis.tickvals) == labels  # still two classes, told apart in the data
    assert labels[1] in fig.data[0].customdata[1][0] and labels[0] in fig.data[0].customdata[1][0]


def test_confusion_matrix_colour_is_the_share_of_the_true_class_with_counts_in_the_hover():
    fig = charts.confusion_matrix_heatmap(["big", "small", "absent"], [[90, 10, 0], [3, 2, 0], [0, 0, 0]])
    heat = fig.data[0]
    assert [list(r) for r in heat.z] == [[0.9, 0.1, 0.0], [0.6, 0.4, 0.0], [0.0, 0.0, 0.0]]
    assert (heat.zmin, heat.zmax) == (0, 1)
    assert "3 of 5 test examples (60%)" in heat.customdata[1][0]
    assert "no test examples" in heat.customdata[2][2]
    assert [list(r) for r in heat.text] == [["90%", "10%", ""], ["60%", "40%", ""], ["", "", "0%"]]
    assert "share" in fig.layout.title.subtitle.text and "100%" in fig.layout.yaxis.title.text
    assert fig.layout.xaxis.title.text == "predicted class" and fig.layout.yaxis.title.text.startswith("true class")


def test_confusion_matrix_numbers_only_while_they_fit_and_height_grows():
    heights = []
    for n in (2, 10, 20, 30, 50):
        labels, matrix = synthetic(n)
        fig = charts.confusion_matrix_heatmap(labels, matrix)
        heights.append(fig.layout.height)
        written = fig.data[0].text is not None
        assert written == (n <= charts.CELL_TEXT_MAX_CLASSES)
        if not written:
            assert "hover" in fig.layout.title.subtitle.text  # the count is a hover away, and it says so
    assert heights == sorted(heights) and heights[-1] >= 50 * charts.CELL_PX
    # Many classes: labels turn upright so that neighbours do not overlap.
    assert charts.confusion_matrix_heatmap(*synthetic(50)).layout.xaxis.tickangle == -90


@pytest.mark.parametrize("n", [2, 20, 50])
def test_per_class_bars_label_every_class_and_keep_the_legend_off_the_bars(n):
    labels, matrix = synthetic(n)
    fig = charts.per_class_bars(per_class_of(labels, matrix))
    assert [t.name for t in fig.data] == ["precision", "recall", "F1"]
    assert all(t.orientation == "h" for t in fig.data)  # class names read across, however many
    axis = fig.layout.yaxis
    assert axis.type == "category" and list(axis.tickvals) == [charts.plot_text(x) for x in labels]
    assert all(len(t) <= charts.MAX_LABEL_CHARS for t in axis.ticktext)
    legend = fig.layout.legend
    # Above the plot area (paper y >= 1, hanging up from it) and under the title's room: it covers no bar
    # and no label.
    assert legend.orientation == "h" and legend.y >= 1 and legend.yanchor == "bottom"
    assert fig.layout.margin.t >= charts.CHART_TOP
    assert fig.layout.height >= n * charts.BAR_GROUP_PX


def test_per_class_bars_grow_with_the_classes_and_hover_the_support():
    small = charts.per_class_bars(per_class_of(*synthetic(2)))
    large = charts.per_class_bars(per_class_of(*synthetic(50)))
    assert large.layout.height > small.layout.height
    assert list(large.data[0].customdata)[:2] == [
        per_class_of(*synthetic(50))[n]["support"] for n in synthetic(50)[0][:2]
    ]


def test_user_text_in_class_charts_is_escaped():
    labels = ['<a href="http://x">click</a>', "ok"]
    fig = charts.confusion_matrix_heatmap(labels, [[1, 0], [0, 1]])
    assert all("<a" not in t for t in fig.layout.xaxis.ticktext)
    assert "<a " not in fig.data[0].customdata[0][0]
    bars = charts.per_class_bars(per_class_of(labels, [[1, 0], [0, 1]]))
    assert "<a" not in bars.layout.yaxis.tickvals[0]


RUNS = pd.DataFrame(
    {
        "name": ["frozen", "lora", "a run with a very long name that the legend has to cut short", "broken"],
        "accuracy": [0.78, 0.80, 0.81, None],
        "accuracy_low": [0.74, 0.77, None, None],
        "accuracy_high": [0.82, 0.83, None, None],
        "train_seconds": [10.0, 60.0, 300.0, None],
        "trainable_params": [770, 74_498, 22_700_000, None],
    }
)


def test_runs_scatter_one_colour_and_name_per_run_with_intervals_and_an_honest_axis():
    fig = charts.runs_scatter(RUNS)
    names = [t.name for t in fig.data]
    assert names[:2] == ["frozen", "lora"] and len(names) == 3  # "broken" has no score to place
    assert names[2].startswith("a run with a very long") and names[2].endswith("…")
    assert len(names[2]) <= charts.MAX_RUN_CHARS
    colors = [t.marker.color for t in fig.data]
    assert len(set(colors)) == 3 and colors == charts.run_colors(4)[:3]
    assert fig.layout.showlegend is not False and fig.layout.legend.itemsizing == "constant"
    assert "a run with a very long name that the legend has to cut short" in fig.data[2].hovertemplate
    frozen = fig.data[0].error_y
    assert list(frozen.array) == pytest.approx([0.04]) and list(frozen.arrayminus) == pytest.approx([0.04])
    assert not fig.data[2].error_y.array  # no interval (an older run): no bar, and no crash
    assert "n/a" in fig.data[2].hovertemplate
    sizes = [t.marker.size for t in fig.data]
    assert sizes[0] < sizes[1] < sizes[2]
    assert "trainable parameters" in fig.layout.title.subtitle.text and "95%" in fig.layout.title.subtitle.text
    low, high = fig.layout.yaxis.range
    assert low == 0 and high >= 1  # 0.78 and 0.81 are close, and look it


def test_runs_scatter_marks_the_majority_class_share():
    fig = charts.runs_scatter(RUNS, baseline=0.6)
    [line] = fig.layout.shapes
    assert (line.y0, line.y1) == (0.6, 0.6)
    assert "most common class" in fig.layout.annotations[0].text
    assert not charts.runs_scatter(RUNS).layout.shapes


def test_validation_overlay_colours_and_names_match_the_scatter():
    curves = {"frozen": [], "lora": EVAL, "a run with a very long name that the legend has to cut short": EVAL}
    overlay = charts.validation_overlay(curves)
    scatter = charts.runs_scatter(RUNS.iloc[:3])
    assert [t.line.color for t in overlay.data] == [t.marker.color for t in scatter.data]
    assert overlay.data[0].name == "frozen (no validation scores)"  # still in the legend, saying why no line
    assert [t.name for t in overlay.data][1:] == [t.name for t in scatter.data][1:]
    assert list(overlay.data[1].y) == [0.6, 0.7]
    empty = charts.validation_overlay({"a": [], "b": []})
    assert "No validation scores" in empty.layout.annotations[0].text


def test_run_colors_stay_distinct_beyond_ten_runs():
    assert len(set(charts.run_colors(10))) == 10 and len(set(charts.run_colors(20))) == 20
