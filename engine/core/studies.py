"""Learning curves and strategy sweeps: the rules that turn their measurements into words.

One home for what ``engine.curve`` and ``engine.sweep`` decide and the dashboard shows: which
examples a fraction of the training set keeps, which strategies are on the Pareto front, and the
sentence each study ends with. Torch-free (the dashboard imports it).

>>> picked = stratified_subset([0, 0, 0, 0, 1, 1, 1, 1, 1, 1], 0.5, seed=0)  # half of each class
>>> [i for i in picked if i < 4], [i for i in picked if i >= 4]
([0, 2], [5, 7, 8])
>>> [p["pareto"] for p in mark_pareto([{"accuracy": 0.8, "train_seconds": 60}, {"accuracy": 0.7, "train_seconds": 90}])]
[True, False]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.core.strategies import strategies_for
from engine.core.words import format_seconds

CURVE_FOLDER = "curve"  # RUN_DIR/curve holds a learning curve started from the run's Results
SWEEP_FOLDER = "sweep"
CURVE_FILE = "curve.json"
SWEEP_FILE = "sweep.json"
DEFAULT_FRACTIONS = (0.1, 0.25, 0.5, 1.0)
DEFAULT_STRATEGIES = ("frozen", "partial", "lora", "full")
CLASSICAL = "classical"  # the method of a learning curve's classical baseline points


def parse_fractions(text: str) -> list[float]:
    """'0.1,0.25,1' as sorted, distinct fractions in (0, 1], or a ValueError that says what to write.

    >>> parse_fractions("1, 0.25,0.1")
    [0.1, 0.25, 1.0]
    """
    try:
        values = sorted({float(part) for part in str(text).split(",") if part.strip()})
    except ValueError:
        raise ValueError(f"--fractions '{text}' is not a list of numbers; write e.g. 0.1,0.25,0.5,1.") from None
    if not values or not all(0 < v <= 1 for v in values):
        raise ValueError(f"--fractions '{text}': each fraction must be above 0 and at most 1 (0.1 means 10%).")
    return values


def stratified_subset(labels: Sequence[int], fraction: float, seed: int = 42) -> list[int]:
    """Indices of ``fraction`` of the examples of each class (at least one per class), sorted.

    The same seed keeps a fixed order per class and takes its first part, so a smaller fraction's
    examples are always among a larger one's: the curve adds examples, it never swaps them.
    """
    labels = np.asarray(labels, dtype=int)
    picked: list[int] = []
    for label in np.unique(labels):
        order = np.random.default_rng([seed, int(label)]).permutation(np.flatnonzero(labels == label))
        picked += order[: max(1, round(len(order) * fraction))].tolist()
    return sorted(picked)


# --- the learning curve in words ---------------------------------------------------------------------
def _inside(value: float, interval: Sequence[float] | None) -> bool:
    return bool(interval) and interval[0] <= value <= interval[1]


def curve_summary(points: Sequence[dict[str, Any]], unit: str = "example") -> str:
    """Where the model's curve flattens, in one or two sentences.

    The rule: the last step (the two largest fractions) is compared with the 95% interval of the
    score on the whole training set. A gain inside that interval is not distinguishable from the
    test set's noise, so more labels of the same kind would help little; a gain beyond it means the
    curve still rises. The second sentence names the smallest fraction already inside that interval.

    >>> pts = [{"fraction": f, "examples": n, "method": "lora", "accuracy": a, "accuracy_ci": ci}
    ...        for f, n, a, ci in [(0.25, 600, 0.70, None), (0.5, 1200, 0.775, None), (1, 2400, 0.787, [0.76, 0.81])]]
    >>> print(curve_summary(pts))
    Going from 50% to 100% of the examples (1,200 → 2,400) added 1.2 points, inside the 95% interval: more labeled examples of the same kind would help little.
    """
    model = sorted((p for p in points if p.get("method") != CLASSICAL), key=lambda p: p["examples"])
    if len(model) < 2:
        return f"One point only: train on at least two fractions of the {unit}s to see where the curve flattens."
    prev, last = model[-2], model[-1]
    gain = 100 * (last["accuracy"] - prev["accuracy"])
    inside = _inside(prev["accuracy"], last.get("accuracy_ci"))
    step = (
        f"Going from {prev['fraction']:.0%} to {last['fraction']:.0%} of the {unit}s "
        f"({prev['examples']:,} → {last['examples']:,}) {'added' if gain >= 0 else 'lost'} {abs(gain):.1f} points"
    )
    if inside:
        text = f"{step}, inside the 95% interval: more labeled {unit}s of the same kind would help little."
    elif gain > 0:
        text = (
            f"{step}, beyond the 95% interval: the curve is still rising, and more labeled {unit}s would likely help."
        )
    else:
        text = f"{step}, beyond the 95% interval: the scores are noisy here; a larger test set would tell more."
    first = next((p for p in model[:-2] if _inside(p["accuracy"], last.get("accuracy_ci"))), None)
    if first is not None:
        text += (
            f" Already with {first['fraction']:.0%} ({first['examples']:,} {unit}s) the score was inside the "
            f"interval of the full set's."
        )
    return text


# --- the strategy sweep -----------------------------------------------------------------------------------
def strategy_config(config: Any, strategy: str) -> Any:
    """A run's config for one strategy of a sweep: a learning rate set for another strategy is not carried over
    (each strategy has its own default); everything else is kept."""
    rate = config.learning_rate if strategy == config.strategy else None
    return dataclasses.replace(config, strategy=strategy, learning_rate=rate)


def sweep_strategies(task: str) -> list[str]:
    """The strategies "Try every strategy" trains for ``task``, in the sweep's order."""
    available = strategies_for(task)
    return [s for s in DEFAULT_STRATEGIES if s in available]


def mark_pareto(points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The points with ``pareto`` set: True when no other point is at least as accurate and at least as
    fast, and better in one of the two (more accuracy for less time to train)."""

    def beaten(p: dict[str, Any]) -> bool:
        return any(
            q["accuracy"] >= p["accuracy"]
            and q["train_seconds"] <= p["train_seconds"]
            and (q["accuracy"] > p["accuracy"] or q["train_seconds"] < p["train_seconds"])
            for q in points
        )

    return [{**p, "pareto": not beaten(p)} for p in points]


def _interval(point: dict[str, Any]) -> str:
    ci = point.get("accuracy_ci")
    return f"{point['accuracy']:.2f}, 95% interval {ci[0]:.2f}–{ci[1]:.2f}" if ci else f"{point['accuracy']:.2f}"


def sweep_summary(points: Sequence[dict[str, Any]]) -> str:
    """The recommendation drawn from a sweep's measurements.

    The rule: the most accurate strategy (ties: the faster) is the reference; the fastest strategy
    whose accuracy lies inside its 95% interval is as good as far as this test set can tell, and is
    recommended when it is faster. Otherwise the most accurate one is.

    >>> pts = [{"strategy": "lora", "accuracy": 0.79, "accuracy_ci": [0.76, 0.82], "train_seconds": 300},
    ...        {"strategy": "frozen", "accuracy": 0.77, "accuracy_ci": [0.74, 0.80], "train_seconds": 60}]
    >>> print(sweep_summary(pts))
    lora was the most accurate (0.79, 95% interval 0.76–0.82, 5 min 0 s to train); frozen was within its interval in 1 min 0 s, 5.0× faster: choose frozen unless the last points of accuracy matter more than the time to train.
    """
    if not points:
        return "No strategy finished, so there is nothing to compare."
    best = max(points, key=lambda p: (p["accuracy"], -p["train_seconds"]))
    head = f"{best['strategy']} was the most accurate ({_interval(best)}, {format_seconds(best['train_seconds'])} to train)"
    if len(points) == 1:
        return head + "; it was the only strategy measured."
    close = [
        p
        for p in points
        if p is not best
        and _inside(p["accuracy"], best.get("accuracy_ci"))
        and p["train_seconds"] < best["train_seconds"]
    ]
    if close:
        fast = min(close, key=lambda p: p["train_seconds"])
        ratio = best["train_seconds"] / max(fast["train_seconds"], 1e-9)
        return (
            f"{head}; {fast['strategy']} was within its interval in {format_seconds(fast['train_seconds'])}, "
            f"{ratio:.1f}× faster: choose {fast['strategy']} unless the last points of accuracy matter more than "
            "the time to train."
        )
    runner = max((p for p in points if p is not best), key=lambda p: p["accuracy"])
    return (
        f"{head}, and no faster strategy came within its 95% interval (next: {runner['strategy']}, "
        f"{_interval(runner)}, {format_seconds(runner['train_seconds'])}): choose {best['strategy']}."
    )
