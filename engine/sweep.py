"""A strategy sweep: several strategies trained on the same data, tested on the same test split.

    python -m engine.sweep --config runs/x/config.json --strategies frozen,partial,lora,full --out runs/x/sweep

The test split is cut once, as the run's own (same seed, same share per class); each strategy then
holds out its validation split from the rest by its own rule, as a run of it would. Every strategy
is a run directory under ``OUT/runs/``; ``OUT/sweep.json`` holds accuracy, time to train and
trainable parameters of each, the Pareto front (no other strategy both more accurate and faster)
and a recommendation drawn from these measurements (``engine.core.studies.sweep_summary``). A
learning rate in the config belongs to its strategy; the others use their own default.
Exit codes as ``engine.train``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from engine.core.config import TrainConfig
from engine.core.errors import ConfigError
from engine.core.strategies import STRATEGIES, strategies_for
from engine.core.studies import DEFAULT_STRATEGIES, SWEEP_FILE, mark_pareto, strategy_config, sweep_summary
from engine.core.tasks import get_task
from engine.training.study import Study, run_study, study_parser

log = logging.getLogger("engine.sweep")


def _strategies(text: str) -> list[str]:
    names = list(dict.fromkeys(part.strip() for part in str(text).split(",") if part.strip()))
    unknown = [n for n in names if n not in STRATEGIES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"--strategies '{text}': {'unknown ' + ', '.join(unknown) if unknown else 'none given'}; "
            f"choose among {', '.join(STRATEGIES)}."
        )
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = study_parser(
        "python -m engine.sweep",
        "Train several strategies on the same data and test split, and write sweep.json with the Pareto front "
        "(accuracy against time to train) and a recommendation.",
    )
    parser.add_argument(
        "--strategies",
        type=_strategies,
        default=list(DEFAULT_STRATEGIES),
        help="Strategies to train, comma-separated (default: frozen,partial,lora,full).",
    )
    return parser


def shared_test_split(config: TrainConfig):
    """(the examples left to train and validate on, the validation file's examples or None, the test split):
    the test split cut as the run's own (the seeded per-class split), or the run's test file."""
    from engine.data.dataset import make_splits

    load = get_task(config.task).load("loader")
    data = load(config)
    validation = load(config, config.validation_data, label_names=data.label_names) if config.validation_data else None
    if config.test_data:
        return data, validation, load(config, config.test_data, label_names=data.label_names)
    cut = make_splits(data, validation_fraction=0.0, test_fraction=config.test_fraction, seed=config.seed)
    return cut.train, validation, cut.test


def sweep(study: Study, config: TrainConfig, strategies: list[str]) -> str:
    """Train every strategy, rewriting sweep.json after each; returns the recommendation."""
    from engine.data.dataset import training_splits

    available = strategies_for(config.task)
    missing = [s for s in strategies if s not in available]
    if missing:
        raise ConfigError(
            f"{', '.join(missing)} cannot train on {get_task(config.task).examples}; choose among {', '.join(available)}."
        )
    pool, validation, test = shared_test_split(config)
    points: list[dict[str, Any]] = []
    summary = ""
    for i, strategy in enumerate(strategies):
        study.check_cancel()
        point_config = strategy_config(config, strategy)
        splits = training_splits(
            pool,
            validation=validation,
            test=test,
            validation_fraction=config.validation_fraction,
            test_fraction=config.test_fraction,
            seed=config.seed,
            uses_validation=STRATEGIES[strategy].uses_validation,
        )
        study.progress(i, len(strategies), f"Training {strategy}", study.path / "runs" / strategy)
        log.info("strategy %d of %d: %s", i + 1, len(strategies), strategy)
        note = f"Strategy sweep: {strategy}, on the same test split as the other strategies."
        scores, metrics = study.train_point(point_config, splits, strategy, note)
        points.append({"strategy": strategy, **scores, "trainable_params": metrics["trainable_params"]})
        points = mark_pareto(points)
        summary = sweep_summary(points)
        study.write(SWEEP_FILE, {"config": config.to_dict(), "points": points, "summary": summary})
    return summary


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_study(args, "sweep", lambda study, config: sweep(study, config, args.strategies))


if __name__ == "__main__":
    sys.exit(main())
