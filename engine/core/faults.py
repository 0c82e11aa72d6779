"""Fault injection for the test suite: die hard (SIGKILL, as a power cut or the OOM killer would) at a
named moment of a run, so the tests can check that resuming gives the result of an uninterrupted run.

``TRANSFERLAB_KILL_AT=PHASE`` picks the moment; nothing happens without it. The phases, in the order
a run meets them:

- ``features``: the frozen model's features of the first split are computed and cached;
- ``step``: the second optimizer step is done (mid-epoch, nothing saved since the last checkpoint);
- ``checkpoint``: right after the first complete checkpoint;
- ``checkpoint-save``: halfway through writing a checkpoint (its weights written, not its optimizer);
- ``rotate``: halfway through removing an old checkpoint;
- ``final-save``: the model folder is written, the predictions and metrics are not;
- ``cleanup``: the run is recorded as completed, its checkpoints are not removed yet.
"""

from __future__ import annotations

import os
import signal

PHASES = ("features", "step", "checkpoint", "checkpoint-save", "rotate", "final-save", "cleanup")
ENV = "TRANSFERLAB_KILL_AT"


def kill_point(phase: str) -> None:
    """Die here when the test asked for this phase."""
    if os.environ.get(ENV) == phase:
        os.kill(os.getpid(), signal.SIGKILL)
