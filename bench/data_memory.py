"""Peak memory of reading, and of starting to train on, a labeled file against its number of rows:
``python -m bench.data_memory``.

Writes CSVs of short review-like texts (about 200 characters, three classes) with 100,000, 1,000,000 and
3,000,000 rows, then measures in a fresh process each: the peak resident memory of the one-pass summary
(``python -m engine.data FILE``) and, up to the upload limit, of the whole-file training loader
(``engine.data.text.load_text_dataset``). With ``--train``, also a training run's setup and first
``--steps`` optimizer steps (``python -m bench.train_memory``: load and split, model and max length,
tokenising, the Trainer) through the large-file path (texts and token ids in memory-mapped Arrow files) and,
up to the upload limit, through the whole-file path (lists in memory). Prints a markdown table and writes
``bench/results/data_memory.json``.

    python -m bench.data_memory [--rows 100000,1000000,3000000] [--train [--steps 5] [--model minilm]]
        [--folder /tmp/transferlab-data-memory] [--out JSON]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

from engine.core.formats import MAX_FILE_BYTES

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "data_memory.json"
WORDS = (
    "the a film movie plot actor story scene good bad great boring slow funny moving script ending music "
    "character director best worst long short love hate fine dull brilliant awful charming predictable"
).split()
LOADER = "import sys; from engine.data.text import load_text_dataset; print(len(load_text_dataset(sys.argv[1])))"


def write_file(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        f.write("text,label\n")
        for i in range(rows):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(25, 45)))
            f.write(f"{text} {i},{('positive', 'negative', 'mixed')[rng.randrange(3)]}\n")


def peak_mb(cmd: list[str]) -> tuple[float, float]:
    """(peak resident MB, seconds) of a command run in a fresh child process."""
    wrapper = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, check=True, cwd=ROOT)
    mb, seconds = out.stdout.split()
    return float(mb), float(seconds)


def training(path: Path, loader: str, steps: int, model: str) -> dict:
    """``bench.train_memory``'s JSON line for a run on ``path`` through ``loader`` ("arrow" or "whole-file")."""
    cmd = [
        sys.executable,
        "-m",
        "bench.train_memory",
        str(path),
        f"--{loader}",
        "--steps",
        str(steps),
        "--model",
        model,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cell(run: dict | None) -> str:
    """A training column's cell: peak resident memory (of it private to the process), and the time."""
    if not run:
        return "over the upload limit"
    memory = run["memory_mb"]
    return f"{memory['VmHWM']:,.0f} MB ({run['peak_private_mb']:,.0f} MB private; {run['total_seconds']:,.0f} s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.data_memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="100000,1000000,3000000")
    parser.add_argument("--folder", default="/tmp/transferlab-data-memory")
    parser.add_argument("--out", default=str(RESULTS), help="Where to write the JSON results.")
    parser.add_argument("--train", action="store_true", help="Also measure a run's setup and first steps.")
    parser.add_argument("--steps", type=int, default=5, help="Optimizer steps of each measured run.")
    parser.add_argument("--model", default="minilm", help="The model the measured runs fine-tune (LoRA).")
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    results = []
    for rows in (int(r) for r in args.rows.split(",")):
        path = folder / f"reviews-{rows}.csv"
        if not path.is_file():
            write_file(path, rows)
        size = path.stat().st_size
        summary_mb, summary_s = peak_mb([sys.executable, "-m", "engine.data", str(path)])
        loader = peak_mb([sys.executable, "-c", LOADER, str(path)]) if size <= MAX_FILE_BYTES else (None, None)
        results.append(
            {
                "rows": rows,
                "file_mb": round(size / 1024**2, 1),
                "summary_peak_mb": round(summary_mb, 1),
                "summary_seconds": round(summary_s, 1),
                "loader_peak_mb": loader[0] and round(loader[0], 1),
                "loader_seconds": loader[1] and round(loader[1], 1),
            }
        )
        if args.train:
            results[-1]["train_arrow"] = training(path, "arrow", args.steps, args.model)
            whole = training(path, "whole-file", args.steps, args.model) if size <= MAX_FILE_BYTES else None
            results[-1]["train_whole_file"] = whole
        print(json.dumps(results[-1]), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"measured": time.strftime("%Y-%m-%d"), "results": results}, indent=2) + "\n")
    train = all("train_arrow" in r for r in results)
    head = "| rows | file | summary: peak memory (time) | training loader: peak memory (time) |"
    if train:
        head += f" training, large-file path: setup and {args.steps} steps | the same, whole-file path |"
    print(f"\n{head}\n|{'---|' * (head.count('|') - 1)}")
    for r in results:
        loader = (
            f"{r['loader_peak_mb']:,.0f} MB ({r['loader_seconds']:.0f} s)"
            if r["loader_peak_mb"]
            else "over the upload limit"
        )
        line = (
            f"| {r['rows']:,} | {r['file_mb']:,.0f} MB | {r['summary_peak_mb']:,.0f} MB ({r['summary_seconds']:.0f} s) "
            f"| {loader} |"
        )
        if train:
            line += f" {cell(r['train_arrow'])} | {cell(r['train_whole_file'])} |"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
