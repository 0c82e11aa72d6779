"""A learning curve: how the score grows with the number of labeled examples.

    python -m engine.curve --config runs/x/config.json --fractions 0.1,0.25,0.5,1 --out runs/x/curve

For each fraction, the run's strategy trains on that share of the run's training split, taken per
class (``engine.core.studies.stratified_subset``: a smaller share's examples are always among a
larger one's), with the run's validation and test splits unchanged; the classical baseline is fitted
on the same examples. Every point is a run directory under ``OUT/runs/``; ``OUT/curve.json`` holds
the points and a sentence on where the curve flattens (``engine.core.studies.curve_summary``).
Flags after --config override its settings (e.g. ``--epochs 1``). Exit codes as ``engine.train``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from engine.core.config import TrainConfig
from engine.core.studies import (
    CLASSICAL,
    CURVE_FILE,
    DEFAULT_FRACTIONS,
    curve_summary,
    parse_fractions,
    stratified_subset,
)
from engine.core.tasks import get_task
from engine.training.study import Study, run_study, study_parser

log = logging.getLogger("engine.curve")


def _fractions(text: str) -> list[float]:
    try:
        return parse_fractions(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = study_parser(
        "python -m engine.curve",
        "Train a run's strategy (and a classical baseline) on growing shares of its training split, "
        "tested on the same test split, and write curve.json.",
    )
    parser.add_argument(
        "--fractions",
        type=_fractions,
        default=list(DEFAULT_FRACTIONS),
        help="Shares of the training split, comma-separated (default: 0.1,0.25,0.5,1).",
    )
    return parser


def classical_point(metrics: dict[str, Any], config: TrainConfig, splits) -> dict[str, Any] | None:
    """The classical baseline on the point's examples: the one its run scored, else fitted here."""
    classical = (metrics.get("baselines") or {}).get(CLASSICAL)
    if classical is None:
        from engine.training.baselines import classical_baseline

        classical = classical_baseline(
            get_task(config.task), splits.train, splits.test, splits.label_names, config.seed
        )
    if classical is None:
        return None
    scores = {k: classical[k] for k in ("accuracy", "macro_f1", "accuracy_ci", "macro_f1_ci")}
    return {**scores, "train_seconds": classical.get("seconds"), "run": None, "name": classical.get("name")}


def curve(study: Study, config: TrainConfig, fractions: list[float]) -> str:
    """Train every point, rewriting curve.json after each; returns the summary."""
    from engine.data.dataset import Splits
    from engine.training.trainer import load_splits

    splits, notes = load_splits(config)
    unit = get_task(config.task).unit
    points: list[dict[str, Any]] = []
    summary = ""
    for i, fraction in enumerate(fractions):
        study.check_cancel()
        picked = stratified_subset(splits.train.labels, fraction, config.seed)
        part = Splits(splits.train.subset(picked), splits.validation, splits.test, list(splits.label_names))
        n = len(part.train)
        name = f"{config.strategy}-{fraction * 100:g}pct"
        said = f"{fraction:.0%} of the training {unit}s ({n:,})"
        study.progress(i, len(fractions), f"Training {config.strategy} on {said}", study.path / "runs" / name)
        log.info("point %d of %d: %s on %s", i + 1, len(fractions), config.strategy, said)
        note = f"Learning curve: {said}, per class; the validation and test splits are the full run's."
        # The full split's notes count its training examples: they hold for the whole split only.
        scores, metrics = study.train_point(config, (part, [*notes, note] if fraction == 1 else [note]), name, note)
        points.append({"fraction": fraction, "examples": n, "method": config.strategy, **scores})
        classical = classical_point(metrics, config, part)
        if classical is not None:
            points.append({"fraction": fraction, "examples": n, "method": CLASSICAL, **classical})
        summary = curve_summary(points, unit)
        study.write(CURVE_FILE, {"config": config.to_dict(), "points": points, "summary": summary})
    return summary


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_study(args, "curve", lambda study, config: curve(study, config, args.fractions))


if __name__ == "__main__":
    sys.exit(main())
