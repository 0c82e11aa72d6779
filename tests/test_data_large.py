"""Training from a file larger than memory: texts in a memory-mapped Arrow file (engine.data.large), token ids
in another (engine.tasks.text.tokens), and the same dataset, splits, messages and results as the whole-file path."""

from __future__ import annotations

import csv
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_csv
from test_data_summary import MESSY, write_messy

from engine.core.config import TrainConfig
from engine.core.errors import DataError
from engine.core.formats import LARGE_TABLE_ENV
from engine.core.jobs import prepare_run
from engine.data import large as large_module
from engine.data.dataset import training_splits
from engine.data.large import ArrowTexts, is_large, load_for_config, load_large_text_dataset
from engine.data.text import describe, load_text_dataset
from engine.training.trainer import train

ROOT = Path(__file__).resolve().parent.parent
TINY = {"epochs": 2, "batch_size": 8, "max_length": 32, "threads": 2, "min_steps": 0, "learning_rate": 2e-3}


@pytest.fixture(autouse=True)
def private_workspace(workspace: Path) -> Path:
    """The Arrow files go to the workspace cache: a private one, never the user's."""
    return workspace


def assert_same_dataset(whole, large) -> None:
    assert isinstance(large.texts, ArrowTexts) and isinstance(whole.texts, list)
    assert list(large.texts) == whole.texts
    assert large.labels.tolist() == whole.labels and large.rows.tolist() == whole.rows
    assert large.warnings == whole.warnings  # the loader's sentences, word for word, in its order
    for key in ("label_names", "source", "text_column", "label_column", "row_kind"):
        assert getattr(large, key) == getattr(whole, key), key
    for key in ("dropped_empty_text", "dropped_missing_label", "duplicates_removed"):
        assert getattr(large, key) == getattr(whole, key), key
    assert large.class_counts() == whole.class_counts()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_the_large_loader_makes_the_same_dataset_in_the_same_words(tmp_path, fmt, monkeypatch):
    path = write_messy(tmp_path, fmt)
    monkeypatch.setattr(large_module, "CHUNK_ROWS", 3)  # chunk boundaries inside duplicates and conflicts
    whole, large = load_text_dataset(path), load_large_text_dataset(path)
    assert len(large) == 8 and len(large.texts.column.chunks) > 1
    assert_same_dataset(whole, large)
    assert describe(large) == describe(whole)


def test_encodings_and_checks_say_what_the_whole_file_loader_says(tmp_path):
    rows = [("café crème", "a"), ("naïve façade", "b"), ("déjà vu", "a"), ("über", "b"), ("café crème", "b")]
    body = "text,label\n" + "".join(f"{t},{y}\n" for t, y in rows)
    for name, encoding in (("windows.csv", "cp1252"), ("unicode.csv", "utf-16")):
        path = tmp_path / name
        path.write_bytes(body.encode(encoding))
        assert_same_dataset(load_text_dataset(path), load_large_text_dataset(path))
    assert "read it as Windows-1252" in load_large_text_dataset(tmp_path / "windows.csv").warnings[0]

    messy = write_messy(tmp_path, "csv")
    one = tmp_path / "one.csv"
    one.write_text("text,label\na,x\nb,x\n")
    binary = tmp_path / "book.csv"
    binary.write_bytes(b"PK\x03\x04\x00\x00rest")
    for path, names in ((messy, ["billing", "shipping"]), (one, None), (binary, None)):
        with pytest.raises(DataError) as whole:
            load_text_dataset(path, label_names=names)
        with pytest.raises(DataError) as large:
            load_large_text_dataset(path, label_names=names)
        assert str(large.value) == str(whole.value)


def test_the_size_of_the_file_chooses_the_loader(tmp_path, monkeypatch):
    path = write_messy(tmp_path, "csv")
    config = TrainConfig(data=str(path), model="minilm", strategy="frozen")
    assert not is_large(path) and not isinstance(load_for_config(config).texts, ArrowTexts)
    monkeypatch.setenv(LARGE_TABLE_ENV, str(path.stat().st_size - 1))
    assert is_large(path) and isinstance(load_for_config(config).texts, ArrowTexts)
    excel = tmp_path / "messy.xlsx"
    pd.DataFrame(MESSY, columns=["message", "category"]).to_excel(excel, index=False)
    assert not is_large(excel)  # no streaming reader: read whole, up to the upload limit


def test_splits_are_the_same_views_on_the_file(tmp_path):
    path = write_csv(tmp_path / "topics.csv", make_rows(30))
    whole, large = load_text_dataset(path), load_large_text_dataset(path)
    for uses_validation in (True, False):
        (a, notes_a), (b, notes_b) = (
            training_splits(d, seed=7, uses_validation=uses_validation) for d in (whole, large)
        )
        assert notes_a == notes_b
        for part in ("train", "validation", "test"):
            x, y = getattr(a, part), getattr(b, part)
            assert list(y.texts) == x.texts and y.labels.tolist() == x.labels and y.rows.tolist() == x.rows
            assert y.texts.column is large.texts.column  # a view on the same file, not a copy


def test_arrow_texts_read_across_chunks_in_any_order(tmp_path, monkeypatch):
    monkeypatch.setattr(large_module, "CHUNK_ROWS", 7)
    rows = [(f"text number {i}", "ab"[i % 2]) for i in range(100)]
    data = load_large_text_dataset(write_csv(tmp_path / "many.csv", rows))
    texts = data.texts
    assert len(texts.column.chunks) == 15
    order = np.random.default_rng(0).permutation(100)
    view = texts.take(order)
    assert list(view) == [rows[i][0] for i in order]
    assert view[3] == rows[order[3]][0] and view[-1] == rows[order[-1]][0] and view[5:8] == list(view)[5:8]
    assert view.take([2, 0]).read(view.positions[[2, 0]]) == [view[2], view[0]]
    assert texts.char_lengths().tolist() == [len(t) for t, _ in rows]
    with pytest.raises(IndexError):
        texts[100]


def test_memory_per_row_is_a_few_dozen_bytes_not_the_texts(tmp_path, monkeypatch):
    """Texts of about 200 characters: twice the rows cost the loader and the split some bytes a row (a position,
    a label, a row number, and hashes while duplicates are found), not the texts, which stay on disk."""
    monkeypatch.setattr(large_module, "CHUNK_ROWS", 1_000)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    peaks = []
    for rows in (8_000, 16_000):
        path = tmp_path / f"big-{rows}.csv"
        texts = [" ".join(words[(i * 7 + k) % 10] for k in range(36)) + f" {i}" for i in range(rows)]
        pd.DataFrame({"text": texts, "label": [("x", "y", "z")[i % 3] for i in range(rows)]}).to_csv(path, index=False)
        del texts
        tracemalloc.start()
        try:
            data = load_large_text_dataset(path)
            splits, _ = training_splits(data, seed=0)
            assert len(splits.train) + len(splits.validation) + len(splits.test) == rows
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        del data, splits
    per_row = (peaks[1] - peaks[0]) / 8_000
    assert per_row < 150, f"{per_row:.0f} bytes a row"  # the whole-file loader holds ~1,500 (the texts)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("strategy", ["full", "frozen"])
def test_a_run_through_arrow_gives_the_same_splits_metrics_and_predictions(tmp_path, tiny_bert, monkeypatch, strategy):
    """The large-file path on a small file: the same examples in each split, the same scores, the same
    predictions.csv to the sixth decimal (fine-tuning reads token ids from Arrow; frozen computes features
    from texts read from Arrow, each path in its own workspace so no features come from the other's cache)."""
    data = write_csv(tmp_path / "topics.csv", make_rows(30))
    runs, loaded = {}, []
    original = large_module.load_large_text_dataset

    def spy(*args, **kw):
        loaded.append(args[0])
        return original(*args, **kw)

    monkeypatch.setattr(large_module, "load_large_text_dataset", spy)
    for mode, threshold in (("whole", 10**12), ("arrow", 0)):
        monkeypatch.setenv(LARGE_TABLE_ENV, str(threshold))
        monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path / f"home-{mode}"))
        config = TrainConfig(data=str(data), model=str(tiny_bert), strategy=strategy, **TINY)
        runs[mode] = prepare_run(config, tmp_path / mode)
        train(config, runs[mode])
    assert loaded == [str(data)]  # the second run, only
    whole, arrow = runs["whole"].metrics(), runs["arrow"].metrics()
    for key in ("accuracy", "macro_f1", "confusion_matrix", "per_class", "max_length", "inputs_cut", "steps"):
        assert arrow[key] == whole[key], key
    for key in ("train_examples", "validation_examples", "test_examples", "data_warnings", "notes", "head"):
        assert arrow[key] == whole[key], key
    for name in ("majority", "classical"):
        for key in ("accuracy", "macro_f1", "train_examples"):
            assert arrow["baselines"][name].get(key) == whole["baselines"][name].get(key)
    assert read_rows(runs["arrow"].predictions_path) == read_rows(runs["whole"].predictions_path)
    assert 0 < whole["test_examples"] < 90


def test_the_memory_benchmark_measures_training_through_both_paths(tmp_path, tiny_bert, capsys):
    from bench.data_memory import main as data_memory

    out = tmp_path / "r.json"
    args = ["--rows", "3000", "--folder", str(tmp_path), "--out", str(out), "--train", "--model", str(tiny_bert)]
    assert data_memory([*args, "--steps", "2"]) == 0
    (row,) = json.loads(out.read_text())["results"]
    arrow, whole = row["train_arrow"], row["train_whole_file"]
    assert (arrow["loader"], whole["loader"]) == ("ArrowTextDataset", "TextDataset")
    assert arrow["steps"] == whole["steps"] == 2 and arrow["train"] == whole["train"] == 2100
    assert arrow["max_length"] == whole["max_length"]
    assert 0 < arrow["peak_private_mb"] <= arrow["memory_mb"]["VmHWM"]
    assert "| 3,000 |" in capsys.readouterr().out


# --- the Data page ----------------------------------------------------------------------------------
def test_the_data_page_counts_a_large_file_given_by_its_path(workspace, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    rows = make_rows(30)
    path = write_csv(tmp_path / "topics.csv", [*rows, rows[0], ("", "tech")])  # a duplicate, an empty text
    whole = load_text_dataset(path)
    splits, _ = training_splits(whole)
    monkeypatch.setenv(LARGE_TABLE_ENV, "0")  # every table is "large": counted in one pass, never read whole
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.radio(key="w_data_source").set_value("path").run()
    at.text_input(key="w_data_file_path").set_value(str(tmp_path / "nope.csv")).run()
    assert any("There is no file" in e.value for e in at.error) and at.session_state["data_summary"] is None

    at.text_input(key="w_data_file_path").set_value(str(path)).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert (at.selectbox[0].value, at.selectbox[1].value) == ("text", "label")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        "Examples": f"{len(whole):,}",
        "Training": f"{len(splits.train):,}",
        "Validation": f"{len(splits.validation):,}",
        "Test": f"{len(splits.test):,}",
    }
    warnings = [w.value for w in at.warning]
    assert [w for w in warnings if "Removed 1 duplicate" in w or "empty text" in w] and len(warnings) >= 2
    summary = at.session_state["data_summary"]
    assert summary["rows"] == len(whole) and summary["class_counts"] == whole.class_counts()
    assert summary["n_train"] == len(splits.train) and at.session_state["data_path"] == str(path.resolve())


def test_predictions_are_written_and_their_mistakes_read_a_lot_at_a_time(tmp_path, monkeypatch):
    from engine.core import predictions as predictions_module
    from engine.core.predictions import read_mistakes, read_predictions, write_test_predictions

    rows = [(f"=text {i}" if i % 5 == 0 else f"text {i}", "ab"[i % 2]) for i in range(57)]
    data = load_large_text_dataset(write_csv(tmp_path / "texts.csv", rows))
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1], size=len(data))
    labels = data.labels
    whole = tmp_path / "whole.csv"
    write_test_predictions(whole, {"text": list(data.texts)}, labels.tolist(), probs, data.label_names)
    monkeypatch.setattr(predictions_module, "ROWS_AT_ONCE", 10)
    chunked = tmp_path / "chunked.csv"
    write_test_predictions(chunked, {"text": data.texts}, labels, probs, data.label_names)
    assert chunked.read_bytes() == whole.read_bytes()

    table = read_predictions(whole)
    wrong = table[table["correct"].astype(str) != "True"].sort_values("confidence", ascending=False, kind="stable")
    top, n_wrong, n_total = read_mistakes(chunked, limit=7)
    assert (n_wrong, n_total) == (len(wrong), 57) and 7 < n_wrong < 57
    assert top.to_dict("records") == wrong.head(7).reset_index(drop=True).to_dict("records")
    assert top["text"].str.startswith("=").any()  # unescaped, as read_predictions gives them


def test_a_shared_dashboard_takes_data_paths_only_under_its_data_roots(workspace, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from ui import gate

    secret = write_csv(tmp_path / "elsewhere.csv", make_rows(30))
    (workspace / "data").mkdir(parents=True)
    allowed = write_csv(workspace / "data" / "topics.csv", make_rows(30))
    for path in (secret, tmp_path / "no-such-file.csv"):  # the same words whether the file exists or not
        assert "shared" in gate.shared_data_problem(str(path), gate.data_roots())
    assert gate.shared_data_problem(str(allowed), gate.data_roots()) is None

    monkeypatch.setattr(gate, "server_address", lambda: "0.0.0.0")
    monkeypatch.setenv(gate.PASSWORD_ENV, "correct horse")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.text_input[0].input("correct horse")
    at.button[0].click().run()
    at.radio(key="w_data_source").set_value("path").run()
    at.text_input(key="w_data_file_path").set_value(str(secret)).run()
    assert any("This dashboard is shared" in e.value for e in at.error) and not at.dataframe
    at.text_input(key="w_data_file_path").set_value(str(allowed)).run()
    assert not at.exception and not at.error and at.session_state["data_path"] == str(allowed.resolve())


def test_a_wrong_path_says_what_is_wrong_and_not_to_upload(workspace, tmp_path):
    """The bug: under each refused path (and an empty field) the page said "Upload a file, or use the demo
    data", though the user had chosen to give a path."""
    from streamlit.testing.v1 import AppTest

    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("one text\nanother text\n")
    pd.DataFrame({"review": [f"text {i}" for i in range(30)]}).to_csv(tmp_path / "texts.csv", index=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.radio(key="w_data_source").set_value("path").run()
    assert [i.value for i in at.info] == ["Type the path of your labeled table above, then press Enter."]
    wrong = {
        "missing.csv": "There is no file",
        "folder": "is a folder. Type the path of the data file inside it",
        "notes.txt": "'notes.txt' is a plain text file",
        "texts.csv": "'texts.csv' has 1 column (only 'review'); TransferLab needs two",
    }
    for name, words in wrong.items():
        at.text_input(key="w_data_file_path").set_value(str(tmp_path / name)).run()
        errors = [e.value.replace("\\", "") for e in at.error]  # shown as Markdown: unescaped to read
        assert not at.exception and [words in e for e in errors] == [True], (name, errors)
        assert not [i.value for i in at.info if "Upload" in i.value or "Type the path" in i.value], name
        assert at.session_state["data_summary"] is None


def test_a_path_pasted_in_quotes_or_as_a_file_address_is_read_and_judged_as_the_file(workspace, tmp_path):
    """The bug: '/data/reviews.csv' (a shell's quotes) and file:///data/reviews.csv (a file manager's copy) were
    "no file" on this computer; the shared dashboard's folder rule must read them as the same file."""
    from urllib.parse import quote

    from streamlit.testing.v1 import AppTest

    from ui import gate
    from ui.large_data import checked_path

    path = write_csv(tmp_path / "my topics.csv", make_rows(30))
    pasted = [f"'{path}'", f' "{path}" ', f"file://{quote(str(path))}"]
    assert {checked_path(text) for text in pasted} == {str(path.resolve())}
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.radio(key="w_data_source").set_value("path").run()
    at.text_input(key="w_data_file_path").set_value(pasted[0]).run()
    assert not at.exception and not at.error and at.session_state["data_path"] == str(path.resolve())

    inside, outside = [tmp_path], [tmp_path / "elsewhere"]
    assert all(gate.shared_data_problem(text, inside) is None for text in pasted)
    assert all(gate.shared_data_problem(text, outside) for text in [*pasted, f"file://{tmp_path}/elsewhere/../x.csv"])
