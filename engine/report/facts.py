"""Everything a report says about one run, read from its directory into plain data (torch-free).

The run directory holds the facts (``engine.core.rundir``); this module only reads them, with the
studies started from Results beside them (``RUN/curve/curve.json``, ``RUN/sweep/sweep.json``,
the scratch twin named in ``RUN/prove_it.json``, the base-model twin of a run on an adapted model named in
``RUN/without_adaptation.json``), the class counts of the data file when it is still there, and what this
computer is (versions, hardware, the TransferLab commit).
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import shlex
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from engine.core.adapt_compare import adaptation_of_run, without_metrics
from engine.core.catalog import find
from engine.core.config import TrainConfig
from engine.core.errors import DataError, TransferLabError
from engine.core.hardware import available_cpus, describe_hardware
from engine.core.predictions import read_predictions
from engine.core.prove_it import twin_of
from engine.core.rundir import RunDir, read_object
from engine.core.tasks import get_task

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
VERSIONED = ("torch", "transformers", "peft", "scikit-learn", "plotly")


@dataclass
class RunFacts:
    run: RunDir
    name: str
    note: str | None
    config: dict[str, Any]
    metrics: dict[str, Any]
    events: list[dict[str, Any]]
    predictions: pd.DataFrame | None
    class_counts: dict[str, int]  # every example of the data file by class (the test supports when it is gone)
    counts_source: str  # "data" or "test"
    curve: dict[str, Any] | None = None
    sweep: dict[str, Any] | None = None
    scratch: dict[str, Any] | None = None  # the Prove-it twin's metrics.json
    adaptation: dict[str, Any] | None = None  # the adapted model's adaptation.json (a run on an adapted model)
    without_adaptation: dict[str, Any] | None = None  # the same classifier from the base model: its metrics.json

    @property
    def task(self):
        return get_task(str(self.metrics.get("task") or "text"))

    @property
    def model_info(self):
        return find(str(self.config.get("model") or self.metrics.get("model") or ""))


def read_run(path: str | Path) -> RunFacts:
    """A completed run's facts; a plain DataError when ``path`` is not one."""
    run = RunDir(path)
    if not run.config_path.is_file():
        raise DataError(f"{run.path} is not a run directory (no config.json). Give the folder of a training run.")
    metrics = run.metrics()
    if not metrics or "accuracy" not in metrics:
        state = run.status().get("state", "unknown")
        raise DataError(
            f"{run.path} has no test results (its status is '{state}'). A report needs a run whose training completed."
        )
    config = run.config() or {}
    about = run.about()
    predictions = None
    if run.predictions_path.is_file():
        try:
            predictions = read_predictions(run.predictions_path)
        except (OSError, ValueError) as exc:
            log.warning("Could not read %s: %s", run.predictions_path, exc)
    counts, source = class_counts(config, metrics)
    facts = RunFacts(
        run=run,
        name=str(about["name"]),
        note=about["note"],
        config=config,
        metrics=metrics,
        events=run.events(),
        predictions=predictions,
        class_counts=counts,
        counts_source=source,
        curve=read_object(run.path / "curve" / "curve.json"),
        sweep=read_object(run.path / "sweep" / "sweep.json"),
        scratch=scratch_metrics(run),
        adaptation=adaptation_of_run(config),
        without_adaptation=without_metrics(run),
    )
    return facts


def class_counts(config: dict[str, Any], metrics: dict[str, Any]) -> tuple[dict[str, int], str]:
    """Examples per class in the run's data file, read again (torch-free); the test split's counts when the
    file is gone or no longer reads."""
    labels = list(metrics.get("labels") or [])
    try:
        dataset = get_task(str(metrics.get("task") or "text")).load("loader")(TrainConfig.from_dict(config))
        names = list(dataset.label_names)
        counts = Counter(names[i] for i in dataset.labels)
        return {name: int(counts.get(name, 0)) for name in (labels or names)}, "data"
    except (TransferLabError, OSError, ValueError, KeyError, TypeError) as exc:
        log.info("Class counts from the test split (the data file does not read: %s)", exc)
    per_class = metrics.get("per_class") or {}
    return {name: int((per_class.get(name) or {}).get("support") or 0) for name in (labels or per_class)}, "test"


def scratch_metrics(run: RunDir) -> dict[str, Any] | None:
    """The Prove-it twin's metrics.json (the same model trained from scratch), when it completed."""
    twin = twin_of(run)
    metrics = twin.metrics() if twin is not None else None
    return metrics if metrics and isinstance(metrics.get("accuracy"), int | float) else None


def versions() -> dict[str, str]:
    """Installed versions of the libraries a run depends on (read without importing them)."""
    found = {}
    for name in VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    found["python"] = platform.python_version()
    return found


def git_commit() -> str | None:
    """The TransferLab commit this code is at (with "+ local changes" when the tree differs), when git knows."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + (" + local changes" if dirty.stdout.strip() else "")


def hardware() -> str:
    return f"{describe_hardware()}; {available_cpus()} CPU cores usable; {platform.system()} {platform.machine()}"


def train_command(run: RunDir) -> str:
    """The command that trains the same model again from the run's saved settings, into a new folder."""
    again = run.path.parent / f"{run.path.name}-again"
    return shlex.join(["python", "-m", "engine.train", "--config", str(run.config_path), "--out", str(again)])
