"""Reading a run while it trains, cheaply: only the bytes added to events.jsonl since last time.

The Train page polls every second or two; re-reading and re-parsing the whole file each time
would grow with the run. :class:`EventTail` remembers how far it has read and parses only the
new complete lines. A file that shrank (events truncated on resume) is read again from the start.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.core.rundir import usable_event


class EventTail:
    """Incremental reader of an append-only JSON-lines file.

    >>> tail = EventTail("RUN_DIR/events.jsonl")
    >>> tail.update()   # every event so far, parsed once
    []
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.offset = 0
        self.events: list[dict[str, Any]] = []

    def update(self) -> list[dict[str, Any]]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            self.offset, self.events = 0, []
            return self.events
        if size < self.offset:
            self.offset, self.events = 0, []
        if size == self.offset:
            return self.events
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read(size - self.offset)
        # A line still being written has no newline yet: leave it for the next read.
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.splitlines():
            try:
                event = json.loads(line)
            except ValueError:  # invalid JSON or not UTF-8: a damaged line
                continue
            if usable_event(event):
                self.events.append(event)
        return self.events


def tail_lines(path: str | Path, n: int = 12, max_bytes: int = 16_384) -> list[str]:
    """The last ``n`` lines of a text file (a log), reading at most ``max_bytes`` from its end."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            end = f.tell()
            f.seek(max(0, end - max_bytes))
            data = f.read()
    except FileNotFoundError:
        return []
    # Progress bars rewrite their line with carriage returns; keep what a terminal would show.
    lines = [line.rsplit("\r", 1)[-1] for line in data.decode("utf-8", errors="replace").split("\n")]
    return [line for line in lines if line.strip()][-n:]


def progress(status: dict[str, Any]) -> tuple[float, str]:
    """(fraction done 0..1, words) from status.json's progress block.

    >>> progress({"state": "running", "progress": {"step": 5, "max_steps": 20, "eta_seconds": 30}})
    (0.25, 'step 5 of 20, about 30 s left')
    """

    try:
        return _progress(status)
    except (TypeError, ValueError, AttributeError):  # a damaged progress block
        return 0.0, str(status.get("state") or "")


def _progress(status: dict[str, Any]) -> tuple[float, str]:
    from ui import format as fmt

    state = status.get("state")
    p = status.get("progress") or {}
    if state == "completed":
        return 1.0, "done"
    stage = str(p.get("stage", ""))
    # The frozen strategy first computes features for each split, then trains a small head.
    if stage.startswith("features:") and p.get("total") and not p.get("max_steps"):
        done, total = int(p.get("done", 0)), int(p["total"])
        return min(1.0, done / total), f"computing features of the {stage.split(':', 1)[1]} split: {done} of {total}"
    step, max_steps = p.get("step"), p.get("max_steps")
    if step is None or not max_steps:
        return 0.0, str(status.get("message") or state or "")
    words = f"step {step} of {max_steps}"
    eta = p.get("eta_seconds")
    if eta is not None and state == "running":
        words += f", about {fmt.seconds(eta)} left"
    return min(1.0, int(step) / int(max_steps)), words
