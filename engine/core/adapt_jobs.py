"""Adaptations as background jobs, like training runs: start, queue, cancel, resume and delete them.

An adaptation's folder is a run folder (``engine.core.rundir``) under ``workspace/adaptations`` whose
config.json holds an :class:`~engine.core.adaptation.AdaptConfig` (``"kind": "adapt"``). The same worker
(``python -m engine.worker``) runs both kinds: :func:`job_settings` is the one rule that tells them apart.
Device slots and the queue are shared with training, first come first served. Torch-free.

>>> run = start_adaptation(AdaptConfig(data="notes.txt", model="minilm"))  # doctest: +SKIP
>>> run.status()["state"]  # doctest: +SKIP
'queued'
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from engine.core import jobs
from engine.core.adaptation import ADAPT_KIND, ADAPTATION_FILE, AdaptConfig, adapted_model_folder, adapted_title
from engine.core.catalog import find
from engine.core.config import TrainConfig
from engine.core.errors import ConfigError, StorageError, storage_problem
from engine.core.locks import RUN_LOCK
from engine.core.rundir import ACTIVE, RunDir, read_object
from engine.core.words import listed
from engine.core.workspace import adaptations_dir


def job_settings(path: str | Path) -> TrainConfig | AdaptConfig:
    """The settings a job folder's config.json holds: an adaptation's (``"kind": "adapt"``) or a training run's.

    >>> job_settings("no/such/config.json")
    Traceback (most recent call last):
    ...
    engine.core.errors.ConfigError: Config file no/such/config.json does not exist.
    """
    values = read_object(Path(path))
    if values is not None and values.get("kind") == ADAPT_KIND:
        return AdaptConfig.load(path)
    return TrainConfig.load(path)


def is_adaptation(run: RunDir) -> bool:
    """Whether ``run``'s folder holds an adaptation (rather than a training run)."""
    return (run.config() or {}).get("kind") == ADAPT_KIND


def _absolute_paths(config: AdaptConfig) -> AdaptConfig:
    """The texts' file and a model folder as absolute paths: the worker runs in the project's root."""
    changes = {"data": str(Path(config.data).expanduser().resolve())}
    model = Path(config.model).expanduser()
    if find(config.model) is None and model.exists():
        changes["model"] = str(model.resolve())
    return dataclasses.replace(config, **changes)


def prepare_adaptation(config: AdaptConfig, out: str | Path) -> RunDir:
    """Create the directory and write config.json (paths made absolute) and a queued status."""
    run = RunDir(out)
    if run.config_path.exists():
        raise ConfigError(
            f"{run.path} already holds a run. Use --resume {run.path} to continue it, or choose another --out."
        )
    if run.path.exists() and not run.path.is_dir():
        raise ConfigError(f"{run.path} is a file, not a folder: choose another --out.")
    theirs = sorted(p.name for p in run.path.iterdir() if p.name != RUN_LOCK) if run.path.is_dir() else []
    if theirs:
        raise ConfigError(
            f"{run.path} is not empty (it holds {listed(theirs)}). An adaptation is written into a new or empty "
            "folder, so that TransferLab never deletes or overwrites files it did not make: choose another --out."
        )
    config = _absolute_paths(config)
    try:
        run.path.mkdir(parents=True, exist_ok=True)
        config.save(run.config_path)
        run.set_status("queued", "Waiting to start")
    except OSError as exc:
        problem = storage_problem(exc, run.path, then="start again")
        raise StorageError(problem or f"Could not create the folder {run.path}: {exc}.") from exc
    return run


def start_adaptation(config: AdaptConfig, root: str | Path | None = None, folder: str | None = None) -> RunDir:
    """Create an adaptation (config.json, status "queued") under ``root`` (default: the workspace's
    adaptations) and start its worker; returns at once. The same settings as an adaptation queued or running
    (a second click on Start) return that one instead of starting another."""
    root = Path(root).resolve() if root is not None else adaptations_dir()
    settings = _absolute_paths(config).to_dict()
    twin = next((run for run in jobs.active_runs(root) if run.config() == settings), None)
    if twin is not None:
        return twin
    path = jobs.reserve_folder(root, config, folder)
    return jobs.launch(path, lambda run: prepare_adaptation(config, run.path))


def resume_adaptation(run: RunDir) -> None:
    """Continue a failed or cancelled adaptation from its last checkpoint, in a new worker."""
    if not is_adaptation(run):
        raise ConfigError(f"{run.path} is not an adaptation (its config.json is not an adaptation's).")
    jobs.resume_run(run)


def cancel_adaptation(run: RunDir) -> None:
    """Ask the adaptation to stop: after the current step (a checkpoint is kept to resume from), or at once
    while it waits for the device."""
    jobs.cancel_run(run)


def delete_adaptation(run: RunDir) -> None:
    """Remove a finished adaptation's folder (its adapted model too)."""
    jobs.delete_run(run)


def adaptations(root: str | Path | None = None) -> list[dict[str, Any]]:
    """Every adaptation's summary (newest first), one whose worker died marked failed first."""
    return jobs.runs_with_status(Path(root) if root is not None else adaptations_dir())


def latest_adaptation(root: str | Path | None = None) -> RunDir | None:
    """The newest adaptation (what the Model page follows after a browser refresh)."""
    found = adaptations(root)
    return RunDir(found[0]["path"]) if found else None


def adaptation_of(model: str) -> dict[str, Any] | None:
    """What an adapted model folder (``ADAPT_DIR``, as ``--model`` names it) records about itself: its
    adaptation.json with its ``title``; None for any other model.

    >>> adaptation_of("minilm") is None
    True
    """
    if find(model) is not None:
        return None
    folder = adapted_model_folder(model)
    facts = read_object(folder / ADAPTATION_FILE) if folder is not None else None
    return {**facts, "title": adapted_title(facts)} if facts is not None else None


def model_title(model: str) -> str:
    """How a page names a run's model: an adapted model by its title, any other as given.

    >>> model_title("minilm")
    'minilm'
    """
    facts = adaptation_of(str(model))
    return facts["title"] if facts is not None else str(model)


def active(run: RunDir) -> bool:
    return jobs.refresh_status(run).get("state") in ACTIVE


# model_type of BERT-style encoders as config.json names them (a hint for the page; the worker decides by loading).
ENCODER_TYPES = frozenset({"bert", "roberta", "distilbert", "xlm-roberta", "mpnet", "electra", "deberta", "albert"})


def expected_kind(model: str) -> str | None:
    """ "encoder" or "decoder" for a catalog model, an adapted one or a local folder (read from the catalog or
    config.json, torch-free), None when only loading it would tell (the worker then decides by loading it).

    >>> expected_kind("minilm"), expected_kind("smollm2"), expected_kind("no/such/folder")
    ('encoder', 'decoder', None)
    """
    info = find(model)
    if info is not None:
        return next((kind for kind in ("decoder", "encoder") if kind in info.family), None)
    adaptation = adaptation_of(model)
    if adaptation is not None and adaptation.get("base_model"):
        return expected_kind(str(adaptation["base_model"]))
    settings = read_object(Path(model).expanduser() / "config.json") or {}
    architectures = " ".join(str(a) for a in settings.get("architectures") or [])
    if "CausalLM" in architectures or "LMHead" in architectures:
        return "decoder"
    if "MaskedLM" in architectures or settings.get("model_type") in ENCODER_TYPES:
        return "encoder"
    return None
