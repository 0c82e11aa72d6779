"""The run directory: the contract between the training worker and everything that reads it.

```
RUN_DIR/
  config.json       TrainConfig, written before training starts
  status.json       {"state": queued|running|completed|failed|cancelled, "message", "progress", ...}
  events.jsonl      one JSON object per logging step and per evaluation (append-only)
  metrics.json      test-split metrics, written at the end
  predictions.csv   test rows: text, true label, predicted label, confidence
  model/            reloadable model + label names + model card (README.md)
  checkpoints/      one per epoch while training; removed once the run completes
  CANCEL            created to ask the worker to stop
```

Torch-free: the pages read runs through this module. Writers replace files atomically (write
a temp file, then ``os.replace``) so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

STATES = ("queued", "running", "completed", "failed", "cancelled")
ACTIVE = ("queued", "running")
FINISHED = ("completed", "failed", "cancelled")


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # --- paths -------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.json"

    @property
    def predictions_path(self) -> Path:
        return self.path / "predictions.csv"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def cancel_path(self) -> Path:
        return self.path / "CANCEL"

    @property
    def name(self) -> str:
        return self.path.name

    # --- status ------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return read_json(self.status_path) or {"state": "unknown", "message": "No status.json in this folder."}

    def set_status(self, state: str, message: str = "", **extra: Any) -> None:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        current = read_json(self.status_path) or {}
        now = time.time()
        current.update(extra)
        current.update({"state": state, "message": message, "updated_at": now, "pid": os.getpid()})
        current.setdefault("created_at", now)
        if state == "running":
            current.setdefault("started_at", now)
        if state in FINISHED:
            current["finished_at"] = now
        write_json_atomic(self.status_path, current)

    def update_progress(self, **progress: Any) -> None:
        current = read_json(self.status_path) or {}
        current["progress"] = {**current.get("progress", {}), **progress}
        current["updated_at"] = time.time()
        write_json_atomic(self.status_path, current)

    # --- events ------------------------------------------------------------------------
    def append_event(self, event: dict[str, Any]) -> None:
        event = {"time": time.time(), **event}
        with self.events_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(event, default=float) + "\n")

    def truncate_events(self, after_step: int) -> None:
        """Drop step events beyond ``after_step`` (they are about to be re-run after a resume)."""
        kept = [e for e in self.events() if e.get("step") is None or e["step"] <= after_step]
        tmp = self.events_path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(e, default=float) + "\n" for e in kept), encoding="utf-8")
        os.replace(tmp, self.events_path)

    def events(self) -> list[dict[str, Any]]:
        if not self.events_path.exists():
            return []
        out = []
        for line in self.events_path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line being written right now
        return out

    # --- results -----------------------------------------------------------------------
    def config(self) -> dict[str, Any] | None:
        return read_json(self.config_path)

    def metrics(self) -> dict[str, Any] | None:
        return read_json(self.metrics_path)

    def request_cancel(self) -> None:
        self.cancel_path.touch()

    def cancel_requested(self) -> bool:
        return self.cancel_path.exists()

    def trained_model(self) -> Path:
        """The model folder of a completed run; a plain error when there is none."""
        if not self.model_dir.is_dir():
            from engine.core.errors import ModelNotAvailableError

            state = self.status().get("state", "unknown")
            raise ModelNotAvailableError(
                f"{self.path} has no trained model (its status is '{state}'). Pick a run whose training completed."
            )
        return self.model_dir

    def last_checkpoint(self) -> Path | None:
        if not self.checkpoints_dir.is_dir():
            return None
        checkpoints = [p for p in self.checkpoints_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
        return max(checkpoints, key=checkpoint_step, default=None)


def checkpoint_step(checkpoint: Path | None) -> int:
    """The global step a Trainer checkpoint folder (``checkpoint-N``) was saved at; 0 for none."""
    return int(checkpoint.name.rsplit("-", 1)[-1]) if checkpoint else 0


def list_runs(root: str | Path) -> list[dict[str, Any]]:
    """Every run under ``root`` (newest first) as a plain summary for tables."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = []
    for path in root.iterdir():
        run = RunDir(path)
        config = run.config()
        if config is None:
            continue
        status = run.status()
        metrics = run.metrics() or {}
        runs.append(
            {
                "run": run.name,
                "path": str(path),
                "state": status.get("state", "unknown"),
                "message": status.get("message", ""),
                "model": config.get("model"),
                "strategy": config.get("strategy"),
                "data": Path(str(config.get("data", ""))).name,
                "accuracy": metrics.get("accuracy"),
                "macro_f1": metrics.get("macro_f1"),
                "train_seconds": metrics.get("train_seconds"),
                "trainable_params": metrics.get("trainable_params"),
                "created_at": status.get("created_at"),
            }
        )
    runs.sort(key=lambda r: r.get("created_at") or 0, reverse=True)
    return runs
