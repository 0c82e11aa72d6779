"""``python -m engine.data FILE [--text-column C] [--label-column L]``: check a labeled file before uploading it.

Prints what training would make of it as JSON (columns, rows, examples per class, text lengths, what is
dropped and what needs a look), read in one pass without holding the rows (``engine.data.summary``).
Exit codes: 0 read, 2 a problem with the file (said in words on stderr).
"""

from __future__ import annotations

import argparse
import sys

from engine.core.errors import DataError
from engine.data.summary import summarize, summary_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.data", description=__doc__.split("\n\n")[1])
    parser.add_argument("file", help="A labeled table: CSV, TSV, JSON/JSONL, Parquet or Excel.")
    parser.add_argument("--text-column", help="Column holding the text (guessed if unset).")
    parser.add_argument("--label-column", help="Column holding the label (guessed if unset).")
    args = parser.parse_args(argv)
    try:
        summary = summarize(args.file, args.text_column, args.label_column)
    except DataError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    print(summary_json(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
