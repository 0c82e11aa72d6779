"""Time and peak memory of the frozen strategy's head fit against the number of training examples:
``python -m bench.head_scale``.

The frozen and few-shot strategies end by fitting a logistic regression on the backbone's features
(``engine.training.head.fit_head``): 11 strengths x 5 folds of cross-validation, then one fit on every
example. Beyond ``HEAD_CV_ROWS`` examples the search runs on a sample of them; ``--search-all`` times the
search on every example instead (what the head did before). Each size runs in a fresh process on synthetic
384-dimensional features (MiniLM's width) of three overlapping classes, one thread, and prints a markdown
table; ``--out`` writes the figures as JSON.

    python -m bench.head_scale [--rows 20000,100000,1000000] [--search-all 20000,100000] [--out JSON]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FEATURES = 384
CLASSES = 3


def one(rows: int, search_all: bool) -> dict:
    """Fit the head once on ``rows`` synthetic examples (in this process) and report it."""
    import numpy as np

    from engine.training import head

    if search_all:
        head.HEAD_CV_ROWS = rows  # the search on every example, as before HEAD_CV_ROWS
    rng = np.random.default_rng(0)
    y = rng.integers(0, CLASSES, rows)
    x = rng.standard_normal((rows, FEATURES), dtype=np.float32)  # drawn in float32: the peak is the head's
    x[np.arange(rows), y] += 0.5  # overlapping classes: the best C is not the largest
    start = time.perf_counter()
    fit = head.fit_head(x, y, CLASSES)
    seconds = time.perf_counter() - start
    held = rng.integers(0, CLASSES, 20_000)
    x_held = rng.standard_normal((20_000, FEATURES), dtype=np.float32)
    x_held[np.arange(20_000), held] += 0.5
    accuracy = float(((head.normalise(x_held) @ fit.weight.T + fit.bias).argmax(1) == held).mean())
    return {
        "rows": rows,
        "search": "every example" if search_all else f"sample of {fit.cv_rows:,}",
        "seconds": round(seconds, 1),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "C": fit.C,
        "heldout_accuracy": round(accuracy, 4),
    }


def measure(rows: int, search_all: bool) -> dict:
    command = [sys.executable, "-m", "bench.head_scale", "--one", str(rows)] + (["--all"] if search_all else [])
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.head_scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=sizes, default=sizes("20000,100000,1000000"), help="Sizes, comma-separated.")
    parser.add_argument("--search-all", type=sizes, default=sizes("20000,100000"), help="Sizes to time as before.")
    parser.add_argument("--out", default=None, metavar="PATH", help="Also write the figures as JSON.")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--all", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(one(args.one, args.all)))
        return 0
    results = [measure(n, True) for n in args.search_all] + [measure(n, False) for n in args.rows]
    print("| examples | C searched on | seconds | peak MB | C | held-out accuracy |\n|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['rows']:,} | {r['search']} | {r['seconds']} | {r['peak_mb']:,} | {r['C']} | {r['heldout_accuracy']} |"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
