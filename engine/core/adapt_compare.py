"""With vs without adaptation: the same classifier trained from the base model, beside a run on an adapted one.

A completed run whose model is an adapted model (``ADAPT_DIR``, ``engine.core.adaptation``) has a "twin"
without adaptation: the run's settings, data, split and seed, with ``model`` the adaptation's base model
(from its adaptation.json) and the max length and picture size the run actually used. It is an ordinary run
(``engine.core.jobs.start_run``); the run's folder keeps its path in ``without_adaptation.json``. Torch-free:
Results starts and reads it here, like the Prove-it twin (``engine.core.prove_it``).

>>> config = {"data": "/d/notes.csv", "model": "/w/adaptations/a1", "strategy": "frozen", "seed": 7}
>>> twin = base_config(config, {"max_length": 96}, base_model="minilm")
>>> twin.model, twin.strategy, twin.max_length, twin.seed
('minilm', 'frozen', 96, 7)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from engine.core import jobs
from engine.core.adapt_jobs import adaptation_of
from engine.core.compare import interval_bounds
from engine.core.config import TrainConfig
from engine.core.errors import ConfigError
from engine.core.prove_it import side_by_side
from engine.core.rundir import MAX_NAME_CHARS, MAX_NOTE_CHARS, RunDir, read_object, write_json_atomic
from engine.core.words import about_duration

WITHOUT_FILE = "without_adaptation.json"  # in the adapted run's folder: {"twin": path of the base-model run, ...}
TWIN_SUFFIX = " — without adaptation"
TITLES = ("adapted model", "base model (no adaptation)")


def adaptation_of_run(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The adaptation.json (with its title) of the model a run trained from, or None when it is not adapted."""
    model = (config or {}).get("model")
    return adaptation_of(str(model)) if model else None


def base_config(config: Mapping[str, Any], metrics: Mapping[str, Any], base_model: str) -> TrainConfig:
    """The run's settings (config.json) from ``base_model`` instead, with the inputs it used (metrics.json)."""
    values = {**config, "model": base_model}
    for key in ("max_length", "image_size"):  # what "automatic" came to, so both see the same inputs
        if isinstance(metrics.get(key), int):
            values[key] = metrics[key]
    return TrainConfig.from_dict(values)


def without_twin(run: RunDir) -> RunDir | None:
    """The run without adaptation started for ``run`` (None when none was, or it was deleted since)."""
    twin = (read_object(run.path / WITHOUT_FILE) or {}).get("twin")
    if not isinstance(twin, str) or not RunDir(twin).config_path.is_file():
        return None
    return RunDir(twin)


def start_without(run: RunDir) -> RunDir:
    """Start the same classifier from the base model of the adapted model ``run`` trained from (or find the
    one already started) and link it to ``run``. Returns the twin."""
    metrics, config = run.metrics(), run.config()
    if metrics is None or config is None:
        raise ConfigError(f"The run '{run.name}' has not completed: there is nothing to compare yet.")
    adaptation = adaptation_of_run(config)
    if adaptation is None or not adaptation.get("base_model"):
        raise ConfigError(
            f"The run '{run.name}' did not start from an adapted model: there is no adaptation to compare with."
        )
    existing = without_twin(run)
    if existing is not None and jobs.refresh_status(existing).get("state") in ("completed", *jobs.ACTIVE):
        return existing
    twin_config = base_config(config, metrics, str(adaptation["base_model"]))
    name = run.about()["name"]
    name = name[: MAX_NAME_CHARS - len(TWIN_SUFFIX)] + TWIN_SUFFIX
    note = (
        f"Without adaptation, for {run.name}: the same settings, data, split and seed, from the base model "
        f"{adaptation['base_model']} instead of {adaptation['title']}."
    )[:MAX_NOTE_CHARS]
    try:
        twin = jobs.start_run(twin_config, name, note, root=run.path.parent)
    except jobs.TwinRunError as exc:  # already queued or training with exactly these settings: follow that one
        twin = exc.twin
    write_json_atomic(run.path / WITHOUT_FILE, {"twin": str(twin.path), "started_at": time.time()})
    return twin


def without_metrics(run: RunDir) -> dict[str, Any] | None:
    """The twin's metrics.json when it completed (what the report shows beside the run)."""
    twin = without_twin(run)
    metrics = twin.metrics() if twin is not None else None
    return metrics if metrics and isinstance(metrics.get("accuracy"), int | float) else None


def rows(adapted: Mapping[str, Any], base: Mapping[str, Any]) -> list[dict[str, str]]:
    """The two runs as table rows: accuracy and macro-F1 with intervals, time, trainable parameters."""
    return side_by_side(adapted, base, titles=TITLES)


def adaptation_gain(adapted: Mapping[str, Any], base: Mapping[str, Any], seconds: float | None = None) -> str | None:
    """What the adaptation bought, in one sentence (None when a score is missing); ``seconds``: what it cost.

    >>> print(adaptation_gain({"accuracy": 0.81}, {"accuracy": 0.78}, seconds=240))
    Adapting the model first gave +3 points of accuracy (0.810 against 0.780 without, with the same data, split and settings), for 4 minutes of adaptation.
    >>> print(adaptation_gain({"accuracy": 0.7, "accuracy_ci": [0.6, 0.8]}, {"accuracy": 0.72}))
    Without adaptation did as well or better here: 0.720 against 0.700 with it, with the same data, split and settings.
    """
    a, b = adapted.get("accuracy"), base.get("accuracy")
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return None
    diff = round((a - b) * 100)
    if diff <= 0:
        return (
            f"Without adaptation did as well or better here: {b:.3f} against {a:.3f} with it, with the same data, "
            "split and settings."
        )
    (a_low, _), (_, b_high) = interval_bounds(adapted.get("accuracy_ci")), interval_bounds(base.get("accuracy_ci"))
    overlap = a_low is not None and b_high is not None and a_low <= b_high
    caveat = ", but their 95% intervals overlap, so this difference may be chance" if overlap else ""
    cost = f", for {about_duration(seconds)} of adaptation" if isinstance(seconds, int | float) else ""
    unit = "point" if diff == 1 else "points"
    return (
        f"Adapting the model first gave +{diff} {unit} of accuracy ({a:.3f} against {b:.3f} without, with the same "
        f"data, split and settings){caveat}{cost}."
    )
