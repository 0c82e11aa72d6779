"""Try it and ``engine.predict``: uncertain predictions, .txt files of texts, scores on new labeled data,
and the picture beside its prediction.

The rules are checked on plain data; the page and the CLI on tiny models trained here (a 2-layer BERT
on topic sentences, a tiny ResNet on drawn shapes), once per module.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import draw_shape, make_rows, write_csv, write_image_zip
from streamlit.testing.v1 import AppTest

from engine.core.config import TrainConfig
from engine.core.errors import DataError
from engine.core.evaluation import evaluate, evaluate_table, true_labels
from engine.core.metrics import classification_metrics
from engine.core.policy import UNCERTAIN_BELOW, UNCERTAIN_MARGIN
from engine.core.predictions import prediction_columns, uncertain_rows, uncertainty
from engine.core.words import markdown_text as md
from engine.data.tables import read_table
from engine.data.text import load_text_dataset, read_inputs

ROOT = Path(__file__).resolve().parent.parent


def texts(elements) -> list[str]:
    return [e.value for e in elements]


# --- uncertain predictions ----------------------------------------------------------------------------
def test_a_close_call_between_two_classes_is_flagged_in_words():
    """The bug: 51.9% between two classes was announced like any other prediction."""
    assert uncertainty({"spam": 0.519, "ham": 0.45, "other": 0.031}) == (
        "Uncertain: between 'spam' (51.9%) and 'ham' (45.0%)."
    )
    assert uncertainty({"spam": 0.9, "ham": 0.1}) is None
    # Many classes: far ahead of the second, but still less than even odds.
    note = uncertainty({"a": 0.4, "b": 0.15, "c": 0.15, "d": 0.15, "e": 0.15})
    assert note is not None and "'a' has only 40.0%" in note


def test_one_rule_for_a_single_prediction_and_a_whole_file():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4) * 0.7, size=400)
    flags = uncertain_rows(probs)
    ordered = np.sort(probs, axis=1)
    expected = (ordered[:, -1] - ordered[:, -2] < UNCERTAIN_MARGIN) | (ordered[:, -1] < UNCERTAIN_BELOW)
    assert flags.tolist() == expected.tolist() and 0 < flags.sum() < len(probs)
    names = ["a", "b", "c", "d"]
    singles = [uncertainty(dict(zip(names, row, strict=True))) is not None for row in probs]
    assert singles == flags.tolist()
    assert prediction_columns(probs, names)["uncertain"] == flags.tolist()


# --- .txt files of texts ------------------------------------------------------------------------------
def test_a_txt_file_is_one_text_per_line_with_no_header(tmp_path):
    """The bug: a .txt was read as a CSV with a header, so its first text was lost (and a comma split a text)."""
    path = tmp_path / "new.txt"
    path.write_text("first text, with a comma\n\nsecond text\n   \nthird text\n", encoding="utf-8")
    table, inputs, skipped = read_inputs(path)
    assert inputs == ["first text, with a comma", "second text", "third text"]
    assert table["line"].tolist() == [1, 3, 5]
    assert skipped == [("line 2", "empty line"), ("line 4", "empty line")]


def test_a_tab_separated_txt_is_still_a_table(tmp_path):
    path = tmp_path / "export.txt"
    path.write_text("text\tlabel\nfirst\ta\nsecond\tb\n", encoding="utf-8")
    table, inputs, skipped = read_inputs(path)
    assert inputs == ["first", "second"] and list(table.columns) == ["text", "label"] and skipped == []


def test_a_txt_of_texts_cannot_be_training_data(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("first text\nsecond text\n", encoding="utf-8")
    for read in (load_text_dataset, read_table):
        with pytest.raises(DataError, match="plain text file.*no labels.*rename it to end in .csv"):
            read(path)


# --- scores on new labeled data -----------------------------------------------------------------------
def test_evaluation_counts_unknown_and_missing_labels_instead_of_scoring_them():
    true = ["ham", "spam", "spam", "eggs", None, "eggs", "ham"]
    predicted = ["ham", "spam", "ham", "ham", "spam", "spam", "spam"]
    ev = evaluate(true, predicted, ["ham", "spam"], "column 'label'")
    assert (ev.rows, ev.scored, ev.unknown, ev.missing) == (7, 4, {"eggs": 2}, 1)
    assert ev.metrics == classification_metrics([0, 1, 1, 0], [0, 1, 0, 1], ["ham", "spam"])
    lo, hi = ev.metrics["accuracy_ci"]
    assert lo <= ev.metrics["accuracy"] == 0.5 <= hi
    assert ev.notes() == [
        "2 rows have a label this model never learned ('eggs'): left out of the scores, since the model cannot "
        "predict it.",
        "1 row with no label in column 'label': left out of the scores.",
    ]
    nothing = evaluate(["x", "y"], ["ham", "spam"], ["ham", "spam"], "column 'label'")
    assert nothing.metrics is None and "nothing could be scored" in nothing.summary()


def test_true_labels_come_from_the_runs_column_a_label_column_or_the_folders():
    names = ["circle", "square"]
    both = {"text": ["t"], "category": ["circle"], "label": ["square"]}
    assert true_labels(both, names, "category").source == "column 'category'"
    assert true_labels(both, names, None).values == ["square"]
    assert true_labels({"text": ["t"], "stars": ["1"]}, names, None) is None
    folders = {"file": ["shapes/circle/1.png", "square/2.png", "3.png", "triangle/4.png"]}
    assert true_labels(folders, names).values == ["circle", "square", None, "triangle"]
    assert true_labels({"file": ["holiday/1.png"]}, names) is None  # folders that are not classes: no scores
    ev = evaluate_table({**folders, "predicted_label": ["circle", "circle", "square", "square"]}, names)
    assert (ev.scored, ev.unknown, ev.missing, ev.unit) == (2, {"triangle": 1}, 1, "picture")


# --- tiny runs, trained once --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def home(tmp_path_factory, tiny_bert, tiny_resnet):
    """A workspace with a text run (its label column is 'category') and a picture run."""
    from engine.core.jobs import prepare_run
    from engine.training.trainer import train

    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRANSFERLAB_HOME", str(home))
        data = write_csv(home / "topics.csv", make_rows(30), header=("message", "category"))
        config = TrainConfig(
            data=str(data), model=str(tiny_bert), strategy="frozen", text_column="message", label_column="category"
        )
        train(config, prepare_run(config, home / "runs" / "topics"))
        shapes = write_image_zip(home / "shapes.zip")
        config = TrainConfig(data=str(shapes), model=str(tiny_resnet), strategy="frozen", image_size=32)
        train(config, prepare_run(config, home / "runs" / "shapes"))
        yield home


@pytest.fixture()
def app_home(home, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_HOME", str(home))
    return home


def labeled_rows() -> list[tuple[str, str]]:
    """New texts with their labels, two with a label the model never learned and one with none."""
    return [*make_rows(4, seed=7), ("refund for my parcel", "refunds"), ("login error again", "refunds"), ("help", "")]


def open_try_it(run: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("pages/try_it.py").run()
    at.selectbox(key="w_try_run").set_value(run).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_cli_scores_a_file_with_the_runs_label_column(app_home, tmp_path, capsys):
    from engine.predict import main

    data = write_csv(tmp_path / "new.csv", labeled_rows(), header=("message", "category"))
    out = tmp_path / "predictions.csv"
    assert main(["--run", str(app_home / "runs" / "topics"), "--data", str(data), "--out", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    known = table[table["category"].isin(["billing", "shipping", "tech"])]
    accuracy = float((known["category"] == known["predicted_label"]).mean())
    scores = json.loads((tmp_path / "predictions.metrics.json").read_text())
    assert scores["accuracy"] == pytest.approx(accuracy) and len(scores["accuracy_ci"]) == 2
    assert (scores["scored_rows"], scores["unknown_labels"], scores["rows_without_label"]) == (12, {"refunds": 2}, 1)
    assert scores["labels_from"] == "column 'category'"
    printed = capsys.readouterr().out
    assert f"accuracy {accuracy:.3f}" in printed and "never learned ('refunds')" in printed
    assert "uncertain" in table.columns


def test_cli_reads_a_txt_file_from_its_first_line(app_home, tmp_path, capsys):
    from engine.predict import main

    data = tmp_path / "new.txt"
    data.write_text("refund for the invoice\n\ncourier tracking parcel\n", encoding="utf-8")
    out = tmp_path / "predictions.csv"
    assert main(["--run", str(app_home / "runs" / "topics"), "--data", str(data), "--out", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert table["text"].tolist() == ["refund for the invoice", "courier tracking parcel"]
    assert table["line"].tolist() == [1, 3]
    assert not (tmp_path / "predictions.metrics.json").exists()  # no labels, no scores
    assert (
        main(
            ["--run", str(app_home / "runs" / "topics"), "--data", str(data), "--out", str(out), "--label-column", "x"]
        )
        == 2
    )


def test_try_it_scores_a_labeled_file_and_flags_uncertain_rows(app_home):
    """The bugs: a labeled file was scored but its accuracy never computed; uncertain rows were not told apart."""
    at = open_try_it(str(app_home / "runs" / "topics"))
    data = write_csv(app_home / "new.csv", labeled_rows(), header=("message", "category")).read_bytes()
    at.file_uploader(key="w_try_upload").set_value(("new.csv", data, "text/csv")).run()
    assert not at.exception and not at.error, texts(at.error)
    table = at.dataframe[0].value
    assert len(table) == 15
    probs = table[[c for c in table.columns if c.startswith("prob_")]].to_numpy()
    assert table["uncertain"].tolist() == uncertain_rows(probs).tolist()
    flagged = int(table["uncertain"].sum())
    said = texts(at.warning) + texts(at.caption)
    assert any(f"{flagged:,} of 15 rows" in s or (flagged == 0 and "None of the 15 rows" in s) for s in said), said

    known = table[table["category"].isin(["billing", "shipping", "tech"])]
    accuracy = float((known["category"] == known["predicted_label"]).mean())
    cards = {m.label: m for m in at.metric}
    assert cards["Accuracy"].value == f"{accuracy:.3f}" and "95% interval" in cards["Accuracy"].proto.help
    assert "Macro-F1" in cards and cards["Scored"].value == "12 of 15"
    assert any(md("never learned ('refunds')") in w for w in texts(at.warning))
    assert any(md("1 row with no label in column 'category'") in w for w in texts(at.warning))
    charts = at.get("plotly_chart")
    assert any("Confusion matrix (this file)" in c.proto.spec for c in charts)
    per_class = at.dataframe[1].value
    assert per_class["class"].tolist() == ["billing", "shipping", "tech"] and per_class["examples"].sum() == 12
    assert [d.label for d in at.get("download_button")] == ["Download with predictions (CSV)"]
    # Found by a new user: the file and its scores were gone after a visit to another page.
    at.switch_page("pages/runs.py").run()
    at.switch_page("pages/try_it.py").run()
    assert "The file scored last: new\\.csv. Upload another to replace it." in texts(at.caption)
    assert len(at.dataframe[0].value) == 15 and {m.label: m for m in at.metric}["Scored"].value == "12 of 15"


def test_try_it_reads_a_txt_file_from_its_first_line(app_home):
    at = open_try_it(str(app_home / "runs" / "topics"))
    data = b"refund for the invoice\n\ncourier tracking parcel\n"
    at.file_uploader(key="w_try_upload").set_value(("new.txt", data, "text/plain")).run()
    assert not at.exception and not at.error, texts(at.error)
    table = at.dataframe[0].value
    assert table["text"].tolist() == ["refund for the invoice", "courier tracking parcel"]
    assert md("Skipped 1 empty line: line 2.") in texts(at.caption)
    assert not [m for m in at.metric if m.label == "Accuracy"]  # no labels, no scores


def test_try_it_says_when_a_typed_text_is_a_close_call(app_home):
    at = open_try_it(str(app_home / "runs" / "topics"))
    close = {
        "label": "billing",
        "confidence": 0.519,
        "probabilities": {"billing": 0.519, "tech": 0.45, "shipping": 0.031},
    }
    at.session_state["try_result"] = (str(app_home / "runs" / "topics"), "some text", close, None)
    at.run()
    assert any(md("Uncertain: between 'billing' (51.9%) and 'tech' (45.0%).") in w for w in texts(at.warning))
    sure = {"label": "billing", "confidence": 0.9, "probabilities": {"billing": 0.9, "tech": 0.05, "shipping": 0.05}}
    at.session_state["try_result"] = (str(app_home / "runs" / "topics"), "some text", sure, None)
    at.run()
    assert not any("Uncertain" in w for w in texts(at.warning))


def png(shape: str, seed: int) -> bytes:
    import io

    buffer = io.BytesIO()
    draw_shape(shape, seed).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_picture_sits_beside_its_prediction_not_over_it(app_home):
    """The bug: a 256-pixel picture in a quarter-width column ran over the numbers in columns nested beside it."""
    at = open_try_it(str(app_home / "runs" / "shapes"))
    at.file_uploader(key="w_try_image").set_value(("circle.png", png("circle", 999), "image/png")).run()
    assert not at.exception and not at.error, texts(at.error)
    columns = list(at.columns)
    [picture_column] = [c for c in columns if any(i.captions == ["circle.png"] for i in c.get("image"))]
    [numbers_column] = [c for c in columns if any(m.label == "Predicted label" for m in c.metric)]
    assert picture_column is not numbers_column and not numbers_column.get("image")
    assert not any(list(c.columns) for c in columns), "no columns inside columns"
    assert [image.captions for image in at.get("image")][0] == ["circle.png"]  # then its heat map


def test_try_it_scores_a_zip_in_class_folders(app_home, tmp_path):
    at = open_try_it(str(app_home / "runs" / "shapes"))
    assert any("folder named after one of the model" in c for c in texts(at.caption))
    data = write_image_zip(tmp_path / "new.zip", n_per_class=2, shapes=("circle", "square", "triangle"), seed=5)
    at.file_uploader(key="w_try_zip").set_value(("new.zip", data.read_bytes(), "application/zip")).run()
    assert not at.exception and not at.error, texts(at.error)
    table = at.dataframe[0].value
    assert len(table) == 6 and "uncertain" in table.columns
    truth = table["file"].str.split("/").str[0]
    known = truth.isin(["circle", "square", "stripes"])
    accuracy = float((table["predicted_label"][known] == truth[known]).mean())
    cards = {m.label: m.value for m in at.metric}
    assert cards["Accuracy"] == f"{accuracy:.3f}" and cards["Scored"] == "4 of 6"
    assert any(md("the folder names") in c for c in texts(at.caption))
    assert any(md("2 pictures have a label this model never learned ('triangle')") in w for w in texts(at.warning))
