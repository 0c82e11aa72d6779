"""The transformers Trainer as a run uses it: checkpoints that hold what trains, a plain error for a checkpoint
that does not match its model, rank 0 alone writing, and the fault injection of the test suite."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine.core.errors import TrainingError
from engine.core.faults import ENV as FAULT_ENV
from engine.core.faults import kill_point
from engine.core.rundir import checkpoint_step
from engine.core.words import listed


def run_trainer_class(base: type) -> type:
    """The transformers Trainer, with checkpoints that hold what trains (LoRA: the adapters and the head,
    partial: the top layers) and the buffers, not a copy of the frozen backbone: a LoRA checkpoint of
    MiniLM took 87 MB. Resuming and loading the best checkpoint load a checkpoint non-strictly into a
    model built from the same pre-trained weights, so the frozen part is the same without being saved."""

    class RunTrainer(base):
        def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
            # named_parameters names a shared (tied) tensor once, so it is saved once: safetensors refuses one
            # saved under two names (a decoder's output layer tied to its word embeddings).
            params = dict(self.model.named_parameters())
            if state_dict is None:
                kept = {name for name, p in params.items() if p.requires_grad}
                kept |= {name for name, _ in self.model.named_buffers()}
                state_dict = {k: v.contiguous() for k, v in self.model.state_dict().items() if k in kept}
            super()._save(output_dir, state_dict)
            kill_point("checkpoint-save")  # weights written, optimizer and trainer state not yet

        def _issue_warnings_after_load(self, load_result: Any) -> None:
            # The frozen part is missing from our checkpoints on purpose; anything that trains must be there.
            trainable = {name for name, p in self.model.named_parameters() if p.requires_grad}
            missing = sorted(set(load_result.missing_keys) & trainable)
            if missing or load_result.unexpected_keys:
                raise TrainingError(
                    "A checkpoint of this run does not match its model (missing "
                    f"{listed(missing) or 'nothing'}, unexpected {listed(load_result.unexpected_keys) or 'nothing'}). "
                    "Start the run again (a new run with the same settings)."
                )

        def _save_rng_state(self, output_dir: str) -> None:
            # Rank 0 alone writes the run directory; the others' random streams restart from the seed on resume.
            if self.args.process_index == 0:
                super()._save_rng_state(output_dir)

        def _save_checkpoint(self, model: Any, trial: Any) -> None:
            if os.environ.get(FAULT_ENV) != "rotate":
                return super()._save_checkpoint(model, trial)
            # Fault injection: remove part of the checkpoint being rotated out, then die.
            import transformers.trainer as module

            original = module.rotate_checkpoints

            def cut_short(output_dir: str, save_total_limit: int | None = None, best_model_checkpoint=None, **kw):
                saved = sorted(Path(output_dir).glob("checkpoint-*"), key=checkpoint_step)
                best = Path(best_model_checkpoint).name if best_model_checkpoint else None
                rotated = [c for c in saved if c.name != best]  # the best is never rotated out
                if save_total_limit and len(saved) > save_total_limit and rotated:
                    (rotated[0] / "optimizer.pt").unlink(missing_ok=True)
                    kill_point("rotate")
                return original(
                    output_dir=output_dir,
                    save_total_limit=save_total_limit,
                    best_model_checkpoint=best_model_checkpoint,
                    **kw,
                )

            module.rotate_checkpoints = cut_short
            try:
                return super()._save_checkpoint(model, trial)
            finally:
                module.rotate_checkpoints = original

    return RunTrainer
