"""Engine tests on tiny models built in the test: every strategy on a BERT-style and a Llama-style model."""

from __future__ import annotations

import csv
import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_rows, write_csv

from engine.core.config import TrainConfig, config_from_args
from engine.core.errors import ConfigError, DataError, ModelNotAvailableError, TrainingError
from engine.core.jobs import prepare_run
from engine.core.reporting import split_front_matter
from engine.core.rundir import RunDir
from engine.core.strategies import STRATEGIES
from engine.train import build_parser, main
from engine.training.trainer import train

ROOT = Path(__file__).resolve().parent.parent
TINY = {"epochs": 2, "batch_size": 8, "max_length": 32, "threads": 2, "min_steps": 0}


def run_training(tmp_path: Path, data: Path, model: Path, strategy: str, name: str | None = None, **kw) -> RunDir:
    config = TrainConfig(data=str(data), model=str(model), strategy=strategy, **{**TINY, **kw})
    run = prepare_run(config, tmp_path / (name or f"run-{strategy}"))
    train(config, run)
    return run


def read_predictions(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


# --- config ------------------------------------------------------------------------------
def test_config_round_trip(tmp_path):
    config = TrainConfig(data="a.csv", model="minilm", strategy="partial", freeze_layers=2, learning_rate=3e-4)
    config.save(tmp_path / "config.json")
    assert TrainConfig.load(tmp_path / "config.json") == config
    text = (tmp_path / "config.json").read_text()
    assert text.index('"batch_size"') < text.index('"data"')  # sorted keys, indented
    assert json.loads(text)["freeze_layers"] == 2


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("batch_size", 0, "batch_size"),
        ("learning_rate", -1.0, "learning_rate"),
        ("learning_rate", math.inf, "learning_rate"),
        ("strategy", "magic", "Unknown strategy 'magic'"),
        ("test_fraction", 0.7, "test_fraction"),
        ("lora_dropout", 1.5, "lora_dropout"),
        ("data", "", "--data"),
    ],
)
def test_config_rejects_bad_values_by_name(field, value, needle):
    values = {"data": "a.csv", "model": "minilm", "strategy": "lora", field: value}
    with pytest.raises(ConfigError, match=needle):
        TrainConfig(**values)


def test_cli_flags_override_config_file(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"data": "x.csv", "model": "minilm", "strategy": "full", "epochs": 7, "lora_r": 4}))
    args = build_parser().parse_args(["--config", str(path), "--epochs", "2", "--strategy", "lora"])
    config = config_from_args(args)
    assert (config.epochs, config.strategy, config.lora_r, config.data) == (2, "lora", 4, "x.csv")


def test_config_file_with_unknown_key_is_refused(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"data": "x.csv", "epoch": 3}))
    with pytest.raises(ConfigError, match="epoch"):
        TrainConfig.load(path)


def test_every_strategy_has_plain_explanation_and_defaults():
    assert list(STRATEGIES) == ["frozen", "partial", "lora", "full", "scratch", "setfit"]
    for s in STRATEGIES.values():
        assert len(s.explanation) > 60 and s.default_epochs >= 1 and s.default_learning_rate > 0
    assert [s.name for s in STRATEGIES.values() if not s.pretrained] == ["scratch"]
    assert [s.name for s in STRATEGIES.values() if s.cached_features] == ["frozen"]


# --- strategies on both architectures ------------------------------------------------------------
@pytest.mark.parametrize("arch", ["bert", "llama"])
@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_strategy_trains_and_writes_the_whole_run_directory(
    tmp_path, workspace, tiny_models, topic_csv, arch, strategy
):
    run = run_training(tmp_path, topic_csv, tiny_models[arch], strategy)

    assert run.status()["state"] == "completed"
    config = json.loads(run.config_path.read_text())
    assert config["strategy"] == strategy
    events = run.events()
    kinds = {e["type"] for e in events}
    recipe = STRATEGIES[strategy].recipe
    evals = [e for e in events if e["type"] == "eval"]
    if recipe == "finetune":  # the Trainer's steps, checkpoints and an evaluation every epoch
        assert {"setup", "train", "checkpoint"} <= kinds
        assert all(math.isfinite(e["loss"]) for e in events if e["type"] == "train")
        assert all("eval_macro_f1" in e for e in evals) and [round(e["epoch"]) for e in evals] == [1, 2]
    else:  # a head fitted by cross-validation on every non-test example: no validation split, no evaluation
        assert {"setup", "head"} <= kinds and not evals and run.metrics()["validation_examples"] == 0
        assert ("features" in kinds) == (recipe == "features") and ("train" in kinds) == (recipe == "contrastive")
        head = next(e for e in events if e["type"] == "head")
        assert head["folds"] == 5 and head["C"] > 0

    metrics = run.metrics()
    for key in (
        "accuracy",
        "macro_f1",
        "weighted_f1",
        "labels",
        "confusion_matrix",
        "per_class",
        "trainable_params",
        "total_params",
        "train_seconds",
        "train_samples_per_second",
        "device",
    ):
        assert key in metrics, key
    assert metrics["labels"] == ["billing", "shipping", "tech"]
    # 95% intervals around the scores; the tiny test split (a few examples a class) is warned about.
    for name in ("accuracy", "macro_f1"):
        low, high = metrics[f"{name}_ci"]
        assert 0 <= low <= metrics[name] <= high <= 1 and high > low
    assert any(w.startswith("The test split has") for w in metrics["evaluation_warnings"])
    # One speed for every strategy: training examples (each pass counted) per second of the time to train.
    assert metrics["train_samples_per_second"] == pytest.approx(
        metrics["train_examples"] * metrics["passes"] / metrics["train_seconds"]
    )
    start = next(e["time"] for e in events if e["type"] == "start")
    assert metrics["train_seconds"] <= run.status()["finished_at"] - start  # from loading the data on
    assert metrics["train_seconds"] >= next(e["time"] for e in events if e["type"] == "setup") - start
    assert metrics["inputs_cut"] == 0  # the tiny texts fit
    predictions = read_predictions(run.predictions_path)
    assert len(predictions) == metrics["test_examples"] == sum(map(sum, metrics["confusion_matrix"]))
    assert sum(p["true_label"] == p["predicted_label"] for p in predictions) / len(predictions) == pytest.approx(
        metrics["accuracy"]
    )
    assert not run.checkpoints_dir.exists()
    meta, card = split_front_matter((run.model_dir / "README.md").read_text())
    assert meta.startswith("license: ") and card.startswith("# Text classifier")
    # A frozen model is not "fine-tuned", and a fitted head has no epochs (the card said "1 epochs").
    frozen = strategy == "frozen"
    assert ("trained with TransferLab" in card and "fitted to convergence" in card) == frozen
    assert ("fine-tuned with TransferLab" in card) == (strategy not in ("frozen", "scratch"))
    meta = json.loads((run.model_dir / "transferlab.json").read_text())
    assert meta["label_names"] == ["billing", "shipping", "tech"]
    assert meta["pooling"] == ("mean" if arch == "bert" else "last")
    assert meta["normalize"] == (STRATEGIES[strategy].recipe != "finetune")  # fitted heads read normalised features

    trainable, total = metrics["trainable_params"], metrics["total_params"]
    head = 3 * (32 + 1)  # hidden 32 -> 3 classes
    expected = {
        "frozen": trainable == head,
        "lora": head < trainable < total / 5,
        "partial": head < trainable < total,
        "full": trainable == total,
        "scratch": trainable == total,
        "setfit": trainable == total,
    }
    assert expected[strategy], (strategy, trainable, total)

    # The saved weights are plain transformers/peft folders, as the model card says.
    from transformers import AutoModel

    if meta["backbone_weights"] == "backbone":
        assert AutoModel.from_pretrained(run.model_dir / "backbone").config.hidden_size == 32
    elif meta["backbone_weights"] == "adapter":
        from peft import PeftModel

        adapted = PeftModel.from_pretrained(AutoModel.from_pretrained(tiny_models[arch]), run.model_dir / "adapter")
        assert any("lora_" in name for name, _ in adapted.named_parameters())
    else:
        assert strategy == "frozen" and meta["base_model"] == str(tiny_models[arch])

    # engine.predict reloads the model and agrees with the predictions written at training time.
    out = tmp_path / "again.csv"
    test_file = write_csv(tmp_path / "test_rows.csv", [(p["text"], p["true_label"]) for p in predictions])
    assert main_predict(["--run", str(run.path), "--data", str(test_file), "--out", str(out)]) == 0
    again = read_predictions(out)
    assert [r["predicted_label"] for r in again] == [p["predicted_label"] for p in predictions]
    for r, p in zip(again, predictions, strict=False):
        assert float(r["confidence"]) == pytest.approx(float(p["confidence"]), abs=1e-4)
        assert float(r[f"prob_{r['predicted_label']}"]) == pytest.approx(float(r["confidence"]))


def main_predict(argv):
    from engine.predict import main as predict_main

    return predict_main(argv)


def test_full_fine_tuning_learns_the_tiny_task(tmp_path, workspace, tiny_bert):
    data = write_csv(tmp_path / "big.csv", make_rows(60, seed=1))
    run = run_training(tmp_path, data, tiny_bert, "full", epochs=6, learning_rate=2e-3)
    assert run.metrics()["accuracy"] >= 0.9


def test_partial_freezes_embeddings_and_bottom_layers(tiny_models):
    from engine.core.resolve import ResolvedModel
    from engine.tasks.text.model import load_backbone, transformer_layers
    from engine.tasks.text.task import TextTask

    for arch, path in tiny_models.items():
        backbone = load_backbone(ResolvedModel(arch, str(path), "local"))
        config = TrainConfig(data="x.csv", model=str(path), strategy="partial", freeze_layers=1)
        STRATEGIES["partial"].prepare(backbone, config, TextTask)
        layers = transformer_layers(backbone)
        assert not any(p.requires_grad for p in backbone.get_input_embeddings().parameters()), arch
        assert not any(p.requires_grad for p in layers[0].parameters()), arch
        assert all(p.requires_grad for p in layers[1].parameters()), arch
        if arch == "llama":
            assert backbone.norm.weight.requires_grad  # final norm, above the stack, trains


def test_partial_refuses_more_frozen_layers_than_the_model_has(tiny_bert):
    from engine.core.resolve import ResolvedModel
    from engine.tasks.text.model import load_backbone
    from engine.tasks.text.task import TextTask

    backbone = load_backbone(ResolvedModel("tiny", str(tiny_bert), "local"))
    config = TrainConfig(data="x.csv", model="tiny", strategy="partial", freeze_layers=5)
    with pytest.raises(ConfigError, match="only 2 layers"):
        STRATEGIES["partial"].prepare(backbone, config, TextTask)


@pytest.mark.parametrize(("arch", "targets"), [("bert", {"query", "value"}), ("llama", {"q_proj", "v_proj"})])
def test_lora_adapts_attention_per_architecture(tiny_models, arch, targets):
    from engine.core.resolve import ResolvedModel
    from engine.tasks.text.model import load_backbone
    from engine.tasks.text.task import TextTask

    backbone = load_backbone(ResolvedModel(arch, str(tiny_models[arch]), "local"))
    config = TrainConfig(data="x.csv", model=arch, strategy="lora", lora_r=4)
    wrapped = STRATEGIES["lora"].prepare(backbone, config, TextTask)
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable} == targets


def test_scratch_starts_from_random_weights(tiny_bert):
    from engine.core.resolve import ResolvedModel
    from engine.tasks.text.model import load_backbone

    resolved = ResolvedModel("tiny", str(tiny_bert), "local")
    pretrained = load_backbone(resolved).get_input_embeddings().weight
    random_init = load_backbone(resolved, pretrained=False).get_input_embeddings().weight
    assert pretrained.shape == random_init.shape
    assert not (pretrained == random_init).all()


def test_last_token_pooling_ignores_padding(tiny_llama):
    from engine.core.resolve import ResolvedModel
    from engine.tasks.text.model import TextClassifier, load_backbone, load_tokenizer, predict_proba

    resolved = ResolvedModel("tiny", str(tiny_llama), "local")
    tokenizer = load_tokenizer(resolved)
    classifier = TextClassifier(load_backbone(resolved), 3, "last")
    short = "refund please"
    alone = predict_proba(classifier, tokenizer, [short], 32)
    padded = predict_proba(
        classifier, tokenizer, [short, "my parcel delivery was late again and the courier " * 3], 32, batch_size=2
    )
    assert alone[0] == pytest.approx(padded[0], abs=1e-5)


# --- resume, cancel, failures -------------------------------------------------------------------------
def train_args(data: Path, model: Path | str, out: Path, epochs: int) -> list[str]:
    """CLI flags for a small full fine-tuning run of the tiny model."""
    flags = {"data": data, "model": model, "strategy": "full", "epochs": epochs, "out": out}
    flags.update({"batch-size": 8, "max-length": 32, "threads": 2, "min-steps": 0})
    return [item for name, value in flags.items() for item in (f"--{name}", str(value))]


def _cli(args, env_extra=None, **kw):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "engine.train", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        **kw,
    )


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path, workspace, tiny_bert, topic_csv):
    out = tmp_path / "run"
    args = train_args(topic_csv, tiny_bert, out, epochs=3)
    killed = _cli(args, {"TRANSFERLAB_KILL_AT": "checkpoint", "TRANSFERLAB_CHECKPOINT_SECONDS": "0"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    run = RunDir(out)
    assert run.status()["state"] == "running"  # what a crash leaves behind
    assert run.last_checkpoint() is not None and not run.metrics_path.exists()
    first_checkpoint_step = run.events()[-1]["step"]
    # A step logged after the checkpoint (as a kill mid-epoch leaves) is re-run, so it must not stay twice.
    run.append_event({"type": "train", "step": 999, "epoch": 2.5, "loss": 0.1})

    resumed = _cli(["--resume", str(out)])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert run.status()["state"] == "completed"
    events = run.events()
    resume = next(i for i, e in enumerate(events) if e["type"] == "resume")
    assert events[resume]["checkpoint"] == f"checkpoint-{first_checkpoint_step}"
    steps_after = [e["step"] for e in events[resume:] if e["type"] == "train"]
    assert steps_after and min(steps_after) > first_checkpoint_step  # continued, did not start over
    assert [round(e["epoch"]) for e in events[resume:] if e["type"] == "eval"] == [2, 3]
    assert all(e.get("step") != 999 for e in events)
    metrics = run.metrics()
    assert metrics["epochs"] == 3
    checkpoint_time = next(e["time"] for e in events if e["type"] == "checkpoint")
    first_session = checkpoint_time - next(e["time"] for e in events if e["type"] == "start")
    assert metrics["train_seconds"] > first_session  # both sessions count


@pytest.mark.parametrize("strategy", ["lora", "frozen"])  # frozen stops while computing features
def test_cancel_stops_the_run_and_resume_finishes_it(tmp_path, workspace, tiny_bert, topic_csv, strategy):
    config = TrainConfig(data=str(topic_csv), model=str(tiny_bert), strategy=strategy, **TINY)
    run = prepare_run(config, tmp_path / "run")
    run.request_cancel()
    assert train(config, run) is None
    assert run.status()["state"] == "cancelled" and "can be resumed" in run.status()["message"]
    assert not run.metrics_path.exists()
    if strategy == "frozen":
        assert not [e for e in run.events() if e["type"] in ("features", "train")]
    assert main(["--resume", str(run.path)]) == 0
    assert run.status()["state"] == "completed"


def test_sigterm_cancels_the_run_instead_of_leaving_it_running(tmp_path, workspace, tiny_bert, topic_csv):
    import signal
    import time

    out = tmp_path / "run"
    args = train_args(topic_csv, tiny_bert, out, epochs=300)
    log = (tmp_path / "stderr.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "engine.train", *args], cwd=ROOT, stderr=log, text=True)
    run = RunDir(out)
    deadline = time.time() + 120
    while not any(e["type"] == "checkpoint" for e in run.events()):
        assert time.time() < deadline and proc.poll() is None, "no checkpoint before the deadline"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    assert run.status()["state"] == "cancelled" and "can be resumed" in run.status()["message"]
    assert run.last_checkpoint() is not None


def test_numeric_labels_keep_their_names(tmp_path, workspace, tiny_bert):
    rows = [(text, {"billing": "10", "shipping": "2", "tech": "007"}[label]) for text, label in make_rows(20)]
    run = run_training(tmp_path, write_csv(tmp_path / "numbers.csv", rows), tiny_bert, "frozen")
    assert run.metrics()["labels"] == ["2", "007", "10"]  # numeric order, names as written
    assert {p["true_label"] for p in read_predictions(run.predictions_path)} <= {"2", "007", "10"}


def test_non_finite_loss_fails_the_run_with_a_reason(tmp_path, workspace, tiny_bert, topic_csv, monkeypatch):
    import torch

    from engine.tasks import base

    original = base.ClassifierHead.forward

    def poisoned(self, features, labels=None):
        out = original(self, features, labels)
        if out.loss is not None:
            out.loss = out.loss * torch.tensor(float("nan"))
        return out

    monkeypatch.setattr(base.ClassifierHead, "forward", poisoned)
    config = TrainConfig(data=str(topic_csv), model=str(tiny_bert), strategy="full", **TINY)
    run = prepare_run(config, tmp_path / "run")
    with pytest.raises(TrainingError, match="loss became nan"):
        train(config, run)
    status = run.status()
    assert status["state"] == "failed" and "learning rate" in status["message"]
    assert not run.metrics_path.exists()


def test_out_of_memory_fails_with_a_hint(tmp_path, workspace, tiny_bert, topic_csv, monkeypatch):
    import torch

    from engine.tasks.text import model

    def boom(self, *a, **kw):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(model.TextClassifier, "forward", boom)
    config = TrainConfig(data=str(topic_csv), model=str(tiny_bert), strategy="full", **TINY)
    run = prepare_run(config, tmp_path / "run")
    with pytest.raises(TrainingError, match="out of memory"):
        train(config, run)
    assert run.status()["state"] == "failed"
    assert "smaller batch size" in run.status()["message"] and "LoRA" in run.status()["message"]


def test_bad_data_exits_non_zero_with_the_plain_message(tmp_path, workspace, tiny_bert):
    bad = tmp_path / "one_class.csv"
    write_csv(bad, [(f"text number {i}", "same") for i in range(20)])
    out = tmp_path / "run"
    result = _cli(["--data", str(bad), "--model", str(tiny_bert), "--strategy", "frozen", "--out", str(out)])
    assert result.returncode == 2
    assert "one_class.csv" in result.stderr and "Traceback" not in result.stderr
    run = RunDir(out)
    assert run.status()["state"] == "failed" and "class" in run.status()["message"]
    assert not run.metrics_path.exists() and not run.model_dir.exists()


def test_cli_refuses_to_overwrite_a_run(tmp_path, workspace, tiny_bert, topic_csv):
    config = TrainConfig(data=str(topic_csv), model=str(tiny_bert), strategy="frozen")
    prepare_run(config, tmp_path / "run")
    with pytest.raises(ConfigError, match="--resume"):
        prepare_run(config, tmp_path / "run")


def test_cli_missing_data_file(tmp_path, workspace, tiny_bert, capsys):
    code = main(
        [
            "--data",
            str(tmp_path / "nope.csv"),
            "--model",
            str(tiny_bert),
            "--strategy",
            "frozen",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 2
    assert "nope.csv" in capsys.readouterr().err


# --- models --------------------------------------------------------------------------------------------
def test_unavailable_hub_model_lists_offline_models():
    from engine.core.resolve import resolve_model

    with pytest.raises(ModelNotAvailableError) as err:
        resolve_model("some-org/not-downloaded-model")
    assert "some-org/not-downloaded-model" in str(err.value) and "minilm" in str(err.value)


def test_folder_without_config_is_not_a_model(tmp_path):
    from engine.core.resolve import resolve_model

    with pytest.raises(ModelNotAvailableError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_bin_only_model_is_refused(tmp_path, tiny_bert):
    import shutil

    import torch
    from safetensors.torch import load_file

    from engine.core.resolve import ResolvedModel
    from engine.tasks.text.model import load_backbone

    folder = tmp_path / "bin-only"
    shutil.copytree(tiny_bert, folder)
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelNotAvailableError, match="safetensors"):
        load_backbone(ResolvedModel("bin-only", str(folder), "local"))


# --- data paths through training -------------------------------------------------------------------------
def test_separate_validation_and_test_files_in_other_formats(tmp_path, workspace, tiny_bert):
    import pandas as pd

    train_rows, val_rows, test_rows = make_rows(20, seed=1), make_rows(4, seed=2), make_rows(5, seed=3)
    train_path = tmp_path / "train.jsonl"
    pd.DataFrame(train_rows, columns=["message", "category"]).to_json(train_path, orient="records", lines=True)
    val_path = tmp_path / "val.parquet"
    pd.DataFrame(val_rows, columns=["message", "category"]).to_parquet(val_path)
    test_path = tmp_path / "test.xlsx"
    pd.DataFrame(test_rows, columns=["message", "category"]).to_excel(test_path, index=False)
    run = run_training(
        tmp_path, train_path, tiny_bert, "frozen", validation_data=str(val_path), test_data=str(test_path)
    )
    metrics = run.metrics()
    assert (metrics["train_examples"], metrics["validation_examples"], metrics["test_examples"]) == (60, 12, 15)
    assert [p["text"] for p in read_predictions(run.predictions_path)] == [t for t, _ in test_rows]


def test_test_file_with_unknown_label_is_refused(tmp_path, workspace, tiny_bert, topic_csv):
    test_path = write_csv(tmp_path / "test.csv", [("my invoice", "billing"), ("my cat", "pets")])
    config = TrainConfig(data=str(topic_csv), model=str(tiny_bert), strategy="frozen", test_data=str(test_path))
    run = prepare_run(config, tmp_path / "run")
    with pytest.raises(DataError, match="pets"):
        train(config, run)


def test_frozen_features_are_cached_across_runs(tmp_path, workspace, tiny_bert, topic_csv):
    first = run_training(tmp_path, topic_csv, tiny_bert, "frozen", name="first")
    second = run_training(tmp_path, topic_csv, tiny_bert, "frozen", name="second", learning_rate=1e-2)
    hits = lambda run: [e["cached"] for e in run.events() if e["type"] == "features"]  # noqa: E731
    assert hits(first) == [False, False]  # train and test: frozen holds out no validation split
    assert hits(second) == [True, True]
    assert len(list((workspace / "cache" / "features").glob("*.npy"))) == 2


# --- fast paths give the plain paths' results ------------------------------------------------------
def _tiny_classifier(model: Path):
    from engine.core.resolve import ResolvedModel
    from engine.tasks.text.model import TextClassifier, load_backbone, load_tokenizer

    resolved = ResolvedModel("tiny", str(model), "local")
    return TextClassifier(load_backbone(resolved), 3, "mean"), load_tokenizer(resolved)


def cached_features(classifier, tokenizer, texts, max_length, model_path, device, precision):
    """The text task's frozen features through the engine's cache (what a frozen run does per split)."""
    from engine.tasks.text.model import extract_features
    from engine.tasks.text.task import feature_key
    from engine.training.features import cached_array

    return cached_array(
        feature_key(model_path, classifier.pooling, max_length, texts),
        lambda: extract_features(classifier, tokenizer, texts, max_length, device=device, precision=precision),
    )


def test_cached_frozen_features_equal_a_plain_forward_pass(workspace, tiny_bert):
    """Computed in padded, length-sorted batches, stored and reloaded: the same as one text at a time."""
    import numpy as np
    import torch

    texts = [text for text, _ in make_rows(12, seed=5)]
    classifier, tokenizer = _tiny_classifier(tiny_bert)
    cold, cold_hit = cached_features(classifier, tokenizer, texts, 32, str(tiny_bert), "cpu", "fp32")
    warm, warm_hit = cached_features(classifier, tokenizer, texts, 32, str(tiny_bert), "cpu", "fp32")
    assert (cold_hit, warm_hit) == (False, True)
    classifier.eval()
    with torch.inference_mode():
        plain = np.stack(
            [
                classifier.encode(**tokenizer(t, truncation=True, max_length=32, return_tensors="pt"))[0].numpy()
                for t in texts
            ]
        )
    assert len({len(tokenizer(t)["input_ids"]) for t in texts}) > 3  # batches really were padded
    np.testing.assert_allclose(cold, plain, atol=1e-5)
    np.testing.assert_allclose(warm, plain, atol=1e-5)


def test_feature_cache_is_invalidated_when_data_model_or_max_length_change(tmp_path, workspace, tiny_bert):
    import shutil

    import numpy as np
    import torch
    from transformers import BertModel

    texts = [text for text, _ in make_rows(5, seed=6)]

    def features(texts, max_length=32, model=tiny_bert):
        classifier, tokenizer = _tiny_classifier(model)
        return cached_features(classifier, tokenizer, texts, max_length, str(model), "cpu", "fp32")

    def files() -> int:
        return len(list((workspace / "cache" / "features").glob("*.npy")))

    base, hit = features(texts)
    assert not hit and files() == 1
    assert features(texts)[1] and files() == 1
    assert not features(texts[:-1] + [texts[-1] + " again"])[1] and files() == 2  # the data
    assert not features(texts, max_length=16)[1] and files() == 3  # the max length
    other = shutil.copytree(tiny_bert, tmp_path / "other-model")  # another model (same weights, elsewhere)
    assert not features(texts, model=other)[1] and files() == 4
    torch.manual_seed(1)  # the same folder with new weights, e.g. retrained in place
    retrained = BertModel.from_pretrained(other)
    with torch.no_grad():
        for p in retrained.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    retrained.save_pretrained(other)
    changed, hit = features(texts, model=other)
    assert not hit and files() == 5 and not np.allclose(changed, base, atol=1e-4)


def test_length_grouped_evaluation_gives_the_same_metrics(tmp_path, workspace, tiny_bert):
    """The engine evaluates in length-grouped batches; in plain order the metrics are the same."""
    from transformers import DataCollatorWithPadding

    from engine.tasks.text.model import load_classifier
    from engine.tasks.text.task import encode
    from engine.training.device import choose_device
    from engine.training.trainer import build_trainer, load_splits

    data = write_csv(tmp_path / "big.csv", make_rows(60, seed=1))
    trained = run_training(tmp_path, data, tiny_bert, "full", name="trained", epochs=6, learning_rate=2e-3)
    classifier, tokenizer, _ = load_classifier(trained.model_dir)
    config = TrainConfig(data=str(data), model=str(tiny_bert), strategy="full", **TINY)
    splits, _ = load_splits(config)
    # Texts of 1 to 3 times the usual length in random order, enough for the sampler to group by length.
    rows = [
        (" ".join([text] * k), label)
        for split in (splits.train, splits.validation, splits.test)
        for text, label in zip(split.texts, split.labels, strict=True)
        for k in (1, 2, 3)
    ]
    random.Random(0).shuffle(rows)
    dataset = encode(tokenizer, [t for t, _ in rows], [y for _, y in rows], 32)
    collator = DataCollatorWithPadding(tokenizer)
    metrics, padded = {}, {}
    for sampling in ("group_by_length", "sequential"):
        run = prepare_run(config, tmp_path / sampling)
        device = choose_device("cpu", 2)
        trainer, _ = build_trainer(config, run, classifier, dataset, dataset, collator, tokenizer, sampling, device, 1)
        padded[sampling] = sum(batch["input_ids"].numel() for batch in trainer.get_eval_dataloader(dataset))
        metrics[sampling] = trainer.evaluate()
    assert padded["group_by_length"] < 0.9 * padded["sequential"]  # really other batches, with less padding
    grouped, plain = metrics["group_by_length"], metrics["sequential"]
    assert plain["eval_accuracy"] > 0.6  # a model that tells the classes apart, so the loss depends on its inputs
    for key in ("eval_accuracy", "eval_macro_f1", "eval_weighted_f1"):
        assert grouped[key] == plain[key]
    assert grouped["eval_loss"] == pytest.approx(plain["eval_loss"], rel=1e-5)


def test_hub_id_trains_from_the_local_hugging_face_cache(tmp_path, workspace, tiny_bert, topic_csv):
    """A hub id works offline when the model is already in the user's Hugging Face cache."""
    import shutil

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf-cache" / "models--someone--tiny-bert"
    shutil.copytree(tiny_bert, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    out = tmp_path / "run"
    args = train_args(topic_csv, "someone/tiny-bert", out, epochs=1)
    result = _cli(args, {"HF_HUB_CACHE": str(tmp_path / "hf-cache"), "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert RunDir(out).metrics()["model"] == "someone/tiny-bert"
    # Without the cache the same id is refused with the plain message, not a traceback.
    args = train_args(topic_csv, "someone/tiny-bert", tmp_path / "run2", epochs=1)
    missing = _cli(args, {"HF_HUB_CACHE": str(tmp_path / "empty")})
    assert missing.returncode == 2
    assert "someone/tiny-bert" in missing.stderr and "minilm" in missing.stderr and "Traceback" not in missing.stderr


# --- automatic max length -----------------------------------------------------------------
def test_auto_max_length_follows_the_data_and_the_device():
    from engine.core.policy import choose_max_length

    short = [10] * 90 + [30] * 10
    assert choose_max_length(None, short, 512, "cuda") == (32, None)  # 95th percentile 30, rounded up to 8s
    long_texts = list(range(100, 600, 5))
    chosen, note = choose_max_length(None, long_texts, 512, "cuda")
    assert chosen == 512 and note is not None and "longer than 512" in note
    chosen, note = choose_max_length(None, long_texts, 512, "cpu")
    assert chosen == 128 and "cut" in note


def test_explicit_max_length_is_kept_but_capped_by_the_model():
    from engine.core.policy import choose_max_length

    assert choose_max_length(64, [10, 20], 512, "cpu") == (64, None)
    chosen, note = choose_max_length(1024, [10, 20], 512, "cuda")
    assert chosen == 512 and "limit of 512" in note


def test_describe_hardware_is_torch_free_and_names_the_cpu(monkeypatch):
    import engine.core.hardware as hardware

    monkeypatch.setattr(hardware, "gpu_names", lambda: [])
    assert hardware.describe_hardware().startswith("CPU (")
    monkeypatch.setattr(hardware, "gpu_names", lambda: ["NVIDIA H100 80GB HBM3"])
    assert hardware.describe_hardware() == "GPU: NVIDIA H100 80GB HBM3"
