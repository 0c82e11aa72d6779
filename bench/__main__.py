"""python -m bench: the performance benchmark (see bench/__init__.py for what it measures)."""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench.figures import ROOT, SPAM, Plan
from bench.selection import FIGURES, PlanError, fit_plan, parse_only, training_examples_needed

DEFAULT_OUT = ROOT / "bench" / "results.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure TransferLab's training and inference speed on the bundled MiniLM and the demo spam "
        "e-mails (or your own labeled file: --data), print a table and write every figure to a JSON file.",
    )
    parser.add_argument(
        "--data",
        default=None,
        metavar="FILE",
        help="A labeled file to measure on instead of the demo e-mails (any format training reads: CSV, TSV, "
        "JSON/JSONL, Parquet, Excel). The figures use the engine's own seeded split of it, capped by what it holds.",
    )
    parser.add_argument("--text-column", default=None, metavar="NAME", help="--data's text column (guessed if unset).")
    parser.add_argument(
        "--label-column", default=None, metavar="NAME", help="--data's label column (guessed if unset)."
    )
    parser.add_argument(
        "--only",
        default=None,
        metavar="FIG,FIG",
        help=f"Measure only these figures: {', '.join(FIGURES)} (inference also runs padding, whose model it "
        "loads). The others show as 'not run'.",
    )
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="torch's CPU threads (default: all).")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="A tiny model built on the fly and a few hundred rows: checks that every figure is produced (CI).",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, metavar="N", help="Timed repeats per figure, after one warm-up."
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help=f"Seed of the split, the samples, the initialisation and the batches (default {Plan.seed}): another "
        "seed is another draw, to see how much an accuracy moves by chance.",
    )
    parser.add_argument("--out", default=str(DEFAULT_OUT), metavar="PATH", help="Where to write the JSON results.")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="Where to run.")
    parser.add_argument(
        "--train-size",
        type=int,
        default=None,
        metavar="N",
        help=f"Training examples for the throughput figures (default {Plan.train_size}; about 15-20 minutes in all "
        "on a 2-core CPU).",
    )
    parser.add_argument(
        "--test-size", type=int, default=None, metavar="N", help=f"Test texts (default {Plan.test_size})."
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="Also profile a few full fine-tuning steps with torch.profiler (table in profile.txt next to --out).",
    )
    few = parser.add_argument_group(
        "few-shot benchmark (--few-shot; needs bench/requirements.txt: make bench-install)",
        "8 to 64 labeled examples per class on public data shipped in packages, TransferLab beside TF-IDF and "
        "the setfit library (bench/fewshot.py).",
    )
    few.add_argument("--few-shot", action="store_true", help="Run the few-shot benchmark instead.")
    few.add_argument("--datasets", type=lambda s: s.split(","), default=None, metavar="A,B")
    few.add_argument("--shots", type=lambda s: [int(x) for x in s.split(",")], default=[8, 16, 32, 64], metavar="8,16")
    few.add_argument(
        "--seeds",
        type=_ints,
        default=None,
        metavar="N",
        help="Samples (and training seeds) per size (default 3; --adapt: 3,3,2, one count per --labels size or one for all).",
    )
    few.add_argument(
        "--methods",
        type=lambda s: s.split(","),
        default=["tfidf", "frozen", "setfit", "lora", "setfit-library"],
        metavar="A,B",
        help="tfidf, setfit-library, or any TransferLab strategy.",
    )
    ad = parser.add_argument_group(
        "domain adaptation benchmark (--adapt; needs bench/requirements.txt: make bench-install)",
        "The classifier with and without adapting MiniLM to the unlabeled texts of the domain first, at 100, 300 "
        "and 1,000 labels (bench/adapt.py). --datasets picks the data sets (default: both).",
    )
    ad.add_argument("--adapt", action="store_true", help="Run the domain adaptation benchmark instead.")
    ad.add_argument("--labels", type=_ints, default=[100, 300, 1000], metavar="100,300", help="Labeled examples.")
    ad.add_argument(
        "--steps",
        type=_ints,
        default=[0],
        metavar="N,M",
        help="Adaptation steps; several adapt once each (0: engine.adapt's default, one pass over the texts).",
    )
    ad.add_argument("--adapt-methods", type=lambda s: s.split(","), default=["mlm"], metavar="mlm,tsdae")
    ad.add_argument("--adapt-learning-rate", type=float, default=None, metavar="X", help="Default: the method's.")
    ad.add_argument(
        "--strategies",
        type=lambda s: s.split(","),
        default=["recommended", "frozen"],
        metavar="A,B",
        help="recommended (what TransferLab recommends at each size) or any TransferLab strategy.",
    )
    ad.add_argument("--workdir", default=None, metavar="DIR", help="Keep the adaptations here, to reuse in later runs.")
    ad.add_argument(
        "--table",
        default=None,
        metavar="FILE.json",
        help="Print the table of earlier results (A.json,B.json: of several together).",
    )
    return parser


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def make_plan(args: argparse.Namespace, figures: tuple[str, ...] = tuple(FIGURES)) -> Plan:
    if args.repeats < 1:
        raise SystemExit("--repeats must be 1 or more")
    plan = Plan(repeats=args.repeats)
    if args.quick:
        plan = Plan(
            quick=True,
            train_size=128,
            validation_size=32,
            test_size=64,
            frozen_size=32,
            frozen_validation_size=16,
            warmup=1,
            window=2,
            repeats=args.repeats,
            matmul_sizes=(256, 512),
            matmul_tries=3,
        )
    if args.train_size is not None:
        plan.train_size = args.train_size
    if args.test_size is not None:
        plan.test_size = args.test_size
    if args.seed is not None:
        plan.seed = args.seed
    needed = training_examples_needed(plan, figures)
    if plan.train_size < needed:
        raise SystemExit(f"--train-size must be at least {needed} for {plan.repeats} repeats")
    return plan


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _public(d):
    """The results without the figures' private working data (keys starting with _)."""
    if isinstance(d, dict):
        return {k: _public(v) for k, v in d.items() if not str(k).startswith("_")}
    if isinstance(d, list):
        return [_public(v) for v in d]
    return d


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.adapt:
        from bench import adapt

        if args.out == str(DEFAULT_OUT):
            args.out = str(ROOT / "bench" / "results" / "adapt.json")
        args.datasets = args.datasets or list(adapt.DATASETS)
        args.seeds = args.seeds or [3, 3, 2]
        return adapt.main(args)
    if args.few_shot:
        from bench import fewshot

        if args.out == str(DEFAULT_OUT):
            args.out = str(ROOT / "bench" / "fewshot.json")
        args.datasets = args.datasets or ["rotten_tomatoes"]
        if args.seeds is not None and len(args.seeds) != 1:
            raise SystemExit("--few-shot takes one --seeds count")
        args.seeds = args.seeds[0] if args.seeds else 3
        return fewshot.main(args)
    try:
        figures_run = parse_only(args.only)
    except PlanError as exc:
        raise SystemExit(str(exc)) from None
    plan = make_plan(args, figures_run)
    data = Path(args.data).expanduser() if args.data else SPAM
    if not data.exists():
        raise SystemExit(f"--data: {data} does not exist")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    out = Path(args.out)
    workdir = Path(tempfile.mkdtemp(prefix="transferlab-bench-"))
    os.environ["TRANSFERLAB_HOME"] = str(workdir / "home")  # a private, cold feature cache
    started = time.time()
    from bench.measure import CpuMeter

    run_meter = CpuMeter()

    def progress(message: str) -> None:
        print(f"[{time.time() - started:6.0f} s] {message}", flush=True)

    try:
        from transformers.utils import logging as hf_logging

        from bench import figures
        from bench.measure import machine, matmul_peak
        from engine.core.errors import TransferLabError

        hf_logging.set_verbosity_error()
        source = _shown(data)
        progress(f"reading {source}")
        model, model_label = "minilm", "MiniLM (minilm)"
        try:
            splits = figures.load_data(plan, model, data, args.text_column, args.label_column)
            available = {k: len(getattr(splits, k)) for k in ("train", "validation", "test")}
            plan, caps = fit_plan(plan, available, figures_run, source)
        except (TransferLabError, PlanError) as exc:
            raise SystemExit(str(exc)) from None
        for note in caps:
            progress(f"capped: {note}")
        if plan.quick:
            from bench.tiny import build_tiny_bert

            model = str(build_tiny_bert(workdir / "tiny-bert", splits.train.texts[:500], plan.max_length))
            model_label = "a tiny 2-layer BERT built on the fly (--quick)"
        progress(f"loading {model_label}")
        b = figures.prepare(plan, args.device, model, splits, data, workdir, threads=args.threads)
        results = {
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
            "quick": plan.quick,
            "machine": machine(b.device),
            "setup": {
                "model": model_label,
                "data": source,
                "text_column": b.text_column,
                "label_column": b.label_column,
                "classes": b.label_names,
                "figures": list(figures_run),
                "capped": caps,
                "train_examples": len(b.train),
                "validation_examples": len(b.validation),
                "test_examples": len(b.test),
                "subsets": "seeded random samples of the engine's own train/validation/test split (seed 42)",
                "batch_size": plan.batch_size,
                "max_length": plan.max_length,
                "repeats": plan.repeats,
                "plan": asdict(plan),
            },
            "figures": {},
            "not_run": [name for name in FIGURES if name not in figures_run],
        }
        f = results["figures"]
        gpu_figure = b.device.kind == "cuda" and args.only is None
        if "overhead" in figures_run or gpu_figure:
            progress("matmul peak")
            sizes = plan.matmul_sizes if b.device.kind == "cpu" or plan.quick else (4096, 8192)
            results["matmul_peak"] = matmul_peak(b.device.kind, sizes, plan.matmul_tries)

        def measure(key: str, title: str, fn, *fn_args):
            progress(title)
            meter = CpuMeter()
            value = fn(*fn_args)
            figure = value[0] if isinstance(value, tuple) else value
            figure["other_processes_cpu_share"] = meter.others_share()
            f[key] = figure
            return value

        if "overhead" in figures_run:
            title = "figure 1: engine vs bare PyTorch loop (full fine-tuning)"
            measure("overhead", title, figures.figure_overhead, b)
            f["flops"] = figures.figure_flops(f["overhead"], results["matmul_peak"])
        if "padding" in figures_run:
            title = "figure 2: engine vs standard recipe (one LoRA epoch each)"
            _, model_dir = measure("padding", title, figures.figure_padding, b)
        if "inference" in figures_run:
            measure("inference", "figure 6: inference with engine.predict", figures.figure_inference, b, model_dir)
        if "frozen" in figures_run:
            title = "figure 3: frozen, cached features vs backbone every epoch"
            measure("frozen_cache", title, figures.figure_frozen, b)
        if "lora_full" in figures_run:
            measure("lora_vs_full", "figure 4: lora vs full, each in a fresh process", figures.figure_lora_full, b)
        if gpu_figure:
            measure(
                "bert_base_gpu",
                "GPU: BERT-base-sized full fine-tuning",
                figures.figure_bert_base,
                b,
                results["matmul_peak"],
            )
        if args.profile:
            progress("profile of full fine-tuning steps")
            results["profile"] = figures.profile_full(b, out.parent / "profile.txt")
        from bench.report import ratios, table, targets

        results["ratios"] = ratios(f)
        results["targets"] = targets(results)
        results["seconds"] = time.time() - started
        results["other_processes_cpu_share"] = run_meter.others_share()
        results = _public(results)
        bad = [k for k, v in results["ratios"].items() if not _finite(v)]
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, out)
        print()
        print(table(results))
        print(f"\nAll figures in {out} ({results['seconds'] / 60:.1f} min).")
        if bad:
            print(f"Not finite: {', '.join(bad)}", file=sys.stderr)
            return 1
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _shown(path: Path) -> str:
    """The data file as the results name it: relative to the repository when it is inside it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


if __name__ == "__main__":
    sys.exit(main())
