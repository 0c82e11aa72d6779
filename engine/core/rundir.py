"""The run directory: the contract between the training worker and everything that reads it.

```
RUN_DIR/
  config.json       TrainConfig, written before training starts
  about.json        {"name", "note"}: the user's words for the run (optional, editable any time)
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
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

STATES = ("queued", "running", "completed", "failed", "cancelled")
ACTIVE = ("queued", "running")
FINISHED = ("completed", "failed", "cancelled")
DAMAGED = "damaged"  # listed runs only: a config, status or metrics file that cannot be read
MAX_NAME_CHARS = 100  # a run's name: one line that lists and charts can show
MAX_NOTE_CHARS = 2000


def check_about(name: str | None, note: str | None) -> dict[str, str | None]:
    """A run's name and note as stored: stripped, empty as None, within the limits (ValueError otherwise).

    >>> check_about("  Spam, LoRA at 64 tokens ", "")
    {'name': 'Spam, LoRA at 64 tokens', 'note': None}
    """
    name = " ".join(str(name or "").split()) or None  # one line
    note = str(note or "").strip() or None
    if name is not None and len(name) > MAX_NAME_CHARS:
        raise ValueError(f"A run's name can have at most {MAX_NAME_CHARS} characters (this one has {len(name)}).")
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"A run's note can have at most {MAX_NOTE_CHARS:,} characters (this one has {len(note):,}).")
    return {"name": name, "note": note}


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
    """The file's JSON, or None when it is missing or cannot be read (readers never crash)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # ValueError: invalid JSON or not UTF-8
        return None


def usable_event(event: Any) -> bool:
    """Whether a line of events.jsonl has the shape readers rely on (a damaged line is skipped)."""
    if not isinstance(event, dict):
        return False
    step = event.get("step")
    if step is not None and (not isinstance(step, int) or isinstance(step, bool)):
        return False
    return event.get("type") != "train" or _number(event.get("loss")) is not None


def load_object(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """A run file's JSON object, and why it cannot be used (in words) when it cannot: one read for both.
    A missing file is (None, None)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None
    except UnicodeDecodeError:
        return None, f"{path.name} is not UTF-8 text"
    except ValueError:
        return None, f"{path.name} is not valid JSON (cut short or damaged)"
    except OSError as exc:
        return None, f"{path.name} cannot be read ({exc.strerror or exc})"
    if not isinstance(data, dict):
        return None, f"{path.name} holds {type(data).__name__} instead of the expected settings"
    return data, None


def read_object(path: Path) -> dict[str, Any] | None:
    """The file's JSON object, or None when it is missing, unreadable or not an object."""
    return load_object(path)[0]


def _status(loaded: dict[str, Any] | None, problem: str | None) -> dict[str, Any]:
    """A status as pages read it: an unreadable one, or one with an unknown state, is "unknown"."""
    if loaded is None or loaded.get("state") not in STATES:
        return {**(loaded or {}), "state": "unknown", "message": problem or "No status.json in this folder."}
    return loaded


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # --- paths -------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def about_path(self) -> Path:
        return self.path / "about.json"

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

    # --- name and note -----------------------------------------------------------------
    def about(self) -> dict[str, str | None]:
        """The run's name (its folder's name when none was given) and note."""
        about = read_object(self.about_path) or {}
        name, note = about.get("name"), about.get("note")
        return {
            "name": name if isinstance(name, str) and name else self.name,
            "note": note if isinstance(note, str) and note else None,
        }

    def set_about(self, name: str | None, note: str | None) -> None:
        write_json_atomic(self.about_path, check_about(name, note))

    # --- status ------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return _status(*load_object(self.status_path))

    def set_status(self, state: str, message: str = "", **extra: Any) -> None:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        current = read_object(self.status_path) or {}
        now = time.time()
        current.update(extra)
        # The machine too: a run of several machines is written by rank 0 on one of them, and a dashboard
        # elsewhere cannot look up that pid (engine.core.jobs.is_alive).
        current.update(
            {"state": state, "message": message, "updated_at": now, "pid": os.getpid(), "host": socket.gethostname()}
        )
        current.setdefault("created_at", now)
        if state == "running":
            current.setdefault("started_at", now)
        if state in FINISHED:
            current["finished_at"] = now
        write_json_atomic(self.status_path, current)

    def update_progress(self, **progress: Any) -> None:
        current = read_object(self.status_path) or {}
        progress_before = current.get("progress")
        current["progress"] = {**(progress_before if isinstance(progress_before, dict) else {}), **progress}
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
        try:
            text = self.events_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        for line in text.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line being written right now, or a damaged one
            if usable_event(event):
                out.append(event)
        return out

    # --- results -----------------------------------------------------------------------
    def config(self) -> dict[str, Any] | None:
        return read_object(self.config_path)

    def metrics(self) -> dict[str, Any] | None:
        return read_object(self.metrics_path)

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

    def remove_leftovers(self) -> list[str]:
        """Remove what a killed worker left half-written: the model's temporary folders and incomplete
        checkpoints. Call it only while holding the run lock. Returns the names removed."""
        leftovers = [p for p in self.path.glob(".model-*") if p.is_dir()]
        if self.checkpoints_dir.is_dir():
            leftovers += [p for p in self.checkpoints_dir.glob("checkpoint-*") if not checkpoint_complete(p)]
        for path in leftovers:
            shutil.rmtree(path, ignore_errors=True)
        return [p.name for p in leftovers]

    def last_checkpoint(self) -> Path | None:
        """The newest *complete* checkpoint: one cut short by a kill (while it was written or deleted) is
        passed over for the one before."""
        if not self.checkpoints_dir.is_dir():
            return None
        checkpoints = [p for p in self.checkpoints_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
        complete = [p for p in checkpoints if checkpoint_complete(p)]
        return max(complete, key=checkpoint_step, default=None)


class FollowerRunDir(RunDir):
    """A run directory as the processes after rank 0 of a distributed run see it (``engine.core.distributed``):
    they read it (settings, CANCEL, checkpoints to resume from) and never write it; rank 0 writes for all."""

    def set_about(self, name: str | None, note: str | None) -> None:
        pass

    def set_status(self, state: str, message: str = "", **extra: Any) -> None:
        pass

    def update_progress(self, **progress: Any) -> None:
        pass

    def append_event(self, event: dict[str, Any]) -> None:
        pass

    def truncate_events(self, after_step: int) -> None:
        pass

    def request_cancel(self) -> None:
        pass

    def remove_leftovers(self) -> list[str]:
        return []


# A Trainer checkpoint holds weights, optimizer state and RNG state, and trainer_state.json is written
# last: together they show it was written to the end (and not half deleted).
WEIGHT_FILES = ("model.safetensors", "adapter_model.safetensors", "pytorch_model.bin")


def checkpoint_complete(checkpoint: Path) -> bool:
    """Whether a checkpoint folder can be resumed from: its weights, optimizer and a readable state."""
    if not any((checkpoint / name).is_file() for name in WEIGHT_FILES):
        return False
    if not (checkpoint / "optimizer.pt").is_file():
        return False
    state = read_object(checkpoint / "trainer_state.json")
    return state is not None and isinstance(state.get("global_step"), int)


def checkpoint_step(checkpoint: Path | None) -> int:
    """The global step a Trainer checkpoint folder (``checkpoint-N``) was saved at; 0 for none."""
    return int(checkpoint.name.rsplit("-", 1)[-1]) if checkpoint else 0


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def list_runs(root: str | Path) -> list[dict[str, Any]]:
    """Every run under ``root`` (newest first) as a plain summary for tables."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = []
    for path in root.iterdir():
        run = RunDir(path)
        if not run.config_path.is_file():
            continue  # not a run
        # Each file read once: its content and, when it is damaged, why.
        (config, config_problem), (loaded, status_problem), (metrics, metrics_problem), (about, _) = (
            load_object(path) for path in (run.config_path, run.status_path, run.metrics_path, run.about_path)
        )
        about = about or {}
        config, metrics, status = config or {}, metrics or {}, _status(loaded, status_problem)
        problems = [p for p in (config_problem, status_problem, metrics_problem) if p]
        runs.append(
            {
                "run": run.name,
                "name": _text(about.get("name")) or run.name,  # what lists show
                "note": _text(about.get("note")),
                "path": str(path),
                # A run whose files are damaged is listed as such (it can be deleted), never skipped or raised.
                "state": DAMAGED if problems else status.get("state", "unknown"),
                "message": "Damaged: " + "; ".join(problems) + "." if problems else str(status.get("message", "")),
                "model": _text(config.get("model")),
                "strategy": _text(config.get("strategy")),
                "data": Path(str(config.get("data", ""))).name,
                "accuracy": _number(metrics.get("accuracy")),
                "macro_f1": _number(metrics.get("macro_f1")),
                "train_seconds": _number(metrics.get("train_seconds")),
                "trainable_params": _number(metrics.get("trainable_params")),
                "created_at": _number(status.get("created_at")),
            }
        )
    runs.sort(key=lambda r: r.get("created_at") or 0, reverse=True)
    return runs


def completed_message(metrics: dict[str, Any]) -> str:
    """The status message of a completed run."""
    accuracy, f1 = _number(metrics.get("accuracy")), _number(metrics.get("macro_f1"))
    if accuracy is None or f1 is None:
        return "Completed."
    return f"Test accuracy {accuracy:.3f}, macro-F1 {f1:.3f}"
