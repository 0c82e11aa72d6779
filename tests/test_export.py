"""The self-contained model folder and ZIP (``python -m engine.export --format folder|zip``), on tiny runs really
trained: every strategy and task loads from the unpacked ZIP alone (run and base model out of reach) with the
run's own probabilities, no path of this computer is left in it, and its model card's plain-torch snippet runs
where TransferLab cannot be imported."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import draw_shape, make_rows, write_csv, write_image_zip

from engine.core.config import TrainConfig
from engine.core.errors import ModelNotAvailableError
from engine.core.exports import HF_FOLDER, hf_classes_note
from engine.core.jobs import prepare_run
from engine.core.reporting import split_front_matter
from engine.core.rundir import RunDir
from engine.core.strategies import strategies_for
from engine.core.workspace import PROJECT_ROOT
from engine.export.__main__ import main
from engine.predict import Predictor
from engine.training.trainer import train

TEXT = {"epochs": 2, "batch_size": 8, "max_length": 32, "threads": 2, "min_steps": 0}
IMAGE = {"epochs": 2, "batch_size": 8, "image_size": 32, "threads": 2}
TEXTS = ["refund for the invoice payment please", "courier tracking parcel late again", "login error crash"]
CASES = [("text", s) for s in strategies_for("text")] + [("image", s) for s in strategies_for("image")]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("export-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRANSFERLAB_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def trained(home, tiny_bert, tiny_llama, tiny_resnet):
    """Runs trained when a test first asks for them: ``trained(task, strategy, base="bert")``."""
    runs: dict[tuple[str, str, str], RunDir] = {}
    texts = write_csv(home / "topics.csv", make_rows(20))
    pictures = write_image_zip(home / "shapes.zip", n_per_class=8)
    models = {"bert": tiny_bert, "llama": tiny_llama, "resnet": tiny_resnet}

    def get(task: str, strategy: str, base: str | None = None) -> RunDir:
        base = base or ("bert" if task == "text" else "resnet")
        if (task, strategy, base) not in runs:
            data, settings = (texts, TEXT) if task == "text" else (pictures, IMAGE)
            config = TrainConfig(data=str(data), model=str(models[base]), strategy=strategy, **settings)
            run = prepare_run(config, home / "runs" / f"{task}-{strategy}-{base}")
            train(config, run)
            runs[task, strategy, base] = run
        return runs[task, strategy, base]

    return get


@pytest.fixture(scope="module")
def pictures(home) -> list[str]:
    folder = home / "new-pictures"
    folder.mkdir()
    paths = []
    for i, shape in enumerate(("circle", "square", "stripes")):
        path = folder / f"{shape}.png"
        draw_shape(shape, 500 + i, size=45).save(path)
        paths.append(str(path))
    return paths


def unreachable_base(monkeypatch) -> None:
    """The base model cannot be found by name (as on another computer): a loader that needs it fails."""

    def refuse(name):
        raise ModelNotAvailableError(f"'{name}' is not on this computer (the test hides it).")

    monkeypatch.setattr("engine.tasks.base.resolve_model", refuse)


def export_and_unpack(run: RunDir, tmp_path: Path) -> Path:
    """The run's ZIP, unpacked into a fresh folder; the run itself then moved out of reach."""
    out = tmp_path / "model.zip"
    assert main(["--run", str(run.path), "--format", "zip", "--out", str(out)]) == 0
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        assert all(not n.startswith("/") and ".." not in n.split("/") for n in names)
        assert {n.split("/")[0] for n in names} == {run.name}  # one top folder, named after the run
        archive.extractall(tmp_path / "elsewhere")
    return tmp_path / "elsewhere" / run.name


def machine_paths(tmp_path_factory, *more: Path) -> list[bytes]:
    """Paths of this computer an export must not mention: the tests' temporary root (runs, tiny models),
    the project and its Python environment."""
    paths = [tmp_path_factory.getbasetemp(), PROJECT_ROOT, Path(sys.prefix), *more]
    return sorted({str(Path(p).resolve()).encode() for p in paths} | {str(p).encode() for p in paths})


@pytest.mark.parametrize(("task", "strategy"), CASES)
def test_the_zip_of_every_strategy_loads_elsewhere_with_the_same_probabilities(
    trained, pictures, task, strategy, tmp_path, tmp_path_factory, monkeypatch
):
    run = trained(task, strategy)
    inputs = TEXTS if task == "text" else pictures
    expected = Predictor.from_run(run.path, device="cpu").predict_proba(inputs)
    folder = export_and_unpack(run, tmp_path)

    # Nothing in any file names a path of this computer (peft's adapter config, transformers' configs, the card).
    leaks = {
        str(p.relative_to(folder)): path.decode()
        for p in folder.rglob("*")
        if p.is_file()
        for path in machine_paths(tmp_path_factory)
        if path in p.read_bytes()
    }
    assert not leaks

    meta = json.loads((folder / "transferlab.json").read_text(encoding="utf-8"))
    assert meta["backbone_weights"] == "backbone" and "base_model_path" not in meta
    assert meta["exported_from"]["strategy"] == strategy and meta["exported_from"]["run"] == run.name
    assert meta["base_model"] == Path(run.config()["model"]).name  # a local folder: its name, never its path
    if task == "text":
        assert (folder / "backbone" / "config.json").is_file() and (folder / "backbone" / "model.safetensors").is_file()
        assert (folder / "tokenizer_config.json").is_file()
    else:
        assert (folder / "backbone.safetensors").is_file() and meta["image_spec"]["size"] == 32
    if strategy == "lora":  # the adapter alone too, for peft users, pointing at the base model by name
        adapter = json.loads((folder / "adapter" / "adapter_config.json").read_text(encoding="utf-8"))
        assert adapter["base_model_name_or_path"] == meta["base_model"]

    # The card: valid Hugging Face front matter, and the loading instructions for this folder.
    front, body = split_front_matter((folder / "README.md").read_text(encoding="utf-8"))
    assert yaml.safe_load(front)["pipeline_tag"] == f"{task}-classification"
    assert "### With TransferLab" in body and "### Without TransferLab" in body and f'"{run.name}"' in body

    # Loaded from the unpacked folder alone: the run moved away, the base model unreachable.
    shutil.move(run.path, tmp_path / "moved-run")
    try:
        unreachable_base(monkeypatch)
        got = Predictor(folder, device="cpu").predict_proba(inputs)
    finally:
        shutil.move(tmp_path / "moved-run", run.path)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)

    note = hf_classes_note(meta)
    assert (folder / HF_FOLDER).is_dir() == (note is None)
    assert (note is None) == (task == "image" and not meta["normalize"])  # no text model maps (mean pooling)
    if note is None:  # transformers' own class gives the same probabilities on the same pixels
        import torch
        from transformers import AutoModelForImageClassification

        from engine.data.images import open_image
        from engine.tasks.image.preprocess import ImageSpec, preprocess

        model = AutoModelForImageClassification.from_pretrained(folder / HF_FOLDER).eval()
        spec = ImageSpec.from_dict(meta["image_spec"])
        pixels = torch.stack([preprocess(open_image(p), spec) for p in pictures])
        with torch.inference_mode():
            hf = torch.softmax(model(pixel_values=pixels).logits, -1).numpy()
        np.testing.assert_allclose(hf, expected, atol=1e-5, rtol=0)
        assert model.config.id2label == dict(enumerate(meta["label_names"]))


def card_snippet(folder: Path) -> str:
    body = (folder / "README.md").read_text(encoding="utf-8")
    found = re.search(r"### Without TransferLab\n\n```python\n(.*?)\n```", body, re.S)
    assert found, "the card has no plain-torch snippet"
    return found.group(1)


@pytest.mark.parametrize(
    ("task", "strategy", "base"),
    [("text", "frozen", "bert"), ("text", "lora", "llama"), ("image", "frozen", "resnet"), ("image", "full", "resnet")],
)
def test_the_cards_snippet_runs_without_transferlab_and_agrees(
    trained, pictures, task, strategy, base, tmp_path, tmp_path_factory
):
    """The card's "Without TransferLab" code, run as it is in a Python that cannot import TransferLab (``-I``:
    no current folder, no PYTHON* variables), from the folder the ZIP was unpacked into."""
    run = trained(task, strategy, base)
    inputs = TEXTS if task == "text" else pictures
    expected = Predictor.from_run(run.path, device="cpu").predict_proba(inputs)
    folder = export_and_unpack(run, tmp_path)
    if task == "image":
        shutil.copy(pictures[0], folder.parent / "photo.jpg")  # the snippet's own example (a PNG is fine for PIL)
    script = folder.parent / "snippet.py"
    script.write_text(
        card_snippet(folder)
        + "\n\nimport importlib.util\n"
        + "assert importlib.util.find_spec('engine') is None, 'TransferLab is importable here'\n"
        + f"print('PROBS', json.dumps(predict_proba({inputs!r}).tolist()))\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-I", str(script)], cwd=folder.parent, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("PROBS "))
    np.testing.assert_allclose(np.array(json.loads(line[6:])), expected, atol=1e-5, rtol=0)


def test_the_folder_format_and_the_clis_errors(trained, tmp_path, capsys):
    run = trained("text", "full")
    out = tmp_path / "exported"
    assert main(["--run", str(run.path), "--format", "folder", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["out"] == str(out) and result["hf_folder"] is False and result["bytes"] > 0
    assert (out / "transferlab.json").is_file() and f'Predictor("{out.name}")' in (out / "README.md").read_text()
    assert not list(tmp_path.glob(".model-*"))  # no temporary folder left beside it

    # The folder exists now: refused, and left as it was.
    assert main(["--run", str(run.path), "--format", "zip", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Error:" in err and "already exists" in err and "Traceback" not in err
    assert (out / "transferlab.json").is_file()

    assert main(["--run", str(tmp_path / "no-such-run"), "--format", "zip", "--out", str(tmp_path / "a.zip")]) == 2
    assert "is not a run directory" in capsys.readouterr().err

    empty = RunDir(tmp_path / "failed-run")
    shutil.copytree(run.path, empty.path, ignore=shutil.ignore_patterns("model"))
    empty.set_status("failed", "Stopped.")
    assert main(["--run", str(empty.path), "--format", "zip", "--out", str(tmp_path / "b.zip")]) == 2
    assert "has no trained model (its status is 'failed')" in capsys.readouterr().err
    assert not (tmp_path / "a.zip").exists() and not (tmp_path / "b.zip").exists()


def test_the_results_page_builds_the_zip_in_a_subprocess_and_keeps_a_plain_error(trained, tmp_path):
    from ui import downloads
    from ui.export import build_export

    run = trained("text", "frozen")
    data = build_export(str(run.path), "zip", f"{run.name}-model", key="k")
    (tmp_path / "m.zip").write_bytes(data)
    with zipfile.ZipFile(tmp_path / "m.zip") as archive:
        assert f"{run.name}/backbone/model.safetensors" in archive.namelist()
    with pytest.raises(downloads.DownloadFailed, match="not a run directory"):
        build_export(str(tmp_path), "zip", "x", key="k")
    assert "not a run directory" in downloads._failures["k"]


@pytest.mark.slow
def test_a_minilm_frozen_run_exports_its_backbone_and_loads_elsewhere(tmp_path, workspace, monkeypatch):
    import pandas as pd

    emails = pd.read_csv(PROJECT_ROOT / "data" / "spam_emails.csv").groupby("label", group_keys=False).head(20)
    data = tmp_path / "spam.csv"
    emails.to_csv(data, index=False)
    config = TrainConfig(data=str(data), model="minilm", strategy="frozen", max_length=64, threads=2)
    run = prepare_run(config, tmp_path / "runs" / "minilm-frozen")
    train(config, run)
    inputs = ["Congratulations! You WON a FREE prize, click here to claim your cash now!!!", "Meeting notes attached."]
    expected = Predictor.from_run(run.path, device="cpu").predict_proba(inputs)

    folder = export_and_unpack(run, tmp_path)
    meta = json.loads((folder / "transferlab.json").read_text(encoding="utf-8"))
    assert meta["base_model"] == "minilm" and (folder / "backbone" / "model.safetensors").stat().st_size > 80e6
    shutil.rmtree(run.path)
    unreachable_base(monkeypatch)
    got = Predictor(folder, device="cpu").predict_proba(inputs)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    front, _ = split_front_matter((folder / "README.md").read_text(encoding="utf-8"))
    assert yaml.safe_load(front)["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
