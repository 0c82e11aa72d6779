"""Baselines with every run: the largest class and a classical model, scored on the run's own test split, in
metrics.json, on Results, on Compare and in the model card."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from conftest import make_rows, write_csv
from test_pages import fake_run, open_app, texts

from engine.core.baselines import PIXEL_BASELINE, TEXT_BASELINE, TEXT_C, baseline_summary, baseline_warning
from engine.core.config import TrainConfig
from engine.core.jobs import prepare_run
from engine.core.metrics import classification_metrics
from engine.core.rundir import RunDir, read_json, write_json_atomic
from engine.core.tasks import TASKS, get_task
from engine.core.words import markdown_text as md
from engine.data.dataset import Splits
from engine.data.text import load_text_dataset
from engine.training import baselines
from engine.training.trainer import load_splits, train

CONTRACT = {"name", "accuracy", "macro_f1", "accuracy_ci", "macro_f1_ci"}


def train_run(tmp_path: Path, data: Path, model: Path, **settings) -> tuple[TrainConfig, RunDir, dict]:
    config = TrainConfig(data=str(data), model=str(model), strategy="frozen", threads=2, **settings)
    run = prepare_run(config, tmp_path / "run")
    return config, run, train(config, run)


def largest_training_class(config: TrainConfig) -> str:
    splits, _ = load_splits(config)
    counts = Counter(splits.train.labels)
    return splits.label_names[max(sorted(counts), key=counts.get)]


def test_every_task_names_a_classical_baseline_that_exists():
    for task in TASKS.values():
        assert callable(task.load("baseline")), task.name


def test_a_tiny_text_run_scores_both_baselines_on_its_own_test_split(tmp_path, workspace, tiny_bert, monkeypatch):
    # Unbalanced classes, so that the largest class is a real floor (and not a tie).
    rows = make_rows(40, classes=("billing", "shipping")) + make_rows(15, seed=3, classes=("tech",))
    data = write_csv(tmp_path / "topics.csv", rows)
    messages = []
    set_status = RunDir.set_status
    monkeypatch.setattr(
        RunDir,
        "set_status",
        lambda self, state, message="", **kw: (messages.append(message), set_status(self, state, message, **kw)),
    )
    config, run, metrics = train_run(tmp_path, data, tiny_bert, max_length=32)

    assert "Scoring the baselines" in messages
    found = read_json(run.metrics_path)["baselines"]
    assert CONTRACT <= set(found["majority"]) and CONTRACT | {"seconds"} <= set(found["classical"])
    # Majority: the share of the test split (predictions.csv) that is the largest training class.
    largest = largest_training_class(config)
    with run.predictions_path.open(encoding="utf-8") as f:
        truth = [row["true_label"] for row in csv.DictReader(f)]
    assert found["majority"]["name"] == f"the largest class ('{largest}')"
    assert found["majority"]["accuracy"] == pytest.approx(truth.count(largest) / len(truth))
    low, high = found["majority"]["accuracy_ci"]
    assert low <= found["majority"]["accuracy"] <= high
    # Classical: TF-IDF learns these topic words; fitted on the whole training split.
    classical = found["classical"]
    assert classical["name"] == TEXT_BASELINE
    assert classical["accuracy"] > found["majority"]["accuracy"]
    assert classical["train_examples"] == classical["of_train_examples"] == metrics["train_examples"]
    assert (classical["C"], classical["C_chosen"]) == (TEXT_C, "was fixed") and 0 < classical["seconds"] < 60
    card = (run.model_dir / "README.md").read_text(encoding="utf-8")
    assert "## Baselines (the same test split)" in card and "TF\\-IDF \\+ logistic regression" in card


def test_a_tiny_picture_run_scores_logistic_regression_on_pixels(tmp_path, workspace, shapes_zip, tiny_resnet):
    config, run, metrics = train_run(tmp_path, shapes_zip, tiny_resnet, image_size=32)
    found = metrics["baselines"]
    assert found == read_json(run.metrics_path)["baselines"]
    assert found["classical"]["name"] == PIXEL_BASELINE
    # The shapes differ in colour and form: even 16x16 grey pixels tell them apart better than one class.
    assert found["classical"]["accuracy"] > found["majority"]["accuracy"]
    largest = largest_training_class(config)
    with run.predictions_path.open(encoding="utf-8") as f:
        truth = [row["true_label"] for row in csv.DictReader(f)]
    assert found["majority"]["accuracy"] == pytest.approx(truth.count(largest) / len(truth))


def test_the_classical_model_learns_from_a_capped_sample_per_class(tmp_path, monkeypatch):
    data = load_text_dataset(write_csv(tmp_path / "t.csv", make_rows(30)))
    monkeypatch.setattr(baselines, "MAX_TRAIN_EXAMPLES", 40)
    found = baselines.classical_baseline(get_task("text"), data, data, data.label_names)
    picked = baselines.sample_per_class(data.labels, 40)
    shares = Counter(data.labels[i] for i in picked)
    assert all(shares[c] == round(40 * n / len(data)) for c, n in Counter(data.labels).items())
    assert len(set(picked)) == len(picked) <= 40 < len(data)
    assert (found["train_examples"], found["of_train_examples"]) == (len(picked), len(data))
    assert baselines.sample_per_class(data.labels, 1000) == list(range(len(data)))


def test_majority_is_the_largest_training_class_even_when_the_test_split_says_otherwise(tmp_path):
    data = load_text_dataset(write_csv(tmp_path / "t.csv", make_rows(10, classes=("billing", "shipping"))))
    train = data.subset(
        [i for i, y in enumerate(data.labels) if y == 0][:6] + [i for i, y in enumerate(data.labels) if y == 1][:3]
    )
    test = data.subset([i for i, y in enumerate(data.labels) if y == 1][3:])  # only 'b'
    found = baselines.majority_baseline(Splits(train, test.subset([]), test, data.label_names))
    assert found["label"] == "billing" and found["accuracy"] == 0.0
    expected = classification_metrics(test.labels, [0] * len(test), data.label_names)
    assert (found["macro_f1"], found["accuracy_ci"]) == (expected["macro_f1"], expected["accuracy_ci"])


# --- words ---------------------------------------------------------------------------------------
def with_baselines(classical: float, majority: float = 0.55, ci: float = 0.04) -> dict:
    return {
        "majority": {
            "name": "the largest class ('spam')",
            "label": "spam",
            "accuracy": majority,
            "macro_f1": 0.35,
            "accuracy_ci": [majority - ci, majority + ci],
            "macro_f1_ci": [0.33, 0.37],
        },
        "classical": {
            "name": TEXT_BASELINE,
            "accuracy": classical,
            "macro_f1": classical - 0.02,
            "accuracy_ci": [classical - ci, classical + ci],
            "macro_f1_ci": [classical - 0.06, classical],
            "seconds": 2.5,
            "C": 10.0,
            "C_chosen": "was fixed",
            "train_examples": 16,
            "of_train_examples": 16,
        },
    }


@pytest.mark.parametrize(
    ("accuracy", "classical", "expected"),
    [
        (0.90, 0.80, None),
        (0.82, 0.80, "Not clearly better than a classical model"),
        (0.78, 0.80, "Not better than a classical model"),
        (0.56, 0.50, "Not clearly better than always answering the largest class"),
    ],
)
def test_the_warning_says_when_the_model_does_not_clearly_beat_a_baseline(accuracy, classical, expected):
    warning = baseline_warning({"accuracy": accuracy, "baselines": with_baselines(classical)})
    assert (warning is None) if expected is None else warning.startswith(expected)


def test_a_run_from_before_baselines_says_nothing_about_them():
    assert baseline_summary({"accuracy": 0.9}) is None and baseline_warning({"accuracy": 0.9}) is None


# --- pages ---------------------------------------------------------------------------------------
def add_baselines(run: RunDir, classical: float) -> None:
    write_json_atomic(run.metrics_path, {**run.metrics(), "baselines": with_baselines(classical)})


def test_results_shows_the_points_over_each_baseline(workspace):
    add_baselines(fake_run(workspace, "good", accuracy=0.9), classical=0.8)
    at = open_app("pages/results.py")
    line = next(t for t in texts(at.markdown) if "points of accuracy" in t)
    assert md("+10 points of accuracy over a classical model (TF-IDF + logistic regression, 0.800)") in line
    assert md("+35 over always answering the largest class ('spam', 0.550).") in line
    assert not [w for w in texts(at.warning) if "better than" in w]
    assert any(
        md("the same 16 training texts as the model; its regularisation (C = 10) was fixed.") in c
        for c in texts(at.caption)
    )


def test_results_warns_when_the_model_is_not_clearly_better_than_the_classical_one(workspace):
    add_baselines(fake_run(workspace, "close", accuracy=0.82), classical=0.80)
    at = open_app("pages/results.py")
    assert any("Not clearly better than a classical model" in w for w in texts(at.warning))


def test_results_of_a_run_without_baselines_shows_no_line(workspace):
    fake_run(workspace, "old", accuracy=0.9)
    at = open_app("pages/results.py")
    assert not [t for t in texts(at.markdown) if "points of accuracy" in t]
    assert not at.exception


def test_compare_shows_the_shared_baselines_once(workspace):
    for name, accuracy in (("a", 0.9), ("b", 0.85)):
        add_baselines(fake_run(workspace, name, accuracy=accuracy), classical=0.8)
    at = open_app("pages/runs.py")
    assert any("share their baselines" in c for c in texts(at.caption))
    table = next(d.value for d in at.dataframe if "baseline" in d.value.columns)
    assert "run" not in table.columns  # once for both runs
    assert list(table["baseline"]) == [TEXT_BASELINE, "the largest class ('spam')"]
    assert list(table["accuracy"]) == ["0.800", "0.550"]


def test_the_train_command_prints_the_points_over_the_baselines(tmp_path, workspace, tiny_bert, topic_csv, capsys):
    from engine.train import main

    out = str(tmp_path / "cli")
    args = ["--data", str(topic_csv), "--model", str(tiny_bert), "--strategy", "frozen", "--max-length", "32"]
    assert main([*args, "--threads", "2", "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "Baselines: " in printed and "points of accuracy" in printed
    assert f"a classical model ({TEXT_BASELINE}, " in printed and "always answering the largest class ('" in printed


def test_the_docstring_examples_of_the_baselines_hold():
    import doctest

    assert doctest.testmod(baselines).failed == 0
