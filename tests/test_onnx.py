"""ONNX export: the exported graph gives the engine's probabilities, and predict.py runs without torch.

Every strategy for texts (tiny BERT, mean pooling) and pictures (tiny ResNet), and a tiny Llama
(last-token pooling, a LoRA adapter merged): onnxruntime's probabilities equal the engine's within
the export's tolerance on a batch of inputs of different lengths (padding) or sizes. The exported
predict.py runs in a Python that cannot import torch, pandas or TransferLab and writes what
``python -m engine.predict`` writes. Slow: the bundled MiniLM and EfficientNet-Lite0.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import draw_shape, make_rows, write_csv, write_image_zip

from engine.core.config import TrainConfig
from engine.core.csvsafe import TRIGGERS
from engine.core.errors import ConfigError, ModelNotAvailableError
from engine.core.formats import MAX_PIXELS
from engine.core.jobs import prepare_run
from engine.export import onnx as onnx_export
from engine.export import onnx_predict, onnx_tasks
from engine.export.__main__ import main as export_main
from engine.predict import Predictor
from engine.predict import main as predict_main
from engine.training.trainer import train

ROOT = Path(__file__).resolve().parent.parent
STRATEGIES = ("frozen", "partial", "lora", "full", "scratch")
TINY = {"epochs": 1, "batch_size": 8, "threads": 2, "min_steps": 0}
CASES = [("bert", s) for s in STRATEGIES] + [("llama", "lora")] + [("resnet", s) for s in STRATEGIES]
# Texts of very different lengths in one batch: the padding must not change any probability.
TEXTS = [
    "",
    "refund",
    "my parcel is late again and the courier lost the tracking number",
    "login error",
    " ".join(w for text, _ in make_rows(3, seed=5) for w in text.split()),  # longer than max_length: cut
    '=HYPERLINK("http://x") the app crashes after the update',
]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("onnx-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRANSFERLAB_HOME", str(home))
        write_csv(home / "topics.csv", make_rows(16))
        write_image_zip(home / "shapes.zip", n_per_class=8)
        yield home


@pytest.fixture(scope="module")
def exported(home, tiny_bert, tiny_llama, tiny_resnet):
    """Train a run and export it on first use, per (model, strategy): each test builds only what it needs."""
    models = {"bert": tiny_bert, "llama": tiny_llama, "resnet": tiny_resnet}
    built: dict[tuple[str, str], tuple[Path, Path, dict]] = {}

    def get(model: str, strategy: str) -> tuple[Path, Path, dict]:
        if (model, strategy) not in built:
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("TRANSFERLAB_HOME", str(home))
                data, size = (
                    (home / "shapes.zip", {"image_size": 32})
                    if model == "resnet"
                    else (home / "topics.csv", {"max_length": 24})
                )
                config = TrainConfig(data=str(data), model=str(models[model]), strategy=strategy, **TINY, **size)
                run = home / "runs" / f"{model}-{strategy}"
                if not run.exists():  # trained already when an earlier export of it failed
                    train(config, prepare_run(config, run))
                out = home / "onnx" / f"{model}-{strategy}"
                built[(model, strategy)] = (run, out, onnx_export.export(run, out, "onnx"))
        return built[(model, strategy)]

    return get


def pictures(folder: Path) -> Path:
    """Pictures as people have them: sizes and shapes that differ, RGBA, grayscale, a rotated JPEG, in subfolders."""
    (folder / "a" / "b").mkdir(parents=True)
    draw_shape("circle", 1, size=40).save(folder / "circle.png")
    draw_shape("square", 2, size=64).resize((90, 50)).save(folder / "a" / "wide.png")
    draw_shape("stripes", 3, size=48).convert("RGBA").save(folder / "a" / "b" / "alpha.png")
    draw_shape("square", 4, size=36).convert("L").save(folder / "a" / "gray.bmp")
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: rotated 90 degrees; the picture is turned upright before use
    draw_shape("circle", 5, size=40).resize((30, 60)).save(folder / "a" / "phone.jpg", exif=exif)
    return folder


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.abs(a - b).max())


# --- the graph gives the engine's probabilities ---------------------------------------------------------
@pytest.mark.parametrize(("model", "strategy"), CASES)
def test_onnxruntime_gives_the_engines_probabilities(exported, model, strategy, tmp_path):
    run, out, result = exported(model, strategy)
    check = json.loads((out / "export.json").read_text())
    assert result["max_abs_diff"] == check["max_abs_diff"] <= onnx_export.TOLERANCE
    assert result["examples_checked"] == len(check["examples_checked"]) >= 3
    config = json.loads((out / "config.json").read_text())
    predictor = Predictor.from_run(run, device="cpu")
    assert config["labels"] == predictor.label_names
    if model == "resnet":
        folder = pictures(tmp_path / "pictures")
        paths = sorted(str(p) for p in folder.rglob("*.*"))
        images = [onnx_predict.open_image(p, MAX_PIXELS) for p in paths]
        classifier = onnx_predict.ImageClassifier(out)
        expected, inputs = predictor.predict_proba(paths), images
    else:
        # A text of no tokens at all (the tiny Llama's tokenizer adds no start token) has no last token to pool:
        # the engine reads the padding's state there, an arbitrary answer, so it is left out for the Llama.
        inputs = [t for t in TEXTS if t or model != "llama"]
        classifier = onnx_predict.TextClassifier(out)
        expected = predictor.predict_proba(inputs)
        assert config["inputs"] == ["input_ids", "attention_mask"]
        assert (model == "llama") == (config["pooling"] == "last")
    # One batch of all the inputs (padded to the longest), and batches of two: the same probabilities.
    assert max_diff(classifier.predict_proba(inputs, batch_size=64), expected) <= onnx_export.TOLERANCE
    assert max_diff(classifier.predict_proba(inputs, batch_size=2), expected) <= onnx_export.TOLERANCE
    assert np.allclose(expected.sum(1), 1.0, atol=1e-5) and expected.std() > 0  # probabilities that vary


def test_the_folder_holds_what_the_readme_promises(exported):
    _, text_out, _ = exported("bert", "frozen")
    _, image_out, _ = exported("resnet", "frozen")
    common = {"model.onnx", "config.json", "predict.py", "README.md", "export.json"}
    assert {p.name for p in text_out.iterdir()} == common | {"tokenizer.json"}
    assert {p.name for p in image_out.iterdir()} == common | {"preprocessing.json"}
    assert (text_out / "predict.py").read_text() == Path(onnx_predict.__file__).read_text()
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(text_out / "tokenizer.json"))  # other languages get truncation and padding
    config = json.loads((text_out / "config.json").read_text())
    assert len(tokenizer.encode(TEXTS[4]).ids) == config["max_length"]
    spec = json.loads((image_out / "preprocessing.json").read_text())
    assert spec["size"] == 32 and spec["resample"] == "bicubic" and len(spec["mean"]) == 3
    assert "predict.py" in (text_out / "README.md").read_text()


# --- predict.py, without torch, pandas or TransferLab ---------------------------------------------------
# What predict.py may import, and what these need at import time (found by trying: onnxruntime's
# inference API imports numpy only; the .libs folders hold the wheels' shared libraries).
ALLOWED = ("numpy", "numpy.libs", "onnxruntime", "tokenizers", "PIL", "pillow.libs")


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> dict[str, str]:
    """The environment of a Python that finds only the packages predict.py needs (``python -S``: no site-packages)."""
    import numpy
    import onnxruntime
    import PIL
    import tokenizers

    site = Path(numpy.__file__).resolve().parent.parent
    assert all(Path(m.__file__).resolve().parent.parent == site for m in (onnxruntime, PIL, tokenizers))
    only = tmp_path_factory.mktemp("only")
    for name in ALLOWED:
        if (site / name).exists():
            (only / name).symlink_to(site / name)
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(only), "PYTHONNOUSERSITE": "1"}


def run_bare(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-S", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_bare_python_cannot_import_torch_pandas_or_transferlab(bare_python, tmp_path):
    probe = (
        "import importlib\n"
        "for name in ('torch', 'engine', 'pandas', 'transformers'):\n"
        "    try:\n        importlib.import_module(name)\n    except ImportError:\n        continue\n"
        "    raise SystemExit(name + ' imported')\n"
        "import numpy, onnxruntime, tokenizers, PIL.Image\nprint('ok')\n"
    )
    done = run_bare(bare_python, tmp_path, "-c", probe)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_predict_py_imports_only_the_standard_library_numpy_onnxruntime_tokenizers_and_pillow():
    tree = ast.parse(Path(onnx_predict.__file__).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported - set(sys.stdlib_module_names) == {"numpy", "onnxruntime", "tokenizers", "PIL"}


def test_predict_py_copies_of_transferlab_rules_agree_with_their_home():
    from engine.data.archives import _SYSTEM_FILES
    from engine.data.images import _PIL_FORMATS

    assert onnx_predict.FORMULA_TRIGGERS == TRIGGERS
    assert onnx_predict.PIL_FORMATS == _PIL_FORMATS
    assert onnx_predict.SYSTEM_FILES == _SYSTEM_FILES


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def assert_same_predictions(ours: Path, engines: Path) -> None:
    a, b = read(ours), read(engines)
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    numeric = ["confidence"] + [c for c in b.columns if c.startswith("prob_")]
    for column in b.columns:
        if column in numeric:
            assert max_diff(a[column].astype(float).to_numpy(), b[column].astype(float).to_numpy()) <= 1e-4
        else:
            assert a[column].tolist() == b[column].tolist(), column


def test_predict_py_on_a_csv_writes_what_engine_predict_writes(exported, bare_python, tmp_path, capsys):
    run, out, _ = exported("bert", "lora")
    rows = [(str(i), text, "note") for i, text in enumerate(TEXTS)] + [("99", "", "no text here")]
    data = write_csv(tmp_path / "new.csv", rows, header=("id", "message", "remark"))
    assert predict_main(["--run", str(run), "--data", str(data), "--out", str(tmp_path / "engine.csv")]) == 0
    done = run_bare(bare_python, out, str(out / "predict.py"), str(data), "--out", str(tmp_path / "onnx.csv"))
    assert done.returncode == 0, done.stderr
    assert "Wrote 7 predictions" in done.stdout
    assert_same_predictions(tmp_path / "onnx.csv", tmp_path / "engine.csv")
    assert read(tmp_path / "onnx.csv")["message"][5].startswith(
        "'=HYPERLINK"
    )  # escaped for spreadsheets, as the engine does


def test_predict_py_on_a_folder_of_pictures_writes_what_engine_predict_writes(exported, bare_python, tmp_path):
    run, out, _ = exported("resnet", "full")
    folder = pictures(tmp_path / "photos")
    (folder / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / ".hidden.png").write_bytes((folder / "circle.png").read_bytes())
    (folder / "notes.txt").write_text("not a picture")
    assert predict_main(["--run", str(run), "--data", str(folder), "--out", str(tmp_path / "engine.csv")]) == 0
    done = run_bare(bare_python, out, str(out / "predict.py"), str(folder), "--out", str(tmp_path / "onnx.csv"))
    assert done.returncode == 0, done.stderr
    assert "Skipped a/broken.png" in done.stderr
    assert_same_predictions(tmp_path / "onnx.csv", tmp_path / "engine.csv")
    assert read(tmp_path / "onnx.csv")["file"].tolist() == [
        "a/b/alpha.png",
        "a/gray.bmp",
        "a/phone.jpg",
        "a/wide.png",
        "circle.png",
    ]


@pytest.mark.parametrize(
    ("model", "given", "needle"),
    [
        ("bert", "missing.csv", "does not exist"),
        ("bert", "--text-column nope", "no column named 'nope'"),
        ("bert", "folder", "is a folder"),
        ("resnet", "texts.csv", "is not a picture"),
        ("resnet", "empty folder", "holds no pictures"),
    ],
)
def test_predict_py_says_what_is_wrong_and_exits_2(exported, tmp_path, capsys, model, given, needle):
    _, out, _ = exported(model, "frozen")
    texts = write_csv(tmp_path / "texts.csv", [("hello", "x")])
    (tmp_path / "folder").mkdir()
    argv = {
        "missing.csv": [str(tmp_path / "missing.csv")],
        "--text-column nope": [str(texts), "--text-column", "nope"],
        "folder": [str(tmp_path / "folder")],
        "texts.csv": [str(texts)],
        "empty folder": [str(tmp_path / "folder")],
    }[given]
    assert onnx_predict.main([*argv, "--out", str(tmp_path / "out.csv"), "--model", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and needle in err and "Traceback" not in err
    assert not (tmp_path / "out.csv").exists()
    with pytest.raises(SystemExit) as exc:
        onnx_predict.main([str(texts), "--model", str(out)])  # no --out
    assert exc.value.code == 2


# --- the export refuses what it cannot do right ---------------------------------------------------------
def test_the_export_refuses_an_existing_folder_and_a_run_without_a_model(exported, home, tmp_path, capsys):
    run, out, _ = exported("bert", "frozen")
    with pytest.raises(ConfigError, match="already exists"):
        onnx_export.export(run, out, "onnx")
    assert export_main(["--run", str(run), "--format", "onnx", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "Traceback" not in err
    with pytest.raises(ModelNotAvailableError, match="no trained model"):
        onnx_export.export(tmp_path, tmp_path / "x", "onnx")


def test_an_export_that_does_not_reproduce_the_model_is_refused_and_leaves_nothing(exported, tmp_path, monkeypatch):
    run, _, _ = exported("bert", "frozen")
    monkeypatch.setattr(onnx_export, "TOLERANCE", -1.0)  # every difference, even 0, is now too large
    with pytest.raises(ModelNotAvailableError, match="does not reproduce"):
        onnx_export.export(run, tmp_path / "refused", "onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("model", ["bert", "resnet"])
def test_when_torch_export_fails_the_torchscript_exporter_writes_a_graph_as_good(
    exported, tmp_path, monkeypatch, model
):
    run, _, _ = exported(model, "frozen")
    real = torch.onnx.export

    def dynamo_fails(*args, **kwargs):
        if kwargs.get("dynamo"):
            raise RuntimeError("torch.export could not trace this model")
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", dynamo_fails)
    result = onnx_export.export(run, tmp_path / "out", "onnx")
    # The check at export time ran a batch of another size (and texts of other lengths) than the traced example.
    assert result["exporter"] == "torchscript" and result["max_abs_diff"] <= onnx_export.TOLERANCE
    assert result["examples_checked"] >= 3


def test_the_cli_prints_what_it_wrote_as_json(exported, tmp_path, capsys):
    run, _, _ = exported("resnet", "frozen")
    assert export_main(["--run", str(run), "--format", "onnx", "--out", str(tmp_path / "x")]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["format"] == "onnx" and "model.onnx" in answer["files"]
    assert answer["max_abs_diff"] <= onnx_export.TOLERANCE


# --- the bundled models ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_minilm_exports_to_onnx_with_the_engines_probabilities(tmp_path, workspace):
    sample = pd.read_csv(ROOT / "data" / "spam_emails.csv").sample(120, random_state=0)
    sample.to_csv(tmp_path / "spam.csv", index=False)
    config = TrainConfig(data=str(tmp_path / "spam.csv"), model="minilm", strategy="frozen", max_length=128)
    train(config, prepare_run(config, tmp_path / "run"))
    result = onnx_export.export(tmp_path / "run", tmp_path / "onnx", "onnx")
    assert result["max_abs_diff"] <= onnx_export.TOLERANCE
    texts = sample["text"].astype(str).tolist()[:40] + TEXTS
    expected = Predictor.from_run(tmp_path / "run", device="cpu").predict_proba(texts)
    got = onnx_predict.TextClassifier(tmp_path / "onnx").predict_proba(texts)
    print(f"MiniLM: largest difference {max_diff(got, expected):.2e} on {len(texts)} texts")
    assert max_diff(got, expected) <= onnx_export.TOLERANCE


@pytest.mark.slow
def test_efficientnet_lite0_exports_to_onnx_with_the_engines_probabilities(tmp_path, workspace):
    small = tmp_path / "fashion.zip"
    with zipfile.ZipFile(ROOT / "data" / "fashion_demo.zip") as src, zipfile.ZipFile(small, "w") as dst:
        names = sorted(n for n in src.namelist() if n.lower().endswith((".png", ".jpg", ".jpeg")))
        per_class: dict[str, int] = {}
        for name in names:
            label = name.split("/")[-2]
            if per_class.get(label, 0) < 6:
                per_class[label] = per_class.get(label, 0) + 1
                dst.writestr(name, src.read(name))
    config = TrainConfig(data=str(small), model="efficientnet-lite0", strategy="frozen")
    train(config, prepare_run(config, tmp_path / "run"))
    result = onnx_export.export(tmp_path / "run", tmp_path / "onnx", "onnx")
    assert result["max_abs_diff"] <= onnx_export.TOLERANCE
    folder = pictures(tmp_path / "pictures")
    paths = sorted(str(p) for p in folder.rglob("*.*"))
    expected = Predictor.from_run(tmp_path / "run", device="cpu").predict_proba(paths)
    images = [onnx_predict.open_image(p, MAX_PIXELS) for p in paths]
    got = onnx_predict.ImageClassifier(tmp_path / "onnx").predict_proba(images)
    print(f"EfficientNet-Lite0: largest difference {max_diff(got, expected):.2e} on {len(paths)} pictures")
    assert max_diff(got, expected) <= onnx_export.TOLERANCE


def test_the_export_modules_docstring_examples_hold():
    import doctest

    assert doctest.testmod(onnx_tasks).failed == 0
