"""``python -m engine.export --run RUN_DIR --format FORMAT --out PATH``: see :mod:`engine.export`."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys

from engine.core.errors import TransferLabError
from engine.core.exports import EXPORT_FORMATS
from engine.core.logs import add_verbose_flag, setup_logging

log = logging.getLogger("engine.export")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine.export", description="Export a trained run's model to take it out of TransferLab."
    )
    parser.add_argument("--run", required=True, help="Run directory of a completed training run.")
    parser.add_argument(
        "--format",
        required=True,
        choices=list(EXPORT_FORMATS),
        help="; ".join(f"{f.name}: {f.describe}" for f in EXPORT_FORMATS.values()),
    )
    parser.add_argument("--out", required=True, help="Folder (or, for zip, file) to write; must not exist yet.")
    add_verbose_flag(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    fmt = EXPORT_FORMATS[args.format]
    try:
        exporter = importlib.import_module(fmt.module)
        result = exporter.export(args.run, args.out, fmt.name)
    except TransferLabError as exc:
        log.error("Error: %s", exc)
        return 2
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
