"""The slow tests' recipes over several seeds: the measurements behind their floors.

    python -m bench.floors spam few-shot smollm2 fashion adapt explain --seeds 42-46 [--threads 2]

Each slow real-model test (tests/test_slow.py, test_adapt.py, test_explain.py) trains a bundled model
on the demo data through one recipe here, with seed 42; this runs the same recipe with other seeds and
prints every figure the test asserts on, one line a seed, then each figure's min and max. A seed is a
new draw of the data (``draw = seed - 42``: the test's is draw 0) and a new initialisation and order of
batches, so the spread says how much a floor can move by chance. The comment next to each floor quotes
these numbers. Minutes a seed on a 2-core CPU. ``--out`` also writes them as JSON.

The recipes are sized to keep the suite fast (one slow test per real-model claim; heavier checks belong
here, not in a timed test): ``--scale 2`` doubles their examples for a heavier check of the same claim.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SPAM = ROOT / "data" / "spam_emails.csv"
FASHION = ROOT / "data" / "fashion_demo.zip"
TEST_SEED = 42  # the seed the tests use; draw 0 of the data
SPAM_TEXT = "Congratulations! You WON a FREE prize, click here to claim your cash now!!!"

# What each recipe trains on, in one place: the tests and the measurements read the same numbers.
SPAM_TRANSFER = {"train_rows": 600, "test_rows": 300, "max_length": 64}
FEW_SHOT = {"per_class": 8, "test_rows": 400, "max_length": None}  # setfit's pairs dominate: kept as it was
SMOLLM2 = {"train_rows": 300, "test_rows": 150, "max_length": 48}
PICTURES = {"per_class": 60, "image_size": 96, "scratch_epochs": 3}
ADAPT = {"texts": 1200, "max_steps": 40, "max_length": 48, "heldout": 0.05}
EXPLAIN = {"rows": 400, "max_length": 64, "texts": 30}


def _train(folder: Path, strategy: str, **settings: Any) -> dict[str, Any]:
    from engine.core.config import TrainConfig
    from engine.core.jobs import prepare_run
    from engine.training.trainer import train

    config = TrainConfig(strategy=strategy, **settings)
    return train(config, prepare_run(config, folder))


def spam_files(folder: Path, train_rows: int, test_rows: int, draw: int = 0) -> tuple[Path, Path]:
    """A random training file and a disjoint held-out test file from the demo e-mails."""
    sample = pd.read_csv(SPAM).sample(train_rows + test_rows, random_state=draw)
    train_path, test_path = folder / "spam_train.csv", folder / "spam_test.csv"
    sample.iloc[:train_rows].to_csv(train_path, index=False)
    sample.iloc[train_rows:].to_csv(test_path, index=False)
    return train_path, test_path


def spam_few(folder: Path, per_class: int, test_rows: int, draw: int = 0) -> tuple[Path, Path]:
    """``per_class`` e-mails of each label to learn from (what a user labels by hand) and a disjoint,
    random held-out test file."""
    emails = pd.read_csv(SPAM).sample(frac=1.0, random_state=draw)
    train = emails.groupby("label", group_keys=False).head(per_class)
    test = emails.drop(train.index).head(test_rows)
    train_path, test_path = folder / "few_train.csv", folder / "few_test.csv"
    train.to_csv(train_path, index=False)
    test.to_csv(test_path, index=False)
    return train_path, test_path


def log_loss(run_dir: Path) -> float:
    """Mean test log-loss of a two-class run, from predictions.csv (P(true) = confidence when correct)."""
    p = pd.read_csv(run_dir / "predictions.csv")
    p_true = np.where(p["correct"], p["confidence"], 1 - p["confidence"]).clip(1e-7, 1)
    return float(-np.log(p_true).mean())


def spam_transfer(work: Path, seed: int = TEST_SEED, scale: float = 1.0, threads: int | None = None) -> dict[str, Any]:
    """MiniLM frozen, LoRA and the from-scratch baseline (LoRA's architecture and budget: one pass)."""
    s = SPAM_TRANSFER
    data, test = spam_files(work, round(s["train_rows"] * scale), round(s["test_rows"] * scale), seed - TEST_SEED)
    common = {
        "data": str(data),
        "test_data": str(test),
        "model": "minilm",
        "max_length": s["max_length"],
        "seed": seed,
        "threads": threads,
    }
    runs = {
        "frozen": _train(work / "frozen", "frozen", **common),
        "lora": _train(work / "lora", "lora", epochs=1, **common),
        "scratch": _train(work / "scratch", "scratch", epochs=1, **common),
    }
    from engine.predict import Predictor

    spam = Predictor.from_run(work / "lora").predict([SPAM_TEXT])[0]
    figures = {f"{name}_accuracy": m["accuracy"] for name, m in runs.items()}
    figures |= {f"{name}_log_loss": log_loss(work / name) for name in runs}
    figures |= {
        "scratch_over_lora_log_loss": figures["scratch_log_loss"] / figures["lora_log_loss"],
        "scratch_over_frozen_log_loss": figures["scratch_log_loss"] / figures["frozen_log_loss"],
        "spam_text_confidence": spam["confidence"] if spam["label"] == "spam" else 1 - spam["confidence"],
    }
    return {"runs": runs, "figures": figures}


def few_shot(work: Path, seed: int = TEST_SEED, scale: float = 1.0, threads: int | None = None) -> dict[str, Any]:
    """MiniLM with 8 hand-labeled e-mails a class: setfit (the recommendation there) and frozen."""
    s = FEW_SHOT
    data, test = spam_few(work, s["per_class"], round(s["test_rows"] * scale), seed - TEST_SEED)
    common = {
        "data": str(data),
        "test_data": str(test),
        "model": "minilm",
        "max_length": s["max_length"],
        "seed": seed,
        "threads": threads,
    }
    runs = {name: _train(work / name, name, **common) for name in ("setfit", "frozen")}
    figures = {f"{name}_{k}": m[k] for name, m in runs.items() for k in ("accuracy", "macro_f1")}
    figures["majority_share"] = float(pd.read_csv(test)["label"].value_counts(normalize=True).max())
    return {"runs": runs, "figures": figures}


def smollm2(work: Path, seed: int = TEST_SEED, scale: float = 1.0, threads: int | None = None) -> dict[str, Any]:
    """SmolLM2 (GGUF, converted on first use) frozen on the e-mails."""
    s = SMOLLM2
    data, test = spam_files(work, round(s["train_rows"] * scale), round(s["test_rows"] * scale), seed - TEST_SEED)
    common = {
        "data": str(data),
        "test_data": str(test),
        "model": "smollm2",
        "max_length": s["max_length"],
        "seed": seed,
    }
    runs = {"frozen": _train(work / "frozen", "frozen", **common)}
    return {"runs": runs, "figures": {"frozen_accuracy": runs["frozen"]["accuracy"]}}


def fashion_zip(folder: Path, per_class: int, draw: int = 0) -> Path:
    """``per_class`` random pictures of each class of the Fashion demo, in a ZIP of the same layout."""
    import random
    import zipfile

    rng = random.Random(draw)
    with zipfile.ZipFile(FASHION) as source:
        names = sorted(n for n in source.namelist() if not n.endswith("/"))
        by_class: dict[str, list[str]] = {}
        for name in names:
            by_class.setdefault(name.split("/")[0], []).append(name)
        path = folder / "fashion.zip"
        with zipfile.ZipFile(path, "w") as out:
            for files in by_class.values():
                for name in rng.sample(files, min(per_class, len(files))):
                    out.writestr(name, source.read(name))
    return path


def pictures(work: Path, seed: int = TEST_SEED, scale: float = 1.0, threads: int | None = None) -> dict[str, Any]:
    """EfficientNet-Lite0 frozen against the from-scratch baseline on a draw of the Fashion demo."""
    s = PICTURES
    data = fashion_zip(work, round(s["per_class"] * scale), seed - TEST_SEED)
    common = {
        "data": str(data),
        "model": "efficientnet-lite0",
        "image_size": s["image_size"],
        "seed": seed,
        "threads": threads,
    }
    runs = {
        "frozen": _train(work / "frozen", "frozen", **common),
        "scratch": _train(work / "scratch", "scratch", epochs=s["scratch_epochs"], **common),
    }
    figures = {f"{name}_accuracy": m["accuracy"] for name, m in runs.items()}
    figures["gap"] = figures["frozen_accuracy"] - figures["scratch_accuracy"]
    return {"runs": runs, "figures": figures, "data": data}


def adapt(work: Path, seed: int = TEST_SEED, scale: float = 1.0, threads: int | None = None) -> dict[str, Any]:
    """A short masked-LM adaptation (LoRA) of MiniLM on the demo e-mails: held-out loss before and after."""
    from engine.adapt.__main__ import main
    from engine.core.rundir import RunDir

    s = ADAPT
    texts = work / "texts.csv"
    emails = pd.read_csv(SPAM).sample(round(s["texts"] * scale), random_state=seed - TEST_SEED)
    emails[["text"]].to_csv(texts, index=False)
    out = work / "adapt"
    args = ["--data", str(texts), "--model", "minilm", "--out", str(out), "--seed", str(seed)]
    args += ["--method", "mlm", "--strategy", "lora", "--max-steps", str(s["max_steps"])]
    args += ["--max-length", str(s["max_length"]), "--heldout", str(s["heldout"])]
    args += ["--threads", str(threads)] if threads else []
    code = main(args)
    if code != 0:
        return {"exit_code": code, "figures": {}}
    metrics = RunDir(out).metrics()
    figures = {k: metrics[k] for k in ("loss_before", "loss_after")}
    figures["drop"] = metrics["loss_before"] - metrics["loss_after"]
    return {"exit_code": code, "metrics": metrics, "figures": figures}


def explain(work: Path, seed: int = TEST_SEED, scale: float = 1.0, threads: int | None = None) -> dict[str, Any]:
    """MiniLM frozen on e-mails, then the deletion test of faithfulness on its first held-out texts."""
    from engine.core.predictions import read_predictions
    from engine.predict import Predictor

    s = EXPLAIN
    sample = pd.read_csv(SPAM).sample(round(s["rows"] * scale), random_state=seed - TEST_SEED)
    data = work / "spam.csv"
    sample.to_csv(data, index=False)
    settings = {"data": str(data), "model": "minilm", "max_length": s["max_length"], "seed": seed, "threads": threads}
    runs = {"frozen": _train(work / "run", "frozen", **settings)}
    predictor = Predictor.from_run(work / "run")
    texts = read_predictions(work / "run" / "predictions.csv")["text"].tolist()[: round(s["texts"] * scale)]
    top, rand = deletion_drops(predictor, texts, seed=seed - TEST_SEED)
    figures = {"accuracy": runs["frozen"]["accuracy"], "top_drop": top, "random_drop": rand, "margin": top - rand}
    return {"runs": runs, "figures": figures, "texts": len(texts)}


DELETED_SHARE = 0.2  # the faithfulness test's k: a fifth of the words
RANDOM_DRAWS = 5  # random deletions per text, averaged


def deletion_drops(predictor: Any, texts: list[str], seed: int = 0) -> tuple[float, float]:
    """Mean drop of the predicted class's probability when the top-attributed words are deleted, and when as
    many random words are (``RANDOM_DRAWS`` draws a text)."""
    import random

    from engine.core.explanations import strongest_words, without_words
    from engine.explain import explain_texts

    rng = random.Random(seed)
    names = predictor.label_names
    top_texts, random_texts, before, labels = [], [], [], []
    for e in explain_texts(predictor, texts):
        words, label = e["tokens"], e["label"]
        top = strongest_words(words, label, DELETED_SHARE)
        top_texts.append(without_words(e["text"], words, top))
        random_texts += [
            without_words(e["text"], words, rng.sample(range(len(words)), len(top))) for _ in range(RANDOM_DRAWS)
        ]
        before.append(e["probabilities"][label])
        labels.append(names.index(label))
    rows = np.arange(len(labels))
    after_top = predictor.predict_proba(top_texts)[rows, labels]
    after_random = predictor.predict_proba(random_texts).reshape(len(labels), RANDOM_DRAWS, -1)[rows, :, labels]
    before_arr = np.asarray(before)
    return float((before_arr - after_top).mean()), float((before_arr[:, None] - after_random).mean())


RECIPES: dict[str, Callable[..., dict[str, Any]]] = {
    "spam": spam_transfer,
    "few-shot": few_shot,
    "smollm2": smollm2,
    "fashion": pictures,
    "adapt": adapt,
    "explain": explain,
}


def seeds(text: str) -> list[int]:
    """``"42-46"`` or ``"42,44"`` as a list of seeds.

    >>> seeds("42-44"), seeds("7,9")
    ([42, 43, 44], [7, 9])
    """
    if "-" in text:
        low, high = (int(x) for x in text.split("-"))
        return list(range(low, high + 1))
    return [int(x) for x in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floors", description=__doc__.split("\n\n")[0])
    parser.add_argument("recipes", nargs="+", choices=list(RECIPES), help="Which slow tests' recipes to run.")
    parser.add_argument("--seeds", type=seeds, default=seeds("42-46"), metavar="A-B", help="Seeds (default 42-46).")
    parser.add_argument("--scale", type=float, default=1.0, help="Multiply the recipes' examples (a heavier check).")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads a run (default: the cores).")
    parser.add_argument("--out", default=None, metavar="PATH", help="Also write the figures as JSON.")
    args = parser.parse_args(argv)
    results: dict[str, dict[int, dict[str, float]]] = {}
    for name in args.recipes:
        results[name] = {}
        for seed in args.seeds:
            with tempfile.TemporaryDirectory(prefix=f"floors-{name}-") as tmp:
                started = time.perf_counter()
                figures = dict(RECIPES[name](Path(tmp), seed, args.scale, args.threads)["figures"])
                figures["seconds"] = time.perf_counter() - started
            results[name][seed] = figures
            print(name, seed, " ".join(f"{k}={v:.4f}" for k, v in figures.items()), flush=True)
        keys = sorted({k for f in results[name].values() for k in f})
        for key in keys:
            values = [f[key] for f in results[name].values() if key in f]
            print(f"{name} {key}: min {min(values):.4f} max {max(values):.4f} over seeds {args.seeds}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
