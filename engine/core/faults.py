"""Fault injection for the test suite: die hard (SIGKILL, as a power cut or the OOM killer would) at a
named moment of a run, so the tests can check that resuming gives the result of an uninterrupted run.

``TRANSFERLAB_KILL_AT=PHASE`` picks the moment; nothing happens without it. In a distributed run,
``TRANSFERLAB_KILL_RANK=N`` kills only the process of that rank. The phases, in the order
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
RANK_ENV = "TRANSFERLAB_KILL_RANK"


def kill_point(phase: str) -> None:
    """Die here when the test asked for this phase (and this rank, when it named one)."""
    rank = os.environ.get(RANK_ENV)
    if os.environ.get(ENV) == phase and (rank is None or rank == os.environ.get("RANK", "0")):
        os.kill(os.getpid(), signal.SIGKILL)
