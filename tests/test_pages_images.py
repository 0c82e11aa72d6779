"""The dashboard's picture path with AppTest: the Fashion demo, bad ZIPs, image models, and a tiny ResNet
trained through the UI (in a worker process) whose results, gallery and predictions are read back.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import pytest
from conftest import SHAPES, draw_shape
from test_pages import ROOT, open_app, texts, upload, wait_until_finished

from engine.core.rundir import RunDir
from engine.core.words import markdown_text as md


def png(shape: str, seed: int) -> bytes:
    buffer = io.BytesIO()
    draw_shape(shape, seed).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def image_captions(at) -> list[list[str]]:
    return [list(image.captions) for image in at.get("image")]


# --- data page ------------------------------------------------------------------------------------
def test_fashion_demo_shows_thumbnails_class_counts_and_split(workspace):
    at = open_app()
    at.radio(key="w_data_source").set_value("demo_images").run()
    assert not at.exception and not at.error, texts(at.error)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Pictures": "1,000", "Training": "700", "Validation": "100", "Test": "200"}
    captions = image_captions(at)
    assert len(captions) == 10 and all(len(c) == 6 and c[0].endswith(".png") for c in captions)
    assert any(m.startswith(f"**{md('ankle-boot')}** · 100 pictures") for m in texts(at.markdown))
    [chart] = at.get("plotly_chart")
    assert "Pictures per class" in chart.proto.spec and "trouser" in chart.proto.spec
    assert any("Ready: 1,000 pictures in 10 classes" in s for s in texts(at.success))
    state = at.session_state
    assert state["data_task"] == "image" and state["data_summary"]["n_train"] == 700
    assert state["model"] == "efficientnet-lite0"  # MiniLM reads texts: the default picture model replaces it


NO_FOLDERS = {f"img_{i}.png": png("circle" if i % 2 else "square", i) for i in range(12)}


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"text,label\nhello,a\n", "is not a ZIP archive"),
        (zip_of(NO_FOLDERS), "not in class folders"),
        (zip_of({f"cat/{i}.png": png("circle", i) for i in range(6)}), "only one class"),
        (zip_of({"notes.txt": b"nothing to see"}), "holds no images"),
    ],
    ids=["not-a-zip", "no-class-folders", "one-class", "no-images"],
)
def test_a_bad_zip_is_explained_in_plain_words(workspace, data, needle):
    at = upload(open_app(), "pictures.zip", data)
    errors = texts(at.error)
    assert len(errors) == 1 and needle in errors[0], errors
    assert at.session_state["data_summary"] is None and not at.get("image")


def test_a_labels_file_gives_the_classes_of_a_zip_without_folders(workspace):
    at = upload(open_app(), "flat.zip", zip_of(NO_FOLDERS))
    assert any("not in class folders" in e for e in texts(at.error))
    table = "file,label\n" + "".join(f"{name},{'circle' if i % 2 else 'square'}\n" for i, name in enumerate(NO_FOLDERS))
    at.file_uploader[1].set_value(("labels.csv", table.encode(), "text/csv")).run()
    assert not at.exception and not at.error, texts(at.error)
    assert any("Ready: 12 pictures in 2 classes" in s for s in texts(at.success))
    assert at.session_state["image_labels"].endswith("labels.csv")
    at.switch_page("pages/model.py").run()
    assert at.session_state["settings"]  # the Model page made picture settings
    from ui.state import build_config

    config = build_config(at.session_state)
    assert config.image_labels == at.session_state["image_labels"] and config.task == "image"


# --- model page -----------------------------------------------------------------------------------
def test_model_page_lists_image_models_and_picture_settings_for_pictures(workspace, shapes_zip):
    at = upload(open_app(), "shapes.zip", shapes_zip.read_bytes())
    at.switch_page("pages/model.py").run()
    assert not at.exception
    buttons = [b.key for b in at.button]
    assert "use:efficientnet-lite0" in buttons and "use:microsoft/resnet-50" in buttons
    assert "use:minilm" not in buttons  # text models are listed (in an expander) but cannot be picked
    assert any("MiniLM" in m for m in texts(at.markdown))
    assert any("switched the model to EfficientNet-Lite0" in i for i in texts(at.info))
    assert at.text_input(key="w_model").value == "efficientnet-lite0"
    keys = {w.key for w in at.select_slider}
    assert "w_image_size" in keys and "w_max_length" not in keys
    assert at.checkbox(key="w_augment").value is True
    at.radio(key="w_strategy").set_value("lora").run()
    assert at.select_slider(key="w_learning_rate").value == 2e-3  # pictures' own learning rate for LoRA
    at.segmented_control(key="w_preset").set_value("Quick look").run()
    assert at.select_slider(key="w_image_size").value == 128
    # A text model typed by name is refused in words, without an estimate.
    at.text_input(key="w_model").set_value("minilm").run()
    assert any("reads texts, but your data are pictures" in e for e in texts(at.error))
    assert not at.metric and not at.exception


def test_picking_text_data_again_switches_back_to_a_text_model(workspace, shapes_zip):
    at = upload(open_app(), "shapes.zip", shapes_zip.read_bytes())
    at.switch_page("pages/model.py").run()
    at.switch_page("pages/data.py").run()
    at.radio(key="w_data_source").set_value("demo").run()
    at.switch_page("pages/model.py").run()
    assert at.text_input(key="w_model").value == "minilm"
    assert at.button(key="use:minilm") and at.select_slider(key="w_max_length")


def test_rendering_every_page_with_pictures_chosen_does_not_load_torch(workspace):
    code = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=60).run()
at.radio(key="w_data_source").set_value("demo_images").run()
assert at.get("image"), "no thumbnails"
for page in ["model", "train", "results", "try_it", "runs"]:
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, (page, [e.value for e in at.exception])
print("torch" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


# --- train, results, try it, runs: the happy path ---------------------------------------------------
def test_train_a_tiny_resnet_through_the_ui_then_gallery_try_it_and_runs(workspace, tiny_resnet, shapes_zip):
    at = upload(open_app(), "shapes.zip", shapes_zip.read_bytes())
    at.switch_page("pages/model.py").run()
    at.text_input(key="w_model").set_value(str(tiny_resnet)).run()
    assert not at.error, texts(at.error)
    at.radio(key="w_strategy").set_value("full").run()
    at.number_input(key="w_epochs").set_value(2).run()
    at.select_slider(key="w_image_size").set_value(32).run()
    at.select_slider(key="w_learning_rate").set_value(1e-2).run()

    at.switch_page("pages/train.py").run()
    assert not at.exception
    settings = dict(zip(*(at.dataframe[0].value[c] for c in ("setting", "value")), strict=True))
    assert settings["image size"] == "32 pixels" and "max length" not in settings
    assert settings["data"].startswith("shapes.zip (36 pictures, 3 classes")
    at.button(key="start_training").click().run()
    assert not at.exception and not at.error, texts(at.error)
    run = RunDir(at.session_state["train_run"])
    config = run.config()
    assert (config["model"], config["strategy"], config["epochs"], config["image_size"]) == (
        str(tiny_resnet),
        "full",
        2,
        32,
    )
    assert config["augment"] is True and config["max_length"] is None and config["text_column"] is None
    status = wait_until_finished(run)
    assert status["state"] == "completed", status
    at.run()
    assert any("Test accuracy" in s for s in texts(at.success))

    at.switch_page("pages/results.py").run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Accuracy"]) == pytest.approx(run.metrics()["accuracy"], abs=5e-4)
    # The confusion matrix, per-class scores and the loss; no validation split was held out (too few
    # pictures a class), and the page says so instead of drawing empty axes.
    assert run.metrics()["validation_examples"] == 0
    assert len(at.get("plotly_chart")) == 3
    assert any(c.startswith("No validation curve") for c in texts(at.caption))
    assert any("32×32 pixels" in c for c in texts(at.caption))
    n_wrong = sum(1 for line in run.predictions_path.read_text().splitlines()[1:] if ",False," in line)
    gallery = image_captions(at)
    if n_wrong:
        [captions] = gallery
        assert len(captions) == min(n_wrong, 24) and all(" → " in c and c.endswith("%)") for c in captions)
        assert "file" in at.dataframe[0].value.columns
    else:
        assert not gallery and any("Every test picture" in s for s in texts(at.success))

    at.switch_page("pages/try_it.py").run()
    assert not at.exception and not at.error, texts(at.error)
    assert not at.text_area  # a picture model takes pictures, not texts
    at.file_uploader(key="w_try_image").set_value(("circle.png", png("circle", 999), "image/png")).run()
    assert not at.exception and not at.error, texts(at.error)
    labels = {m.label: m.value for m in at.metric}
    assert labels["Predicted label"] in ("circle", "square", "stripes")
    assert image_captions(at) == [["circle.png"], [f"Where it saw '{labels['Predicted label']}'"]]
    assert set(at.session_state["try_image"][2]["probabilities"]) == {"circle", "square", "stripes"}
    pictures = {f"{shape}_{i}.png": png(shape, 500 + i) for shape in SHAPES for i in range(2)}
    batch = zip_of({**pictures, "broken.png": b"not a png"})
    at.file_uploader(key="w_try_zip").set_value(("new.zip", batch, "application/zip")).run()
    assert not at.exception and not at.error, texts(at.error)
    table = at.dataframe[0].value
    assert {"file", "predicted_label", "confidence", "prob_circle"} <= set(table.columns) and len(table) == 6
    assert [d.label for d in at.get("download_button")] == ["Download the predictions (CSV)"]
    assert any("Skipped 1 file" in w for w in texts(at.warning))
    assert list(at.dataframe[1].value["file"]) == ["broken.png"]

    at.switch_page("pages/runs.py").run()
    assert not at.exception
    runs = at.dataframe[0].value
    assert list(runs["run"]) == [run.name] and runs.iloc[0]["state"] == "completed"
