"""Peak memory of reading a labeled file against its number of rows: ``python -m bench.data_memory``.

Writes CSVs of short review-like texts (about 200 characters, three classes) with 100,000, 1,000,000 and
3,000,000 rows, then measures in a fresh process each: the peak resident memory of the one-pass summary
(``python -m engine.data FILE``) and, up to the upload limit, of the whole-file training loader
(``engine.data.text.load_text_dataset``). Prints a markdown table and writes ``bench/results/data_memory.json``.

    python -m bench.data_memory [--rows 100000,1000000,3000000] [--folder /tmp/transferlab-data-memory] [--out JSON]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.data_memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="100000,1000000,3000000")
    parser.add_argument("--folder", default="/tmp/transferlab-data-memory")
    parser.add_argument("--out", default=str(RESULTS), help="Where to write the JSON results.")
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
        print(json.dumps(results[-1]), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"measured": time.strftime("%Y-%m-%d"), "results": results}, indent=2) + "\n")
    print("\n| rows | file | summary: peak memory (time) | training loader: peak memory (time) |\n|---|---|---|---|")
    for r in results:
        loader = (
            f"{r['loader_peak_mb']:,.0f} MB ({r['loader_seconds']:.0f} s)"
            if r["loader_peak_mb"]
            else "over the upload limit"
        )
        print(
            f"| {r['rows']:,} | {r['file_mb']:,.0f} MB | {r['summary_peak_mb']:,.0f} MB ({r['summary_seconds']:.0f} s) | {loader} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
