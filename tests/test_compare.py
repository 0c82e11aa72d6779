"""Comparing runs honestly (engine.core.compare, the Runs page) and the most frequent mistakes (Results).

The bug: Runs › Compare put runs trained on different data side by side with no data column and no word
of warning, scores without their intervals, and Results named no mistake but through the matrix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_pages import open_app, texts

from engine.core.compare import (
    SPLIT_SETTINGS,
    data_description,
    display_names,
    interval_text,
    shared_majority_share,
    split_differences,
)
from engine.core.config import TrainConfig
from engine.core.metrics import majority_share, top_confusions
from engine.core.rundir import RunDir, write_json_atomic
from engine.core.words import markdown_text as md


# --- top confusions ---------------------------------------------------------------------------------
def test_top_confusions_lists_the_mistakes_most_frequent_first():
    labels = ["cat", "dog", "fox", "owl"]
    matrix = [[50, 6, 0, 0], [2, 40, 0, 0], [3, 3, 1, 0], [0, 0, 0, 0]]
    got = top_confusions(labels, matrix)
    assert [(m["true"], m["predicted"], m["count"]) for m in got] == [
        ("cat", "dog", 6),
        ("fox", "cat", 3),  # a tie: the larger share of its class first (3 of 7 before...)
        ("fox", "dog", 3),
        ("dog", "cat", 2),
    ]
    assert got[0]["share"] == pytest.approx(6 / 56) and got[1]["share"] == pytest.approx(3 / 7)
    assert [m["count"] for m in top_confusions(labels, matrix, k=2)] == [6, 3]
    assert top_confusions(["a", "b"], [[5, 0], [0, 5]]) == []  # no mistake, no row (and the diagonal never)


def test_majority_share_is_the_accuracy_of_always_answering_the_largest_class():
    assert majority_share({"a": {"support": 30}, "b": {"support": 10}}) == 0.75
    assert majority_share({}) is None
    same = {"per_class": {"a": {"support": 3}, "b": {"support": 1}}}
    assert shared_majority_share([same, same]) == 0.75
    assert shared_majority_share([same, {"per_class": {"a": {"support": 1}, "b": {"support": 1}}}]) is None


# --- the comparability rule -------------------------------------------------------------------------
BASE = TrainConfig(data="/ws/uploads/ab12/reviews.csv", model="minilm", strategy="lora").to_dict()


@pytest.mark.parametrize(
    ("setting", "other", "words"),
    [
        ("data", "/ws/uploads/cd34/tickets.csv", "data file: reviews.csv (A), tickets.csv (B)"),
        ("data", "/elsewhere/reviews.csv", "data file: /ws/uploads/ab12/reviews.csv (A), /elsewhere/reviews.csv (B)"),
        ("text_column", "body", "text column: guessed (A), body (B)"),
        ("label_column", "stars", "label column: guessed (A), stars (B)"),
        ("image_labels", "labels.csv", "image labels: none (A), labels.csv (B)"),
        ("test_data", "/ws/test.csv", "test file: none (A), test.csv (B)"),
        ("seed", 7, "seed: 42 (A), 7 (B)"),
        ("validation_fraction", 0.2, "validation fraction: 0.1 (A), 0.2 (B)"),
        ("test_fraction", 0.3, "test fraction: 0.2 (A), 0.3 (B)"),
    ],
)
def test_runs_on_other_data_or_another_split_do_not_compare(setting, other, words):
    assert setting in SPLIT_SETTINGS
    base = {**BASE, "data": "/ws/uploads/ab12/photos.zip"} if setting == "image_labels" else BASE  # pictures only
    assert split_differences({"A": base, "B": {**base, setting: other}}) == [words]


def test_runs_on_the_same_data_and_split_compare_whatever_else_differs():
    other = {**BASE, "model": "smollm2", "strategy": "full", "epochs": 9, "learning_rate": 1e-4, "batch_size": 4}
    assert split_differences({"A": BASE, "B": other}) == []
    # A config.json written before a setting existed reads as its default.
    older = {k: v for k, v in BASE.items() if k not in ("seed", "test_fraction")}
    assert split_differences({"A": BASE, "B": older}) == []


def test_data_description_names_the_file_and_the_columns_read():
    assert (
        data_description({**BASE, "text_column": "body", "label_column": "y"})
        == "reviews.csv (text column: body, label column: y)"
    )
    assert data_description(BASE) == "reviews.csv (columns guessed)"
    assert (
        data_description({"data": "/x/photos.zip", "image_labels": "/x/labels.csv"})
        == "photos.zip (image labels: labels.csv)"
    )
    assert data_description({}) == ""


def test_intervals_and_names_as_lists_show_them():
    assert interval_text([0.81234, 0.9]) == "0.812–0.900"
    assert interval_text(None) == interval_text("bad") == interval_text([None, 1]) == "n/a"
    assert display_names([{"run": "r1", "name": "x"}, {"run": "r2", "name": "x"}, {"run": "r3", "name": "r3"}]) == [
        "x (r1)",
        "x (r2)",
        "r3",
    ]


# --- the pages ------------------------------------------------------------------------------------------
def make_run(
    home: Path,
    folder: str,
    name: str | None = None,
    note: str | None = None,
    data: str = "data/spam_emails.csv",
    seed: int = 42,
    accuracy: float = 0.8,
    intervals: bool = True,
    labels: tuple[str, ...] = ("ham", "spam"),
    matrix: list[list[int]] | None = None,
) -> RunDir:
    """A completed run folder as the worker writes it (for pages that only read runs)."""
    run = RunDir(home / "runs" / folder)
    run.path.mkdir(parents=True)
    TrainConfig(data=data, model="minilm", strategy="lora", seed=seed).save(run.config_path)
    if name or note:
        run.set_about(name, note)
    run.set_status("completed", "done")
    matrix = matrix or [[60 if i == j else 5 for j in range(len(labels))] for i in range(len(labels))]
    metrics = {
        "accuracy": accuracy,
        "macro_f1": accuracy - 0.02,
        "labels": list(labels),
        "confusion_matrix": matrix,
        "per_class": {
            label: {"precision": 0.8, "recall": 0.8, "f1": 0.8, "support": sum(row)}
            for label, row in zip(labels, matrix, strict=True)
        },
        "train_seconds": 100 * accuracy,
        "trainable_params": 1000,
        "total_params": 100_000,
    }
    if intervals:
        metrics |= {"accuracy_ci": [accuracy - 0.04, accuracy + 0.03], "macro_f1_ci": [accuracy - 0.07, accuracy]}
    write_json_atomic(run.metrics_path, metrics)
    run.append_event({"type": "eval", "step": 1, "epoch": 1, "eval_macro_f1": accuracy - 0.1})
    return run


def compare_charts(at) -> dict[str, dict]:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return {spec["layout"]["title"]["text"]: spec for spec in specs}


def test_runs_table_shows_each_runs_name_note_and_folder(workspace):
    make_run(workspace, "r-1", name="Spam <b>LoRA</b>", note="first try")
    make_run(workspace, "r-2")
    at = open_app("pages/runs.py")
    table = at.dataframe[0].value
    assert {"name", "note", "run"} <= set(table.columns)
    row = table.set_index("run").loc["r-1"]
    assert (row["name"], row["note"]) == ("Spam <b>LoRA</b>", "first try")
    assert table.set_index("run").loc["r-2", "name"] == "r-2"  # no name given: the folder's


def test_compare_warns_when_the_runs_were_split_differently(workspace):
    make_run(workspace, "seed-42", name="Spam LoRA", accuracy=0.80)
    make_run(workspace, "seed-7", name="Spam LoRA, seed 7", seed=7, accuracy=0.82)
    at = open_app("pages/runs.py")
    at.multiselect(key="w_compare").set_value(["seed-42", "seed-7"]).run()
    assert not at.exception
    [warning] = texts(at.warning)
    assert "not comparable" in warning and md("seed: 42 (Spam LoRA), 7 (Spam LoRA, seed 7)") in warning
    table = at.dataframe[1].value
    assert list(table["name"]) == ["Spam LoRA", "Spam LoRA, seed 7"]
    assert list(table["data"]) == ["spam_emails.csv (columns guessed)"] * 2
    assert list(table["accuracy_ci"]) == ["0.760–0.830", "0.780–0.850"]
    assert list(table["macro_f1_ci"]) == ["0.730–0.800", "0.750–0.820"]
    scatter = compare_charts(at)["Accuracy vs time to train"]
    assert [t["name"] for t in scatter["data"]] == ["Spam LoRA", "Spam LoRA, seed 7"]
    assert len({t["marker"]["color"] for t in scatter["data"]}) == 2
    assert scatter["layout"]["yaxis"]["range"][0] == 0
    assert not scatter["layout"].get("shapes")  # two test splits: no one majority-class line
    curves = compare_charts(at)["Validation curves"]
    assert [t["name"] for t in curves["data"]] == ["Spam LoRA", "Spam LoRA, seed 7"]
    assert [t["line"]["color"] for t in curves["data"]] == [t["marker"]["color"] for t in scatter["data"]]


def test_compare_other_data_is_named_and_older_runs_show_na(workspace):
    make_run(workspace, "spam", accuracy=0.9)
    make_run(workspace, "same-split", accuracy=0.8, intervals=False)  # written before intervals existed
    make_run(workspace, "fashion", data="data/fashion_demo.zip", labels=("shirt", "shoe", "bag"))
    at = open_app("pages/runs.py")
    at.multiselect(key="w_compare").set_value(["spam", "same-split"]).run()
    assert not at.exception and not at.warning
    assert any("share their data and split" in c for c in texts(at.caption))
    table = at.dataframe[1].value
    assert table.set_index("run").loc["same-split", "accuracy_ci"] == "n/a"
    scatter = compare_charts(at)["Accuracy vs time to train"]
    assert scatter["layout"]["shapes"][0]["y0"] == 0.5  # the same test split: always "ham" scores 0.5
    at.multiselect(key="w_compare").set_value(["spam", "fashion"]).run()
    [warning] = texts(at.warning)
    assert md("data file: spam_emails.csv (spam), fashion_demo.zip (fashion)") in warning
    assert "fashion_demo.zip" in list(at.dataframe[1].value["data"])


def test_results_lists_the_most_frequent_mistakes_with_class_names_made_inert(workspace):
    labels = ("ham", "[win](http://x.example) **now**", "other")
    make_run(workspace, "r", labels=labels, matrix=[[50, 7, 1], [2, 30, 0], [0, 0, 9]])
    at = open_app("pages/results.py")
    assert not at.exception
    assert any("Most frequent mistakes" in m for m in texts(at.markdown))
    [table] = at.table
    rows = table.value
    assert list(rows["true class"]) == ["ham", md(labels[1]), "ham"]
    assert list(rows["predicted as"]) == [md(labels[1]), "ham", "other"]
    assert list(rows["test examples"]) == ["7", "2", "1"]
    assert list(rows["share of the true class"]) == ["12%", "6%", "2%"]


def test_results_stacks_the_class_charts_for_many_classes(workspace):
    many = tuple(f"topic {i}" for i in range(50))
    make_run(workspace, "many", labels=many)
    at = open_app("pages/results.py")
    assert not at.exception
    confusion, per_class = (json.loads(c.proto.spec) for c in at.get("plotly_chart")[:2])
    assert confusion["layout"]["xaxis"]["tickvals"] == list(many)
    assert per_class["layout"]["yaxis"]["tickvals"] == list(many)
    columns_many = len(at.columns)
    (workspace / "runs" / "many").rename(workspace / "runs" / "old")
    make_run(workspace, "few", labels=("a", "b"))
    at = open_app("pages/results.py")
    # Two classes: the two charts side by side, in two columns more than with fifty.
    assert len(at.columns) == columns_many + 2


def test_runs_on_different_kinds_of_data_are_told_apart_without_the_other_kinds_settings():
    """Found by a new user: a picture run was listed with "text column: guessed" beside a text run."""
    from engine.core.compare import split_differences

    lines = split_differences(
        {"Digits": {"data": "d/digits.zip"}, "News": {"data": "d/news.csv", "label_column": "category"}}
    )
    assert lines == ["kind of data: pictures (Digits), texts (News)", "data file: digits.zip (Digits), news.csv (News)"]
