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

DEFAULT_OUT = ROOT / "bench" / "results.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure TransferLab's training and inference speed on the bundled MiniLM and the demo spam "
        "e-mails, print a table and write every figure to a JSON file.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="A tiny model built on the fly and a few hundred rows: checks that every figure is produced (CI).",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, metavar="N", help="Timed repeats per figure, after one warm-up."
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
    ad.add_argument("--threads", type=int, default=None, metavar="N", help="torch's CPU threads (default: all).")
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


def make_plan(args: argparse.Namespace) -> Plan:
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
    needed = plan.batch_size * (plan.warmup + plan.repeats * plan.window)
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
    plan = make_plan(args)
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
        from bench.measure import CpuMeter, machine, matmul_peak

        hf_logging.set_verbosity_error()
        model, model_label = "minilm", "MiniLM (minilm)"
        if plan.quick:
            from bench.tiny import build_tiny_bert
            from engine.data.text import load_text_dataset

            texts = load_text_dataset(SPAM).texts[:500]
            model = str(build_tiny_bert(workdir / "tiny-bert", texts, plan.max_length))
            model_label = "a tiny 2-layer BERT built on the fly (--quick)"
        progress(f"loading {model_label} and the demo data")
        b = figures.prepare(plan, args.device, model, SPAM, workdir)
        results = {
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
            "quick": plan.quick,
            "machine": machine(b.device),
            "setup": {
                "model": model_label,
                "data": str(SPAM.relative_to(ROOT)),
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
        }
        f = results["figures"]
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

        measure("overhead", "figure 1: engine vs bare PyTorch loop (full fine-tuning)", figures.figure_overhead, b)
        f["flops"] = figures.figure_flops(f["overhead"], results["matmul_peak"])
        _, model_dir = measure(
            "padding", "figure 2: engine vs standard recipe (one LoRA epoch each)", figures.figure_padding, b
        )
        measure("inference", "figure 6: inference with engine.predict", figures.figure_inference, b, model_dir)
        measure("frozen_cache", "figure 3: frozen, cached features vs backbone every epoch", figures.figure_frozen, b)
        measure("lora_vs_full", "figure 4: lora vs full, each in a fresh process", figures.figure_lora_full, b)
        if b.device.kind == "cuda":
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
        from bench.report import table, targets

        results["ratios"] = {
            "engine_overhead_percent": f["overhead"]["overhead_percent"]["median"],
            "engine_vs_standard_samples_per_second": f["padding"]["speedup"],
            "engine_minus_standard_accuracy": f["padding"]["accuracy_difference"],
            "frozen_cached_speedup": f["frozen_cache"]["speedup"]["median"],
            "lora_over_full_samples_per_second": f["lora_vs_full"]["throughput_ratio_lora_over_full"],
            "full_over_lora_peak_memory": f["lora_vs_full"]["memory_ratio_full_over_lora"],
            "training_fraction_of_matmul_peak": f["flops"]["fraction_of_peak"]["median"],
        }
        if "bert_base_gpu" in f:
            results["ratios"]["bert_base_gpu_mfu"] = f["bert_base_gpu"]["mfu"]["median"]
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


if __name__ == "__main__":
    sys.exit(main())
