"""The dashboard's pure helpers (ui/): figure builders, the live event reader, downloads, page state."""

from __future__ import annotations

import json
import zipfile

import pandas as pd
import pytest

from engine.core.errors import ConfigError
from engine.core.presets import PRESETS, default_settings
from engine.core.strategies import STRATEGIES
from ui import charts, live
from ui import format as fmt
from ui.state import build_config

EVENTS = [
    {"type": "setup", "trainable_params": 10},
    {"type": "train", "step": 2, "epoch": 0.5, "loss": 1.0, "samples_per_second": 5.0},
    {"type": "train", "step": 4, "epoch": 1.0, "loss": 0.8, "samples_per_second": 6.0},
    {"type": "eval", "step": 4, "epoch": 1.0, "eval_loss": 0.9, "eval_accuracy": 0.5, "eval_macro_f1": 0.4},
    {"type": "checkpoint", "step": 4, "epoch": 1.0},
    # Resumed from the checkpoint at step 4: step 6 was logged twice, the later line counts.
    {"type": "train", "step": 6, "epoch": 1.5, "loss": 0.7, "samples_per_second": 6.0},
    {"type": "resume", "checkpoint": "checkpoint-4"},
    {"type": "train", "step": 6, "epoch": 1.5, "loss": 0.6, "samples_per_second": 7.0},
    {"type": "eval", "step": 8, "epoch": 2.0, "eval_loss": 0.5, "eval_accuracy": 0.75, "eval_macro_f1": 0.7},
]


def test_class_counts_bar_highlights_the_smallest_class():
    fig = charts.class_counts_bar({"ham": 40, "spam": 10, "other": 25})
    bar = fig.data[0]
    assert list(bar.x) == ["ham", "spam", "other"] and list(bar.y) == [40, 10, 25]
    assert bar.marker.color[1] != bar.marker.color[0] == bar.marker.color[2]


def test_class_counts_bar_flags_only_an_imbalance_the_data_page_warns_of_and_writes_counts_in_full():
    """The bug: 300,000 rows in three classes of about 100,000 showed the class 422 rows short in the warning
    colour, with no warning beside it, and the counts were written 100159."""
    fig = charts.class_counts_bar({"mixed": 100_159, "negative": 100_104, "positive": 99_737})
    bar = fig.data[0]
    assert len(set(bar.marker.color)) == 1
    assert list(bar.text) == ["100,159", "100,104", "99,737"] and list(bar.y) == [100_159, 100_104, 99_737]


def test_events_frames_keep_the_last_line_per_step_after_a_resume():
    train, evals = charts.events_frames(EVENTS)
    assert list(train["step"]) == [2, 4, 6]
    assert list(train["loss"]) == [1.0, 0.8, 0.6]
    assert list(evals["epoch"]) == [1.0, 2.0]
    empty_train, empty_eval = charts.events_frames([])
    assert empty_train.empty and empty_eval.empty


def test_curves_plot_train_loss_validation_loss_and_metrics():
    loss = charts.loss_curve(EVENTS)
    assert [t.name for t in loss.data] == ["train loss", "validation loss"]
    assert list(loss.data[1].y) == [0.9, 0.5]
    metrics = charts.metric_curve(EVENTS)
    assert {t.name: list(t.y) for t in metrics.data} == {"accuracy": [0.5, 0.75], "macro-F1": [0.4, 0.7]}
    empty = charts.loss_curve([])  # nothing logged yet: an empty figure that says so, not an error
    assert empty.data == () and "No training steps" in empty.layout.annotations[0].text


def test_confusion_matrix_heatmap_rows_are_true_labels():
    fig = charts.confusion_matrix_heatmap(["ham", "spam"], [[210, 1], [8, 81]])
    heat = fig.data[0]
    # Coloured by the share of each true class (rows add up to 1), the counts in the hover.
    assert [[round(v, 3) for v in r] for r in heat.z] == [[0.995, 0.005], [0.09, 0.91]]
    assert "8 of 89 test examples" in heat.customdata[1][0]
    assert list(heat.y) == ["ham", "spam"] and list(heat.x) == ["ham", "spam"]
    assert fig.layout.yaxis.title.text.startswith("true") and fig.layout.xaxis.title.text.startswith("predicted")


def test_per_class_bars_and_probability_bars():
    per_class = {
        "a": {"precision": 1.0, "recall": 0.5, "f1": 0.667},
        "b": {"precision": 0.6, "recall": 1.0, "f1": 0.75},
    }
    fig = charts.per_class_bars(per_class)
    assert [t.name for t in fig.data] == ["precision", "recall", "F1"]
    assert list(fig.data[1].x) == [0.5, 1.0] and list(fig.data[1].y) == ["a", "b"]  # horizontal: a row a class
    probs = charts.probability_bars({"billing": 0.7, "tech": 0.1, "shipping": 0.2})
    assert list(probs.data[0].y)[-1] == "billing"  # most likely on top of a horizontal bar chart
    assert list(probs.data[0].text)[-1] == "70.0%"


def test_runs_scatter_sizes_markers_by_trainable_parameters():
    runs = pd.DataFrame(
        {
            "run": ["frozen", "lora", "full", "broken"],
            "accuracy": [0.9, 0.95, 0.97, None],
            "train_seconds": [10.0, 60.0, 300.0, None],
            "trainable_params": [770, 74_498, 22_700_000, None],
        }
    )
    fig = charts.runs_scatter(runs)
    assert [t.name for t in fig.data] == ["frozen", "lora", "full"]  # one trace a run; one without metrics left out
    sizes = [t.marker.size for t in fig.data]
    assert sizes[0] < sizes[1] < sizes[2]
    overlay = charts.validation_overlay({"one": EVENTS, "two": EVENTS[:4], "none": []})
    assert [t.name for t in overlay.data] == ["one", "two", "none (no validation scores)"]


def test_event_tail_reads_only_complete_new_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    tail = live.EventTail(path)
    assert tail.update() == []  # no file yet
    path.write_text(json.dumps(EVENTS[1]) + "\n" + '{"type": "train", "st')  # second line half written
    assert tail.update() == [EVENTS[1]]
    with path.open("a") as f:
        f.write('ep": 4, "loss": 0.5}\n{"type": "train", "step": 5}\n["not", "an", "event"]\n')
    assert tail.update()[-1] == {"type": "train", "step": 4, "loss": 0.5}  # damaged lines are skipped
    offset = tail.offset
    assert tail.update() and tail.offset == offset  # nothing new: nothing re-read
    path.write_text(json.dumps(EVENTS[0]) + "\n")  # truncated (a resume drops later steps)
    assert tail.update() == [EVENTS[0]]


def test_tail_lines_keeps_the_last_lines_as_a_terminal_shows_them(tmp_path):
    log = tmp_path / "worker.log"
    log.write_text("".join(f"line {i}\n" for i in range(30)) + "progress 10%\rprogress 50%\n\n")
    assert live.tail_lines(log, 3) == ["line 28", "line 29", "progress 50%"]
    assert live.tail_lines(tmp_path / "missing.log") == []


@pytest.mark.parametrize(
    ("status", "fraction", "words"),
    [
        ({"state": "queued", "message": "Waiting for the run 'a' to finish"}, 0.0, "Waiting for the run 'a' to finish"),
        ({"state": "running", "progress": {"step": 5, "max_steps": 20, "eta_seconds": 90}}, 0.25, "about 1 min 30 s"),
        ({"state": "running", "progress": {"stage": "features:train", "done": 30, "total": 120}}, 0.25, "features"),
        ({"state": "completed", "progress": {"step": 3, "max_steps": 20}}, 1.0, "done"),
    ],
)
def test_progress_from_status(status, fraction, words):
    got_fraction, got_words = live.progress(status)
    assert got_fraction == fraction and words in got_words


def test_write_zip_keeps_the_folder_layout_under_one_top_folder(tmp_path):
    from engine.core.exports import write_zip

    model = tmp_path / "model"
    (model / "adapter").mkdir(parents=True)
    (model / "transferlab.json").write_text("{}")
    (model / "adapter" / "adapter_config.json").write_text('{"r": 8}')
    with zipfile.ZipFile(write_zip(model, tmp_path / "out" / "my-run.zip", "my-run")) as archive:
        assert sorted(archive.namelist()) == ["my-run/adapter/adapter_config.json", "my-run/transferlab.json"]
        assert archive.read("my-run/adapter/adapter_config.json") == b'{"r": 8}'


def test_build_config_needs_valid_data_and_a_model():
    with pytest.raises(ConfigError, match="Data page"):
        build_config({"model": "minilm"})
    with pytest.raises(ConfigError, match="problem"):
        build_config({"data_path": "x.csv", "data_summary": None, "model": "minilm"})
    state = {
        "data_path": "x.csv",
        "data_summary": {"rows": 10},
        "text_column": "body",
        "label_column": "y",
        "model": " minilm ",
        "strategy": "frozen",
        "settings": {**default_settings("frozen", "Quick look"), "freeze_layers": None},
    }
    config = build_config(state)
    assert (config.model, config.strategy, config.text_column, config.label_column) == ("minilm", "frozen", "body", "y")
    assert config.epochs == 1 and config.max_length == 64 and config.learning_rate == 3e-3


@pytest.mark.parametrize("strategy", list(STRATEGIES))
@pytest.mark.parametrize("preset", list(PRESETS))
def test_default_settings_make_a_valid_config(strategy, preset):
    settings = default_settings(strategy, preset)
    assert settings["learning_rate"] == STRATEGIES[strategy].default_learning_rate
    assert settings["epochs"] >= 1
    config = build_config(
        {"data_path": "x.csv", "data_summary": {}, "model": "minilm", "strategy": strategy, "settings": settings}
    )
    assert config.max_length == PRESETS[preset]["by_task"]["text"]["max_length"]


def test_format_helpers():
    assert fmt.seconds(59.4) == "59 s" and fmt.seconds(3725) == "1 h 2 min" and fmt.seconds(None) == "unknown"
    assert fmt.params(22_713_986) == "22.7 M" and fmt.params(770) == "770"
    assert fmt.size(512) == "512 bytes" and fmt.size(3 * 1024**2) == "3.0 MB"
    assert fmt.share(0.00327) == "0.33%" and fmt.share(0.5) == "50.0%"
