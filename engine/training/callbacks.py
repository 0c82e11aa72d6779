"""Side effects of the training loop, as Trainer callbacks: events, progress, CANCEL, a non-finite loss."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from transformers import TrainerCallback

from engine.core.errors import TrainingError
from engine.core.faults import kill_point
from engine.core.rundir import RunDir
from engine.training.distributed import agree, from_main

log = logging.getLogger(__name__)


class RunDirCallback(TrainerCallback):
    """Writes events.jsonl and status progress; honours CANCEL; stops on a non-finite loss."""

    def __init__(self, run: RunDir, batch_size: int) -> None:
        self.run, self.batch_size = run, batch_size
        self.cancelled = False
        self._last_log = (0, time.time())
        self._start = (0, time.time())
        self._last_status = 0.0

    def on_train_begin(self, args, state, control, **kw):
        now = time.time()
        self._start = self._last_log = (state.global_step, now)
        self.run.set_status("running", "Training", progress={"step": state.global_step, "max_steps": state.max_steps})

    def on_step_end(self, args, state, control, **kw):
        if state.global_step == 2:
            kill_point("step")
        if agree(self.run.cancel_requested()):  # every process stops at the same step
            self.cancelled = True
            control.should_training_stop = True
        now = time.time()
        if now - self._last_status >= 1.0 or state.global_step == state.max_steps:
            self._last_status = now
            done = state.global_step - self._start[0]
            rate = done / max(now - self._start[1], 1e-9)
            eta = (state.max_steps - state.global_step) / rate if rate > 0 else None
            self.run.update_progress(
                step=state.global_step, max_steps=state.max_steps, epoch=state.epoch, eta_seconds=eta
            )

    def on_log(self, args, state, control, logs=None, **kw):
        logs = dict(logs or {})
        now = time.time()
        event: dict[str, Any] = {"step": state.global_step, "epoch": state.epoch}
        if "loss" in logs:
            loss = float(logs["loss"])
            steps = state.global_step - self._last_log[0]
            event.update(
                type="train",
                loss=loss,
                learning_rate=logs.get("learning_rate"),
                grad_norm=logs.get("grad_norm"),
                samples_per_second=steps * self.batch_size / max(now - self._last_log[1], 1e-9),
            )
            self._last_log = (state.global_step, now)
            self.run.append_event(event)
            log.info("step %d/%d  epoch %.2f  loss %.4f", state.global_step, state.max_steps, state.epoch, loss)
            if not math.isfinite(loss):
                raise TrainingError(
                    f"Training stopped at step {state.global_step}: the loss became {loss}. The learning rate "
                    "is probably too high for this model; try a 10x smaller learning rate."
                )
        elif any(k.startswith("eval_") for k in logs):
            event.update(type="eval", **{k: v for k, v in logs.items() if k.startswith("eval_")})
            self.run.append_event(event)
            log.info(
                "epoch %.0f validation: accuracy %.4f  macro-F1 %.4f",
                state.epoch,
                logs.get("eval_accuracy", float("nan")),
                logs.get("eval_macro_f1", float("nan")),
            )

    def on_save(self, args, state, control, **kw):
        self.run.append_event({"type": "checkpoint", "step": state.global_step, "epoch": state.epoch})
        kill_point("checkpoint")


def eval_metrics(eval_pred) -> dict[str, float]:
    """What the Trainer records per evaluation (and keeps the best epoch by: macro-F1)."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    preds = np.argmax(eval_pred.predictions, axis=-1)
    labels = eval_pred.label_ids
    return {
        "accuracy": float(accuracy_score(labels, preds)),
        "macro_f1": float(f1_score(labels, preds, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(labels, preds, average="weighted", zero_division=0)),
    }


class SelectionCallback(TrainerCallback):
    """Adds ``eval_selection`` (what the best model is chosen by) to each evaluation: the validation
    macro-F1, with ties going to the later evaluation. On a small validation set many evaluations
    tie, and the Trainer's strict "greater than" would keep the first, possibly untrained, model."""

    def on_evaluate(self, args, state, control, metrics=None, **kw):
        if metrics is not None and "eval_macro_f1" in metrics:
            metrics["eval_selection"] = metrics["eval_macro_f1"] + 1e-6 * state.global_step / max(state.max_steps, 1)


class CheckpointPacing(TrainerCallback):
    """Without a validation split, checkpoints only serve resuming: skip those that come less than
    ``seconds`` after the last one (or the start), so short runs write none. Runs after the Trainer's
    own flow callback, which asks for a save every ``save_steps``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last = time.monotonic()

    def on_train_begin(self, args, state, control, **kw):
        self._last = time.monotonic()

    def on_step_end(self, args, state, control, **kw):
        if control.should_save:
            # Processes save together (the Trainer waits for all at a checkpoint): rank 0's clock decides.
            if not from_main(time.monotonic() - self._last >= self.seconds):
                control.should_save = False
            else:
                self._last = time.monotonic()
