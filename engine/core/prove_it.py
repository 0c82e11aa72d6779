"""Prove it: the same model trained from scratch beside a transfer run, to show what pre-training bought.

The "scratch twin" of a completed run has the run's settings, data, split and seed, the strategy
``scratch`` (the same architecture with random weights, trained in full) and the same budget: the same
epochs and minimum steps (a frozen run has no epochs: the twin gets scratch's own), the max length and
picture size the run actually used. Its learning rate is scratch's own, since the run's was chosen for
a pre-trained model. The twin is an ordinary run (``engine.core.jobs.start_run``); the original's
folder keeps its path in ``prove_it.json``. Torch-free: the Results page starts and reads it here.

>>> config = {"data": "/d/spam.csv", "model": "minilm", "strategy": "lora", "epochs": None, "seed": 7}
>>> twin = scratch_config(config, {"epochs": 3, "max_length": 96})
>>> twin.strategy, twin.epochs, twin.max_length, twin.seed
('scratch', 3, 96, 7)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from engine.core import jobs
from engine.core.compare import interval_bounds
from engine.core.config import TrainConfig
from engine.core.errors import ConfigError
from engine.core.rundir import MAX_NAME_CHARS, MAX_NOTE_CHARS, RunDir, read_object, write_json_atomic
from engine.core.strategies import STRATEGIES
from engine.core.words import format_params, format_seconds

PROVE_IT_FILE = "prove_it.json"  # in the original run's folder: {"twin": path of the scratch run, "started_at"}
SCRATCH = "scratch"
TWIN_SUFFIX = " — from scratch"


def can_prove(strategy: str | None) -> bool:
    """Whether a run of ``strategy`` has something to prove: it started from a pre-trained model.

    >>> can_prove("lora"), can_prove("scratch")
    (True, False)
    """
    found = STRATEGIES.get(str(strategy))
    return found is not None and found.pretrained


def scratch_config(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> TrainConfig:
    """The run's settings (config.json) with strategy ``scratch`` and the budget it used (metrics.json)."""
    values = {**config, "strategy": SCRATCH, "learning_rate": None}
    strategy = STRATEGIES.get(str(config.get("strategy")))
    if strategy is not None and strategy.uses_optimizer and isinstance(metrics.get("epochs"), int):
        values["epochs"] = metrics["epochs"]  # the epochs it was given (its strategy's default when unset)
    else:
        values["epochs"] = None  # a fitted head has no epochs to match: scratch's own
    for key in ("max_length", "image_size"):  # what "automatic" came to, so both see the same inputs
        if isinstance(metrics.get(key), int):
            values[key] = metrics[key]
    return TrainConfig.from_dict(values)


def twin_of(run: RunDir) -> RunDir | None:
    """The scratch twin started for ``run`` (None when none was, or it was deleted since)."""
    found = read_object(run.path / PROVE_IT_FILE) or {}
    twin = found.get("twin")
    if not isinstance(twin, str) or not RunDir(twin).config_path.is_file():
        return None
    return RunDir(twin)


def start_prove_it(run: RunDir) -> RunDir:
    """Start the scratch twin of a completed ``run`` (or find the one already training with its settings)
    and link it to ``run``. Returns the twin."""
    metrics, config = run.metrics(), run.config()
    if metrics is None or config is None:
        raise ConfigError(f"The run '{run.name}' has not completed: there is nothing to compare yet.")
    if not can_prove(metrics.get("strategy") or config.get("strategy")):
        raise ConfigError(f"The run '{run.name}' was trained from scratch already: there is no transfer to prove.")
    existing = twin_of(run)
    if existing is not None and jobs.refresh_status(existing).get("state") in ("completed", *jobs.ACTIVE):
        return existing
    twin_config = scratch_config(config, metrics)
    name = run.about()["name"]
    name = name[: MAX_NAME_CHARS - len(TWIN_SUFFIX)] + TWIN_SUFFIX
    note = (
        f"Prove it for {run.name}: the same model, data, split, seed and budget, but random weights instead of the "
        "pre-trained ones."
    )[:MAX_NOTE_CHARS]
    try:
        twin = jobs.start_run(twin_config, name, note, root=run.path.parent)
    except jobs.TwinRunError as exc:  # already queued or training with exactly these settings: follow that one
        twin = exc.twin
    write_json_atomic(run.path / PROVE_IT_FILE, {"twin": str(twin.path), "started_at": time.time()})
    return twin


def _interval(metrics: Mapping[str, Any], name: str) -> str:
    low, high = interval_bounds(metrics.get(f"{name}_ci"))
    return "n/a" if low is None else f"{low:.3f}–{high:.3f}"


def side_by_side(
    pretrained: Mapping[str, Any],
    scratch: Mapping[str, Any],
    titles: tuple[str, str] = ("pre-trained", "random weights (scratch)"),
) -> list[dict[str, str]]:
    """The two runs as table rows (strings): accuracy and macro-F1 with intervals, time, trainable parameters;
    ``titles`` name where each started (the "start" column)."""

    def row(title: str, m: Mapping[str, Any]) -> dict[str, str]:
        return {
            "start": title,
            "strategy": str(m.get("strategy")),
            "accuracy": f"{m['accuracy']:.3f}" if isinstance(m.get("accuracy"), (int, float)) else "n/a",
            "accuracy 95% interval": _interval(m, "accuracy"),
            "macro-F1": f"{m['macro_f1']:.3f}" if isinstance(m.get("macro_f1"), (int, float)) else "n/a",
            "macro-F1 95% interval": _interval(m, "macro_f1"),
            "time to train": format_seconds(m.get("train_seconds")),
            "trainable parameters": format_params(m.get("trainable_params")),
        }

    return [row(titles[0], pretrained), row(titles[1], scratch)]


def transfer_gain(pretrained: Mapping[str, Any], scratch: Mapping[str, Any]) -> str | None:
    """What transfer bought, in one sentence (None when a score is missing).

    >>> print(transfer_gain({"accuracy": 0.79, "accuracy_ci": [0.75, 0.82]}, {"accuracy": 0.6, "accuracy_ci": [0.56, 0.64]}))
    Starting from the pre-trained model gave +19 points of accuracy (0.790 against 0.600 from scratch, with the same data, split and budget).
    >>> print(transfer_gain({"accuracy": 0.61, "accuracy_ci": [0.57, 0.65]}, {"accuracy": 0.6, "accuracy_ci": [0.56, 0.64]}))
    Starting from the pre-trained model gave +1 point of accuracy (0.610 against 0.600 from scratch, with the same data, split and budget), but their 95% intervals overlap, so this difference may be chance.
    """
    a, b = pretrained.get("accuracy"), scratch.get("accuracy")
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return None
    diff = round((a - b) * 100)
    unit = "point" if abs(diff) == 1 else "points"
    same = f"({a:.3f} against {b:.3f} from scratch, with the same data, split and budget)"
    if diff <= 0:
        return (
            f"Training from scratch did as well or better here: {b:.3f} against {a:.3f} with the pre-trained "
            "model, with the same data, split and budget. The pre-trained knowledge did not help on this data."
        )
    (a_low, _), (_, b_high) = (
        interval_bounds(pretrained.get("accuracy_ci")),
        interval_bounds(scratch.get("accuracy_ci")),
    )
    overlap = a_low is not None and b_high is not None and a_low <= b_high
    caveat = ", but their 95% intervals overlap, so this difference may be chance" if overlap else ""
    return f"Starting from the pre-trained model gave +{diff} {unit} of accuracy {same}{caveat}."
