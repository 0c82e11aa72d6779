"""The report of one or more runs, for people who were not there: one HTML file that opens offline.

    python -m engine.report --run RUN_DIR --out report.html
    python -m engine.report --run RUN_A --run RUN_B --out compare.html --pdf compare.pdf

Exit codes: 0 written, 2 a problem with the input (not a completed run, no Chromium for the PDF:
the HTML report is written first and stays).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from engine.core.errors import TransferLabError
from engine.core.logs import add_verbose_flag, setup_logging

log = logging.getLogger("engine.report")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine.report",
        description="Write a self-contained HTML report (and a PDF) of completed training runs, to share offline.",
    )
    parser.add_argument(
        "--run", action="append", required=True, metavar="RUN_DIR", help="A completed run; repeat to compare runs."
    )
    parser.add_argument("--out", required=True, help="Where to write the HTML report.")
    parser.add_argument("--pdf", help="Also print the report to this PDF file (needs Chromium).")
    parser.add_argument(
        "--no-explanations",
        action="store_true",
        help="Leave out the explanations of the example predictions (they load the model: slower).",
    )
    add_verbose_flag(parser)
    return parser


def write_report(runs: list[str], out: str | Path, explain: bool = True) -> Path:
    from engine.report.build import build_report

    document = build_report(runs, explain=explain)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(document, encoding="utf-8")
    os.replace(tmp, out)
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    started = time.perf_counter()
    try:
        out = write_report(args.run, args.out, explain=not args.no_explanations)
        print(f"Wrote the report to {out} ({out.stat().st_size / 1e6:.1f} MB, {time.perf_counter() - started:.1f} s)")
        if args.pdf:
            from engine.report.pdf import print_pdf

            pdf = print_pdf(out, args.pdf)
            print(f"Wrote the PDF to {pdf} ({time.perf_counter() - started:.1f} s in all)")
    except TransferLabError as exc:
        log.error("Error: %s", exc)
        return 2
    except OSError as exc:
        log.error("Error: could not write the report (%s).", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
