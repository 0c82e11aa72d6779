"""The domain adaptation benchmark: does teaching MiniLM a domain's language first help its classifier?

    python -m bench --adapt [--datasets rotten_tomatoes,bbc_news] [--labels 100,300,1000] [--seeds 3,3,2]
                            [--steps 0] [--adapt-methods mlm] [--strategies recommended,frozen]
                            [--threads 1] [--workdir DIR] [--out bench/results/adapt.json]
    python -m bench --adapt --table bench/results/adapt.json     # print the table of earlier results

For each data set it builds a domain pair from public data shipped in packages (``PAIRS``): unlabeled
texts of the domain, a labeled pool and a test set, the three disjoint (Rotten Tomatoes by movie, BBC
News by article). It adapts the bundled MiniLM once per method and step count on the unlabeled texts
through ``python -m engine.adapt`` (reused across sizes and seeds; with ``--workdir``, a completed
adaptation of the same texts with the same settings is reused by later runs too), then, for every number
of labels and seed (a stratified draw from the pool), trains the same classifier from the base and from
each adapted model through the engine's ``train()`` and scores it on the same test set. ``recommended``
is the strategy TransferLab recommends at that size (``engine.estimate.recommend``). Times are wall-clock
seconds; the adaptation's are paid once per data set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.fewshot import MODEL, _write_csv, run_engine
from bench.fewshot_data import Example, bbc_news_articles, rotten_tomatoes_by_movie

DATASETS = ("rotten_tomatoes", "bbc_news")
LABELS = (100, 300, 1000)
RECOMMENDED = "recommended"
BASE = "base"


@dataclass
class DomainPair:
    unlabeled: list[str]  # texts of the domain, in neither the pool nor the test set
    pool: list[Example]  # the labeled subsets are drawn from these
    test: list[Example]  # the same for every size, seed and model


def _distinct(texts: Sequence[str], taken: set[str]) -> list[str]:
    out = []
    for text in texts:
        key = " ".join(text.split()).lower()
        if key and key not in taken:
            taken.add(key)
            out.append(" ".join(text.split()))
    return out


def rotten_tomatoes_pair(pool_size: int = 2000, seed: int = 0) -> DomainPair:
    """The few-shot benchmark's test set (1,000 snippets); a labeled pool of whole movies up to
    ``pool_size`` snippets; the snippets of every other movie as the unlabeled texts."""
    groups, test = rotten_tomatoes_by_movie(seed=seed)
    taken = {" ".join(t.split()).lower() for t, _ in test}
    pool: list[Example] = []
    unlabeled: list[str] = []
    for rows in groups:
        if len(pool) < pool_size:
            kept = _distinct([t for t, _ in rows], taken)
            labels = {" ".join(t.split()): label for t, label in rows}
            pool += [(t, labels[t]) for t in kept]
        else:
            unlabeled += _distinct([t for t, _ in rows], taken)
    return DomainPair(unlabeled, pool, test)


def bbc_news_pair(pool_size: int = 1100, test_size: int = 600, seed: int = 0) -> DomainPair:
    """The few-shot benchmark's test set (600 articles' headline and first paragraph); the next
    ``pool_size`` articles as the labeled pool; every paragraph of the remaining articles as unlabeled texts."""
    articles = bbc_news_articles(seed)
    rows = [(f"{lines[0]}. {lines[1]}", topic) for topic, lines in articles]
    test, pool = rows[:test_size], rows[test_size : test_size + pool_size]
    taken = {" ".join(t.split()).lower() for t, _ in test + pool}
    unlabeled: list[str] = []
    for _, lines in articles[test_size + pool_size :]:
        unlabeled += _distinct([f"{lines[0]}. {lines[1]}", *lines[2:]], taken)
    return DomainPair(unlabeled, pool, test)


PAIRS = {"rotten_tomatoes": rotten_tomatoes_pair, "bbc_news": bbc_news_pair}


def sample_stratified(pool: Sequence[Example], n: int, seed: int) -> list[Example]:
    """``n`` examples of the pool with each class's share of the pool (largest remainders round), the same
    ones for the same seed.

    >>> pool = [(f"a{i}", "a") for i in range(30)] + [(f"b{i}", "b") for i in range(10)]
    >>> sample = sample_stratified(pool, 8, seed=0)
    >>> len(sample), sum(label == "a" for _, label in sample)
    (8, 6)
    """
    if n > len(pool):
        raise ValueError(f"asked for {n} examples from a pool of {len(pool)}")
    by_label: dict[str, list[int]] = {}
    for i, (_, label) in enumerate(pool):
        by_label.setdefault(label, []).append(i)
    names = sorted(by_label)
    exact = np.array([n * len(by_label[k]) / len(pool) for k in names])
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    rng = np.random.default_rng(seed)
    chosen = [pool[i] for k, c in zip(names, counts, strict=True) for i in rng.choice(by_label[k], c, replace=False)]
    return [chosen[i] for i in rng.permutation(len(chosen))]


def recommended_strategy(n: int, n_classes: int) -> str:
    """What TransferLab recommends for ``n`` labeled texts on this machine."""
    import torch

    from engine.estimate.recommend import recommend_for_texts

    return recommend_for_texts(n, torch.cuda.is_available(), n_classes)[0]


def adapt_model(
    texts: Sequence[str],
    folder: Path,
    method: str,
    steps: int,
    threads: int | None,
    model: str = MODEL,
    learning_rate: float | None = None,
    max_length: int | None = None,
) -> dict[str, Any]:
    """Adapt ``model`` on ``texts`` with ``python -m engine.adapt`` into ``folder`` (0 ``steps``: its default
    of one pass). An adaptation already completed there with the same settings and texts is reused."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    data = folder.with_name(folder.name + ".txt")
    content = "\n".join(" ".join(t.split()) for t in texts) + "\n"
    args = ["--data", str(data), "--model", model, "--method", method, "--max-steps", str(steps)]
    args += ["--threads", str(threads)] if threads else []
    args += ["--learning-rate", str(learning_rate)] if learning_rate else []
    args += ["--max-length", str(max_length)] if max_length else []
    record = folder / "bench.json"
    if record.is_file() and data.is_file() and data.read_text(encoding="utf-8") == content:
        done = json.loads(record.read_text(encoding="utf-8"))
        if done.get("args") == args:
            return {**done, "reused": True}
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    data.write_text(content, encoding="utf-8")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine.adapt", *args, "--out", str(folder)], check=True)
    seconds = time.perf_counter() - start
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    keep = ("method", "steps", "loss_before", "loss_after", "perplexity_before", "perplexity_after", "train_seconds")
    done = {"args": args, "path": str(folder), "seconds": seconds, "texts": metrics.get("texts")}
    done |= {k: metrics.get(k) for k in keep}
    record.write_text(json.dumps(done, indent=2) + "\n", encoding="utf-8")
    return {**done, "reused": False}


def variant_name(method: str, steps: int, learning_rate: float | None = None) -> str:
    """How results name an adapted model, e.g. ``mlm-300`` or ``mlm-auto-lr0.001`` (auto: one pass).

    >>> variant_name("mlm", 0), variant_name("tsdae", 300, 1e-3)
    ('mlm-auto', 'tsdae-300-lr0.001')
    """
    return f"{method}-{steps or 'auto'}" + (f"-lr{learning_rate:g}" if learning_rate else "")


def seeds_for(labels: Sequence[int], seeds: Sequence[int]) -> dict[int, int]:
    """Seeds per number of labels: one count for all, or one per size.

    >>> seeds_for([100, 300, 1000], [3, 3, 2]), seeds_for([100, 300], [2])
    ({100: 3, 300: 3, 1000: 2}, {100: 2, 300: 2})
    """
    if len(seeds) == 1:
        return dict.fromkeys(labels, seeds[0])
    if len(seeds) != len(labels):
        raise SystemExit(f"--seeds: give one count, or one per --labels size ({len(labels)})")
    return dict(zip(labels, seeds, strict=True))


def run(
    pairs: dict[str, DomainPair],
    labels: Sequence[int],
    seeds: dict[int, int],
    variants: Sequence[tuple[str, int, float | None]],
    strategies: Sequence[str],
    workdir: Path,
    threads: int | None = None,
    model: str = MODEL,
    log=print,
    adaptations_dir: Path | None = None,
) -> dict[str, Any]:
    """Adapt once per data set and variant (into ``adaptations_dir``, default ``workdir/adapt``), then score
    every (size, seed, strategy, model) with training runs under ``workdir`` (which must hold none yet)."""
    adaptations_dir = adaptations_dir or workdir / "adapt"
    adaptations, runs = [], []
    for name, pair in pairs.items():
        models = {BASE: model}
        for method, steps, lr in variants:
            variant = variant_name(method, steps, lr)
            done = adapt_model(pair.unlabeled, adaptations_dir / f"{name}-{variant}", method, steps, threads, model, lr)
            adaptations.append({"dataset": name, "variant": variant, "unlabeled_texts": len(pair.unlabeled), **done})
            log(json.dumps(adaptations[-1]))
            models[variant] = done["path"]
        test_data = _write_csv(workdir / f"{name}-test.csv", pair.test)
        n_classes = len({label for _, label in pair.pool})
        for n in labels:
            best = recommended_strategy(n, n_classes)
            wanted = [best if s == RECOMMENDED else s for s in strategies]
            for seed in range(seeds[n]):
                sample = sample_stratified(pair.pool, n, seed)
                train_data = _write_csv(workdir / f"{name}-{n}-{seed}.csv", sample)
                for strategy in dict.fromkeys(wanted):
                    for variant, path in models.items():
                        out = workdir / "runs" / f"{name}-{n}-{seed}-{strategy}-{variant}"
                        result = run_engine(strategy, train_data, test_data, out, seed, path, threads)
                        row = {"dataset": name, "labels": n, "seed": seed, "strategy": strategy, "model": variant}
                        row["model_path"] = path
                        row |= {"recommended": strategy == best, **result}
                        runs.append(row)
                        log(json.dumps(row))
    return {"adaptations": adaptations, "runs": runs}


def _mean_sd(values: Sequence[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def _gain(values: Sequence[float]) -> str:
    """Mean ± sd of the paired differences (same labels and seed, with minus without)."""
    return f"{np.mean(values):+.3f} ± {np.std(values):.3f}"


def summary(results: dict[str, Any]) -> str:
    """A markdown table: per data set, labels and strategy, the accuracy without and with each adaptation
    (mean ± sd over seeds), the gain (mean ± sd of the paired differences), and the seconds the classifier and the adaptation cost."""
    runs = results["runs"]
    variants = list(dict.fromkeys(r["model"] for r in runs if r["model"] != BASE))
    adapt_seconds = {(a["dataset"], a["variant"]): a["seconds"] for a in results["adaptations"]}
    head = "| data | labels | seeds | strategy | without adaptation |"
    rule = "|---|---|---|---|---|"
    for v in variants:
        head += f" with {v} | gain ({v}) |"
        rule += "---|---|"
    lines = [head + " classifier time (without / with) | adaptation time (once) |", rule + "---|---|"]
    keys = list(dict.fromkeys((r["dataset"], r["labels"], r["strategy"]) for r in runs))
    for dataset, n, strategy in keys:
        rows = [r for r in runs if (r["dataset"], r["labels"], r["strategy"]) == (dataset, n, strategy)]
        base = {r["seed"]: r for r in rows if r["model"] == BASE}
        mark = " (recommended)" if any(r["recommended"] for r in rows) else ""
        cells = [dataset, f"{n:,}", str(len(base)), strategy + mark, _mean_sd([r["accuracy"] for r in base.values()])]
        times = [f"{np.mean([r['seconds'] for r in base.values()]):.0f} s"]
        adapt_times = []
        for v in variants:
            mine = {r["seed"]: r for r in rows if r["model"] == v}
            paired = [mine[s]["accuracy"] - base[s]["accuracy"] for s in mine if s in base]
            cells += [
                _mean_sd([r["accuracy"] for r in mine.values()]) if mine else "",
                _gain(paired) if paired else "",
            ]
            times.append(f"{np.mean([r['seconds'] for r in mine.values()]):.0f} s" if mine else "–")
            adapt_times.append(f"{adapt_seconds[dataset, v]:.0f} s" if (dataset, v) in adapt_seconds else "–")
        lines.append("| " + " | ".join(cells + [" / ".join(times), " / ".join(adapt_times)]) + " |")
    return "\n".join(lines)


def main(args) -> int:
    if args.table:
        files = [json.loads(Path(f).read_text(encoding="utf-8")) for f in args.table.split(",")]
        print(summary({k: [x for f in files for x in f[k]] for k in ("adaptations", "runs")}))
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    seeds = seeds_for(args.labels, args.seeds)
    variants = [(m, s, args.adapt_learning_rate) for m in args.adapt_methods for s in args.steps]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="adapt-bench-") as tmp:
        workdir = Path(tmp)
        os.environ.setdefault("TRANSFERLAB_HOME", str(workdir / "home"))  # a private, cold feature cache and queue
        pairs = {name: PAIRS[name]() for name in args.datasets}
        adaptations_dir = Path(args.workdir) if args.workdir else None
        results = run(
            pairs, args.labels, seeds, variants, args.strategies, workdir, args.threads, MODEL, print, adaptations_dir
        )
    results = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench " + " ".join(sys.argv[1:]),
        "setup": {
            "model": MODEL,
            "threads": args.threads,
            "data": {
                n: {"unlabeled": len(p.unlabeled), "pool": len(p.pool), "test": len(p.test)} for n, p in pairs.items()
            },
            "seeds": {str(k): v for k, v in seeds.items()},
        },
        "seconds": time.perf_counter() - started,
        **results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(summary(results))
    print(f"\nResults in {out} ({results['seconds'] / 60:.1f} min).")
    return 0
