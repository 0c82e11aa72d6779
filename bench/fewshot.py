"""The few-shot benchmark: TransferLab's strategies with 8 to 64 labeled examples per class.

    python -m bench --few-shot [--datasets rotten_tomatoes,bbc_news] [--shots 8,16,32,64] [--seeds 3]
                               [--methods tfidf,frozen,setfit,lora,setfit-library] [--out bench/fewshot.json]

For each data set (public data shipped in packages, ``bench/fewshot_data.py``; never the demo data the
engine was tuned on), number of examples per class and seed, it samples a training set from the pool
and scores every method on the same held-out test set:

- ``tfidf``: TF-IDF of words and character n-grams with logistic regression (scikit-learn), its
  strength chosen by the same cross-validation as TransferLab's fitted head;
- TransferLab's strategies (``frozen``, ``setfit``, ``lora``, ...), trained through the engine's own
  ``train()`` with its defaults, on the bundled MiniLM;
- ``setfit-library``: the maintained ``setfit`` library with its defaults on the same MiniLM.

Pictures (``digits``): TransferLab's strategies on EfficientNet-Lite0 beside ``pixels``, logistic
regression on the raw pixels.

Times are wall-clock seconds from loading the model to the test predictions, one process, the
machine's cores given to torch. Results go to ``--out`` (JSON) and a table is printed.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.fewshot_data import LOADERS, sample_per_class

TEXT_METHODS = ("tfidf", "frozen", "setfit", "lora", "setfit-library")
MODEL = "minilm"
IMAGE_MODEL = "efficientnet-lite0"
IMAGE_DATASETS = ("digits",)


def _write_images(folder: Path, rows: Sequence[tuple[object, str]]) -> Path:
    """Pictures as PNG files in one folder per class (what a user's ZIP holds)."""
    from PIL import Image

    for i, (pixels, label) in enumerate(rows):
        (folder / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(folder / label / f"{i:05d}.png")
    return folder


def run_pixels(train: Sequence[tuple[object, str]], test: Sequence[tuple[object, str]], seed: int) -> dict[str, Any]:
    """The classical baseline for pictures: logistic regression on the raw pixels."""
    from engine.training.head import fit_head

    start = time.perf_counter()
    names = sorted({label for _, label in train})
    x = np.stack([np.asarray(p, dtype=np.float64).ravel() for p, _ in train])
    fit = fit_head(x, [names.index(label) for _, label in train], len(names), seed=seed)
    xt = np.stack([np.asarray(p, dtype=np.float64).ravel() for p, _ in test])
    xt = xt / np.maximum(np.linalg.norm(xt, axis=1, keepdims=True), 1e-12)
    predicted = [names[i] for i in (xt @ fit.weight.T + fit.bias).argmax(1)]
    return {**_scores([label for _, label in test], predicted), "seconds": time.perf_counter() - start}


def _write_csv(path: Path, rows: Sequence[tuple[object, str]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def _scores(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
    }


def run_tfidf(train: Sequence[tuple[str, str]], test: Sequence[tuple[str, str]], seed: int) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union

    from engine.training.head import fit_head

    start = time.perf_counter()
    vectors = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1),
    )
    x = vectors.fit_transform([t for t, _ in train]).toarray()
    names = sorted({label for _, label in train})
    fit = fit_head(x, [names.index(label) for _, label in train], len(names), seed=seed)
    xt = vectors.transform([t for t, _ in test]).toarray()
    norms = np.maximum(np.linalg.norm(xt, axis=1, keepdims=True), 1e-12)
    predicted = [names[i] for i in ((xt / norms) @ fit.weight.T + fit.bias).argmax(1)]
    return {**_scores([label for _, label in test], predicted), "seconds": time.perf_counter() - start}


def run_engine(
    method: str, train_data: Path, test_data: Path, out: Path, seed: int, model: str = MODEL, threads: int | None = None
) -> dict[str, Any]:
    """A TransferLab strategy with its defaults; ``strategy:N`` sets N epochs instead (``threads``: torch's CPU
    threads, default the machine's cores)."""
    from engine.core.config import TrainConfig
    from engine.core.jobs import prepare_run
    from engine.training.trainer import train

    strategy, _, epochs = method.partition(":")
    start = time.perf_counter()
    config = TrainConfig(
        data=str(train_data),
        test_data=str(test_data),
        model=model,
        strategy=strategy,
        seed=seed,
        epochs=int(epochs) if epochs else None,
        threads=threads,
    )
    metrics = train(config, prepare_run(config, out))
    return {
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "seconds": time.perf_counter() - start,
        "train_seconds": metrics["train_seconds"],
        "steps": metrics.get("steps"),
    }


def run_setfit_library(
    train: Sequence[tuple[str, str]], test: Sequence[tuple[str, str]], seed: int, workdir: Path
) -> dict[str, Any]:
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    from engine.core.resolve import resolve_model

    start = time.perf_counter()
    model = SetFitModel.from_pretrained(resolve_model(MODEL).path)
    trainer = Trainer(
        model=model,
        args=TrainingArguments(output_dir=str(workdir / "setfit-library"), seed=seed, show_progress_bar=False),
        train_dataset=Dataset.from_dict({"text": [t for t, _ in train], "label": [label for _, label in train]}),
    )
    trainer.train()
    predicted = list(model.predict([t for t, _ in test]))
    return {**_scores([label for _, label in test], predicted), "seconds": time.perf_counter() - start}


def run(
    datasets: Sequence[str], shots: Sequence[int], seeds: int, methods: Sequence[str], workdir: Path, log=print
) -> list[dict[str, Any]]:
    results = []
    for name in datasets:
        pool, test = LOADERS[name]()
        pictures = name in IMAGE_DATASETS
        write = _write_images if pictures else _write_csv
        test_data = write(workdir / (f"{name}-test" if pictures else f"{name}-test.csv"), test)
        for k in shots:
            for seed in range(seeds):
                sample = sample_per_class(pool, k, seed)
                train_data = write(workdir / (f"{name}-{k}-{seed}" if pictures else f"{name}-{k}-{seed}.csv"), sample)
                for method in methods:
                    out = workdir / "runs" / f"{name}-{k}-{seed}-{method.replace(':', '-')}"
                    if method == "tfidf":
                        result = run_tfidf(sample, test, seed)
                    elif method == "pixels":
                        result = run_pixels(sample, test, seed)
                    elif method == "setfit-library":
                        result = run_setfit_library(sample, test, seed, out)
                    else:
                        result = run_engine(
                            method, train_data, test_data, out, seed, IMAGE_MODEL if pictures else MODEL
                        )
                    row = {"dataset": name, "shots": k, "seed": seed, "method": method, **result}
                    results.append(row)
                    log(json.dumps(row))
    return results


def summary(results: list[dict[str, Any]]) -> str:
    """A markdown table: mean accuracy (sd over seeds), mean macro-F1 and mean seconds per method."""
    keys = sorted({(r["dataset"], r["shots"]) for r in results})
    methods = list(dict.fromkeys(r["method"] for r in results))
    lines = ["| data | examples per class | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for dataset, k in keys:
        cells = []
        for m in methods:
            rows = [r for r in results if r["dataset"] == dataset and r["shots"] == k and r["method"] == m]
            if not rows:
                cells.append("")
                continue
            acc = np.array([r["accuracy"] for r in rows])
            cells.append(f"{acc.mean():.3f} ± {acc.std():.3f} ({np.mean([r['seconds'] for r in rows]):.0f} s)")
        lines.append(f"| {dataset} | {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(args) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="fewshot-") as tmp:
        os.environ.setdefault("TRANSFERLAB_HOME", str(Path(tmp) / "home"))
        results = run(args.datasets, args.shots, args.seeds, args.methods, Path(tmp))
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(summary(results))
    return 0
