"""Every dashboard page with Streamlit's AppTest: fresh sessions, validation errors, the happy path.

The happy path trains a tiny BERT built in the test through the real worker process (never in
this process) and reads the results back through the pages.
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import pytest
from conftest import make_rows, write_csv
from streamlit.testing.v1 import AppTest

from engine.core.config import TrainConfig
from engine.core.rundir import FINISHED, RunDir, write_json_atomic
from engine.core.words import markdown_text as md
from engine.data.uploads import save_upload
from ui import format as fmt

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["pages/data.py", "pages/model.py", "pages/train.py", "pages/results.py", "pages/try_it.py", "pages/runs.py"]
TRAIN_TIMEOUT_S = 240


def open_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.radio(key="w_data_source").set_value("upload").run()
    at.file_uploader[0].set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def fake_run(root: Path, name: str, state: str = "completed", accuracy: float = 0.9, **status) -> RunDir:
    """A run folder as the engine writes it, without training (for pages that only read runs)."""
    run = RunDir(root / "runs" / name)
    run.path.mkdir(parents=True)
    TrainConfig(data="data/spam_emails.csv", model="minilm", strategy="lora").save(run.config_path)
    run.set_status(state, status.pop("message", f"{state}"), **status)
    if state == "completed":
        write_json_atomic(
            run.metrics_path,
            {
                "accuracy": accuracy,
                "macro_f1": accuracy - 0.05,
                "labels": ["ham", "spam"],
                "confusion_matrix": [[8, 1], [1, 10]],
                "per_class": {
                    "ham": {"precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 9},
                    "spam": {"precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 11},
                },
                "train_seconds": 12.0 / accuracy,
                "trainable_params": int(1000 * accuracy),
                "total_params": 100_000,
            },
        )
        for epoch in (1, 2):
            run.append_event({"type": "train", "step": 2 * epoch, "epoch": epoch, "loss": 1 / epoch})
            run.append_event({"type": "eval", "step": 2 * epoch, "epoch": epoch, "eval_macro_f1": accuracy / epoch})
    return run


# --- fresh sessions -----------------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_in_a_fresh_session(workspace, page):
    at = open_app(page)
    sidebar = [e.value for e in at.sidebar.text]
    assert any("CPU" in line or "GPU" in line for line in sidebar)
    assert "No run in progress." in texts(at.sidebar.caption)
    assert not at.error


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("pages/train.py", "No runs yet"),
        ("pages/results.py", "No completed runs yet"),
        ("pages/try_it.py", "No completed runs yet"),
        ("pages/runs.py", "No runs yet"),
    ],
)
def test_no_runs_yet(workspace, page, message):
    at = open_app(page)
    assert any(message in text for text in texts(at.info))


def test_model_page_without_data_asks_for_data_first(workspace):
    at = open_app("pages/model.py")
    assert any("Choose data on the Data page" in t for t in texts(at.info))
    assert not at.metric  # no estimate without data


# --- data page ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("one_class.csv", b"text,label\nthe first text,a\na second text,a\nand a third,a\n", "only one class"),
        ("empty.csv", b"", "is empty"),
        ("header_only.csv", b"text,label\n", "no data rows"),
        ("one_column.csv", b"text\nhello\nworld\n", "needs two"),
        ("binary.csv", b"PK\x03\x04\x00\x00binary", "looks like an Excel workbook"),
        ("quote.csv", b'text,label\n"never closed,a\nsecond,b\n', "never closed"),
        ("free_text.csv", b"text,label\n" + b"".join(b"text %d,label %d\n" % (i, i) for i in range(150)), "free text"),
        ("tiny_class.csv", b"text,label\n" + b"".join(b"text %d,a\n" % i for i in range(10)) + b"lonely,b\n", "only 1"),
        ("bad.jsonl", b'{"text": "a", "label": "x"}\nnot json\n', "line 2 is not valid JSON"),
    ],
)
def test_data_validation_errors_are_shown_in_plain_words(workspace, name, data, needle):
    at = upload(open_app(), name, data)
    errors = texts(at.error)
    assert len(errors) == 1 and needle in errors[0], errors
    assert at.session_state["data_summary"] is None


def test_demo_data_shows_preview_classes_and_split(workspace):
    at = open_app()
    at.radio(key="w_data_source").set_value("demo").run()
    assert not at.exception and not at.error
    assert (at.selectbox[0].value, at.selectbox[1].value) == ("text", "label")
    assert len(at.dataframe[0].value) == 50
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Examples": "5,882", "Training": "4,117", "Validation": "588", "Test": "1,177"}
    assert len(at.get("plotly_chart")) == 1
    assert at.session_state["data_path"].endswith("spam_emails.csv")


def test_upload_is_stored_by_content_and_columns_can_be_changed(workspace, tmp_path):
    rows = [(t, y, f"note {i}") for i, (t, y) in enumerate(make_rows(10))]
    csv_bytes = "review,stars,comment\n" + "".join(f"{t},{y},{c}\n" for t, y, c in rows)
    at = upload(open_app(), "reviews.csv", csv_bytes.encode())
    path = Path(at.session_state["data_path"])
    assert path.is_relative_to(workspace / "uploads") and path.read_text() == csv_bytes
    assert (at.selectbox[0].value, at.selectbox[1].value) == ("review", "stars")
    assert any("Ready: 30 examples in 3 classes" in s for s in texts(at.success))
    # A wrong pick is explained, not a traceback: every comment is different, so it is not a label.
    at.selectbox[1].set_value("comment").run()
    assert not at.exception
    assert any("only 1 example" in e or "free text" in e for e in texts(at.error))
    # The same file again, in a new session, can be picked from the earlier uploads.
    at2 = open_app()
    at2.radio(key="w_data_source").set_value("earlier").run()
    assert at2.session_state["data_path"] == str(path)


def test_earlier_files_are_only_those_that_were_ready_to_train_on(workspace, tmp_path):
    at = upload(open_app(), "good.csv", write_csv(tmp_path / "good.csv", make_rows(10)).read_bytes())
    assert any("Ready: 30 examples" in s for s in texts(at.success))
    # 10 examples a class leave 2 a class for the test: the Data page says so before anything trains.
    assert any(w.startswith("The test split has fewer than 10 examples in 3 of 3 classes") for w in texts(at.warning))
    upload(at, "broken.csv", b"text,label\nonly one,a\n")  # refused: one example
    assert at.error
    save_upload(b"text\nto be labelled\n", "to label.csv")  # as Try it stores the files it labels
    at2 = open_app()
    at2.radio(key="w_data_source").set_value("earlier").run()
    box = at2.selectbox(key="w_earlier_upload")
    assert len(box.options) == 1 and box.options[0].startswith("good.csv (30 rows, 3 classes;")


def test_imbalanced_classes_are_warned_about(workspace, tmp_path):
    rows = make_rows(40, classes=("billing",)) + make_rows(8, seed=1, classes=("tech",))
    data = write_csv(tmp_path / "skewed.csv", rows).read_bytes()
    at = upload(open_app(), "skewed.csv", data)
    assert any("imbalanced" in w and md("'tech'") in w for w in texts(at.warning))  # escaped: shown as typed


# --- model page -----------------------------------------------------------------------------------
def test_model_page_cards_strategy_presets_and_estimate(workspace, tiny_bert, topic_csv):
    at = upload(open_app(), "topics.csv", topic_csv.read_bytes())
    at.switch_page("pages/model.py").run()
    assert not at.exception
    assert any("works offline" in m for m in texts(at.markdown))
    assert any("Recommended for your data" in t for t in texts(at.info))
    recommended = at.radio(key="w_strategy").value
    assert recommended == "setfit"  # 30 examples in 3 classes

    at.text_input(key="w_model").set_value("/no/such/folder").run()
    assert any("is not available" in e for e in texts(at.error))
    assert not at.metric  # no estimate for a model that cannot be used

    at.text_input(key="w_model").set_value(str(tiny_bert)).run()
    assert not at.error
    at.radio(key="w_strategy").set_value("lora").run()
    at.segmented_control(key="w_preset").set_value("Quick look").run()
    assert at.number_input(key="w_epochs").value == 3  # 30 examples: one epoch would be two updates
    assert at.select_slider(key="w_max_length").value == 64
    metrics = {m.label: m.value for m in at.metric}
    assert set(metrics) == {"Trainable parameters", "Memory needed", "Estimated time"}

    at.radio(key="w_strategy").set_value("setfit").run()  # a new strategy starts from its preset values
    assert at.number_input(key="w_epochs").value == 5
    at.radio(key="w_strategy").set_value("frozen").run()  # a fitted head: no epochs or learning rate to set
    assert "w_epochs" not in [n.key for n in at.number_input]
    assert any("fitted to convergence" in c for c in texts(at.caption))
    frozen_params = {m.label: m.value for m in at.metric}["Trainable parameters"]
    at.radio(key="w_strategy").set_value("full").run()
    full_params = {m.label: m.value for m in at.metric}["Trainable parameters"]
    assert frozen_params != full_params

    at.number_input(key="w_epochs").set_value(2).run()
    at.select_slider(key="w_max_length").set_value("Automatic").run()
    assert at.session_state["settings"]["epochs"] == 2 and at.session_state["settings"]["max_length"] is None
    # Settings survive a trip to another page and back.
    at.switch_page("pages/data.py").run()
    at.switch_page("pages/model.py").run()
    assert at.number_input(key="w_epochs").value == 2 and at.radio(key="w_strategy").value == "full"


def test_catalog_card_picks_the_model(workspace):
    at = open_app("pages/model.py")
    assert at.text_input(key="w_model").value == "minilm"
    assert at.button(key="use:minilm").disabled
    at.button(key="use:bert-base-uncased").click().run()
    assert at.text_input(key="w_model").value == "bert-base-uncased"
    assert at.session_state["model"] == "bert-base-uncased"


# --- train, results, try it, runs: the happy path ---------------------------------------------------
def wait_until_finished(run: RunDir, timeout: float = TRAIN_TIMEOUT_S) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = run.status()
        if status.get("state") in FINISHED:
            return status
        time.sleep(0.5)
    log = (run.path / "worker.log").read_text() if (run.path / "worker.log").exists() else ""
    raise AssertionError(f"run did not finish in {timeout} s: {run.status()}\n{log[-3000:]}")


def test_train_through_the_ui_then_results_try_it_and_runs(workspace, tiny_bert, topic_csv):
    at = upload(open_app(), "topics.csv", topic_csv.read_bytes())
    at.switch_page("pages/model.py").run()
    at.text_input(key="w_model").set_value(str(tiny_bert)).run()
    at.radio(key="w_strategy").set_value("lora").run()
    at.segmented_control(key="w_preset").set_value("Quick look").run()
    at.number_input(key="w_epochs").set_value(2).run()
    at.select_slider(key="w_learning_rate").set_value(5e-3).run()

    at.switch_page("pages/train.py").run()
    assert not at.exception
    at.button(key="start_training").click().run()
    assert not at.exception and not at.error, texts(at.error)
    run = RunDir(at.session_state["train_run"])
    assert run.path.parent == workspace / "runs"
    config = run.config()
    assert (config["model"], config["strategy"], config["epochs"], config["max_length"]) == (
        str(tiny_bert),
        "lora",
        2,
        64,
    )
    assert config["learning_rate"] == 5e-3 and config["data"].startswith(str(workspace / "uploads"))
    assert any(md(run.name) in m for m in texts(at.markdown))
    assert run.status()["state"] in ("queued", "running")

    # The browser tab is closed and opened again mid-run: a new session finds the run on disk.
    fresh = open_app("pages/train.py")
    assert any(md(run.name) in m for m in texts(fresh.markdown))
    assert any(md(run.name) in m for m in texts(fresh.sidebar.markdown))  # the sidebar shows the active run

    status = wait_until_finished(run)
    assert status["state"] == "completed", status
    at.run()
    assert not at.exception
    assert any("Test accuracy" in s for s in texts(at.success))
    assert len(at.get("plotly_chart")) == 2  # loss and validation curves
    assert "No run in progress." in texts(at.sidebar.caption)
    on_train = {m.label: m.value for m in at.metric}
    assert any(c.startswith("From the click on Start to the end") for c in texts(at.caption))

    at.switch_page("pages/results.py").run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert set(metrics) == {"Accuracy", "Macro-F1", "Trainable parameters", "Time to train"}
    assert float(metrics["Accuracy"]) == pytest.approx(run.metrics()["accuracy"], abs=5e-4)
    # One duration and one speed everywhere: the Train page shows the figures Results shows (metrics.json's).
    assert metrics["Time to train"] == on_train["Time to train"] == fmt.seconds(run.metrics()["train_seconds"])
    assert on_train["Examples / s"] == f"{run.metrics()['train_samples_per_second']:,.1f}"
    low, high = run.metrics()["accuracy_ci"]
    assert f"95% interval {low:.3f}–{high:.3f}" in texts(at.caption)
    charts = at.get("plotly_chart")
    assert len(charts) == 4  # confusion matrix, per-class scores, loss, validation metrics
    assert '"Confusion matrix' in charts[0].proto.spec or "Confusion matrix" in charts[0].proto.spec
    assert [d.label for d in at.get("download_button")] == [
        "Download report (HTML)",
        "Download report (PDF)",
        "Test predictions (CSV)",
        "Model folder (ZIP)",
        "ONNX (ZIP)",
    ]
    # Next to them, in words, why transformers' own classes would not reproduce this mean-pooling classifier.
    assert any("Not offered as a transformers AutoModelForSequenceClassification" in c for c in texts(at.caption))

    # The ZIP the page offers, built by python -m engine.export, is a model folder engine.predict loads.
    from engine.predict import Predictor
    from ui.export import build_export

    with zipfile.ZipFile(io.BytesIO(build_export(str(run.path), "zip", f"{run.name}-model", "k"))) as archive:
        archive.extractall(workspace / "unzipped")
    unzipped = Predictor(workspace / "unzipped" / run.name)
    original = Predictor.from_run(run.path)
    sample = ["refund for the invoice payment", "courier tracking parcel late"]
    assert [p["label"] for p in unzipped.predict(sample)] == [p["label"] for p in original.predict(sample)]

    at.switch_page("pages/try_it.py").run()
    assert not at.exception
    at.text_area[0].set_value("my card payment was charged twice, refund please")
    at.form_submit_button[0].click().run()
    assert not at.exception
    labels = {m.label: m.value for m in at.metric}
    assert labels["Predicted label"] in ("billing", "shipping", "tech")
    assert at.session_state["try_result"][2]["probabilities"].keys() == {"billing", "shipping", "tech"}
    # A whole file, labelled and offered for download.
    new_texts = write_csv(workspace / "new.csv", make_rows(3, seed=7), header=("text", "label"))
    at.file_uploader(key="w_try_upload").set_value(("new.csv", new_texts.read_bytes(), "text/csv")).run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert {"predicted_label", "confidence", "prob_billing"} <= set(table.columns) and len(table) == 9
    assert [d.label for d in at.get("download_button")] == ["Download with predictions (CSV)"]

    at.switch_page("pages/runs.py").run()
    assert not at.exception
    runs = at.dataframe[0].value
    assert list(runs["run"]) == [run.name] and runs.iloc[0]["state"] == "completed"


def test_try_it_shows_a_readable_error_for_a_bad_file(workspace):
    fake_run(workspace, "no-model")  # completed on paper, but its model folder is missing
    at = open_app("pages/try_it.py")
    assert any("has no trained model" in e for e in texts(at.error))


# --- train page states ---------------------------------------------------------------------------------
def test_failed_run_shows_its_reason_and_offers_resume(workspace):
    fake_run(
        workspace,
        "broken",
        state="failed",
        message="Training ran out of memory. Try a smaller batch size or max length, or a lighter strategy.",
    )
    at = open_app("pages/train.py")
    errors = texts(at.error)
    assert any("Training failed" in e and "smaller batch size" in e for e in errors)
    assert at.button(key="resume_run")


def test_cancel_button_asks_the_running_run_to_stop(workspace):
    run = fake_run(workspace, "going", state="running", progress={"step": 3, "max_steps": 10, "eta_seconds": 20})
    at = open_app("pages/train.py")
    assert any("Running" in t for t in texts(at.info))
    assert at.get("progress")[0].proto.value == 30  # step 3 of 10, as a percentage
    at.button(key="cancel_run").click().run()
    assert not at.exception
    assert run.cancel_path.exists()


def test_resume_button_continues_a_failed_run_in_a_worker(workspace, tiny_bert, topic_csv):
    run = RunDir(workspace / "runs" / "interrupted")
    run.path.mkdir(parents=True)
    config = TrainConfig(data=str(topic_csv), model=str(tiny_bert), strategy="frozen", epochs=2, max_length=32)
    config.save(run.config_path)
    run.set_status("failed", "The training process stopped unexpectedly. Resume the run to continue.")
    at = open_app("pages/train.py")
    at.button(key="resume_run").click().run()
    assert not at.exception and not at.error
    assert run.status()["state"] in ("queued", "running", "completed")
    assert wait_until_finished(run)["state"] == "completed"
    at.run()
    assert any("Test accuracy" in s for s in texts(at.success))


def test_start_without_data_is_refused_in_words(workspace):
    at = open_app("pages/train.py")
    assert any("Choose your data first" in t for t in texts(at.info))
    assert not [b for b in at.button if b.key == "start_training"]


# --- runs page --------------------------------------------------------------------------------------
def test_runs_compare_and_delete_with_confirmation(workspace):
    for name, acc in (("run-a", 0.8), ("run-b", 0.9), ("run-c", 0.95)):
        fake_run(workspace, name, accuracy=acc)
        time.sleep(0.01)
    at = open_app("pages/runs.py")
    table = at.dataframe[0].value
    assert list(table["run"]) == ["run-c", "run-b", "run-a"]  # newest first
    assert at.multiselect(key="w_compare").value == ["run-c", "run-b"]
    compared = at.dataframe[1].value
    assert list(compared["accuracy"]) == [0.95, 0.9]
    charts = at.get("plotly_chart")
    assert (
        len(charts) == 2
        and "Validation curves" in charts[0].proto.spec
        and "Accuracy vs time to train" in charts[1].proto.spec
    )

    at.multiselect(key="w_compare").set_value(["run-a"]).run()
    assert any("at least two" in t for t in texts(at.info))

    at.selectbox(key="w_delete_run").set_value(str(workspace / "runs" / "run-a")).run()
    at.button(key="delete_run").click().run()
    assert any("cannot be undone" in w for w in texts(at.warning))
    at.button(key="confirm_delete_no").click().run()
    assert (workspace / "runs" / "run-a").exists() and not at.warning
    at.button(key="delete_run").click().run()
    at.button(key="confirm_delete_yes").click().run()
    assert not (workspace / "runs" / "run-a").exists()
    assert any(md("Deleted the run 'run-a'") in s for s in texts(at.success))
    assert list(at.dataframe[0].value["run"]) == ["run-c", "run-b"]


def test_an_active_run_cannot_be_deleted(workspace):
    # Status written by this (alive) process: the run counts as running.
    fake_run(workspace, "busy", state="running")
    at = open_app("pages/runs.py")
    assert at.dataframe[0].value.iloc[0]["state"] == "running"
    at.button(key="delete_run").click().run()
    at.button(key="confirm_delete_yes").click().run()
    assert any("cancel it first" in e for e in texts(at.error))
    assert (workspace / "runs" / "busy").exists()
    assert os.getpid() == RunDir(workspace / "runs" / "busy").status()["pid"]


def test_results_and_try_it_follow_the_run_that_just_finished(workspace):
    """The bug (issue 13): after a second run, the Train page said its accuracy while "See the results"
    opened the earlier run, the one picked before on Results; Try it scored with it too."""
    first = fake_run(workspace, "first", accuracy=0.825)
    at = open_app("pages/results.py")
    assert at.selectbox[0].value == str(first.path)
    second = fake_run(workspace, "second", accuracy=0.758)
    at.session_state["train_run"] = str(second.path)
    at.switch_page("pages/train.py").run()  # the Train page shows the run just finished
    at.switch_page("pages/results.py").run()
    assert at.selectbox[0].value == str(second.path)
    assert any(m.label == "Accuracy" and m.value == "0.758" for m in at.metric)
    at.switch_page("pages/try_it.py").run()
    assert at.selectbox[0].value == str(second.path)

    at.switch_page("pages/results.py").run()
    at.selectbox[0].set_value(str(first.path)).run()  # a run picked by hand stays picked
    assert any(m.label == "Accuracy" and m.value == "0.825" for m in at.metric)
    at.switch_page("pages/try_it.py").run()
    assert at.selectbox[0].value == str(first.path)


def test_a_cancelled_run_says_so_once_in_words(workspace):
    """The bug: "Cancelled. Cancelled. Resume with: python -m engine.train --resume ..." on the Train page."""
    from engine.training.trainer import STOPPED_MESSAGE

    run = fake_run(workspace, "stopped", state="cancelled", message=STOPPED_MESSAGE.format(how="Cancelled"))
    at = open_app()
    at.session_state["train_run"] = str(run.path)
    at.switch_page("pages/train.py").run()
    [warning] = [w.value for w in at.warning if "resumed" in w.value]
    assert warning.count("Cancelled") == 1 and "python -m" not in warning


def test_trainable_parameters_show_a_count_not_a_zero_share(workspace):
    """The bug: a frozen run's card said "Trainable parameters 0.00%", which reads as broken."""
    run = fake_run(workspace, "frozen-run")
    metrics = run.metrics() | {"trainable_params": 770, "total_params": 22_713_216, "strategy": "frozen"}
    write_json_atomic(run.metrics_path, metrics)
    at = open_app("pages/results.py")
    [card] = [m.value for m in at.metric if m.label == "Trainable parameters"]
    assert card == "770" and "of 22.7 M · the classifier only" in texts(at.caption)
    write_json_atomic(run.metrics_path, metrics | {"trainable_params": 74_498, "strategy": "lora"})
    at = open_app("pages/results.py")
    assert [m.value for m in at.metric if m.label == "Trainable parameters"] == ["74.5 K"]
    assert "of 22.7 M · 0.33% of the model" in texts(at.caption)


def test_a_second_start_with_the_same_settings_asks_first(workspace, monkeypatch):
    """The bug: a second click on Start silently queued an identical run (then it was refused outright)."""
    from engine.core import jobs

    started = []
    twin = fake_run(workspace, "twin", state="queued")

    def fake_start(config, name=None, note=None, allow_twin=False, track=None):
        if started and not allow_twin:
            raise jobs.TwinRunError(twin)
        started.append((name, note))
        return fake_run(workspace, f"started{len(started)}", state="queued")

    monkeypatch.setattr(jobs, "start_run", fake_start)
    at = open_app()
    at.radio(key="w_data_source").set_value("demo").run()
    at.switch_page("pages/train.py").run()
    at.text_input(key="w_run_name").set_value("First try").run()
    at.text_input(key="w_run_note").set_value("demo data").run()
    at.button(key="start_training").click().run()
    assert started == [("First try", "demo data")]
    assert at.text_input(key="w_run_name").value == ""  # the next run gets its own name
    at.button(key="start_training").click().run()
    [question] = [w.value for w in at.warning if "exactly these settings" in w.value]
    assert len(started) == 1
    at.button(key="keep_one").click().run()
    assert not [w for w in at.warning if "exactly these settings" in w.value] and len(started) == 1
    at.button(key="start_training").click().run()
    at.button(key="start_twin").click().run()
    assert len(started) == 2 and not at.exception


def test_results_warn_about_tiny_splits_show_intervals_and_rename_the_run(workspace):
    """The bug: 5 test texts a class gave "test accuracy 0.758" with no warning and no uncertainty."""
    from engine.core.metrics import classification_metrics, small_split_warning

    run = fake_run(workspace, "tiny-split")
    scores = classification_metrics([0] * 5 + [1] * 5, [0] * 4 + [1] * 6, ["ham", "spam"])
    warning = small_split_warning({"ham": 5, "spam": 5}, "test", "example")
    write_json_atomic(run.metrics_path, run.metrics() | scores | {"evaluation_warnings": [warning]})
    at = open_app("pages/results.py")
    assert md(warning) in texts(at.warning)
    low, high = scores["accuracy_ci"]
    assert high - low > 0.3 and f"95% interval {low:.3f}–{high:.3f}" in texts(at.caption)

    at.text_input(key="w_about_name").set_value("Spam, five a class").run()
    at.text_area(key="w_about_note").set_value("too small to trust").run()
    at.button(key="save_about").click().run()
    assert run.about() == {"name": "Spam, five a class", "note": "too small to trust"}
    assert at.selectbox(key="w_results_run").value == str(run.path)
    assert "Spam, five a class (minilm, lora" in at.selectbox(key="w_results_run").format_func(str(run.path))


def test_gpus_to_use_is_offered_only_on_a_machine_with_several_gpus(workspace, tiny_bert, topic_csv, monkeypatch):
    import streamlit as st

    import engine.core.hardware as hardware

    st.cache_data.clear()  # the GPU count of an earlier test
    at = upload(open_app(), "topics.csv", topic_csv.read_bytes())
    at.switch_page("pages/model.py").run()
    at.text_input(key="w_model").set_value(str(tiny_bert)).run()
    at.radio(key="w_strategy").set_value("full").run()
    assert "w_devices" not in [n.key for n in at.number_input]  # no GPU here

    monkeypatch.setattr(hardware, "gpu_names", lambda: ["NVIDIA H200"] * 4)
    st.cache_data.clear()
    at.run()
    widget = at.number_input(key="w_devices")
    assert widget.value == 1 and widget.max == 4
    widget.set_value(2).run()
    assert at.session_state["settings"]["devices"] == 2
    st.cache_data.clear()
