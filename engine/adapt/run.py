"""One adaptation: read the texts, hold some out, measure, train, measure again, save the adapted model.

The directory works as a training run's (``engine.core.rundir``): config.json before anything heavy,
status.json with progress, events.jsonl, CANCEL honoured between steps, checkpoints to resume from,
metrics.json and then "completed" last. The loop is the training's Trainer (``build_trainer``).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from engine.core.adaptation import (
    ADAPTATION_FILE,
    HEAD_WARMUP_LEARNING_RATE,
    HEAD_WARMUP_STEPS,
    METHODS,
    AdaptConfig,
    perplexity,
    split_heldout,
)
from engine.core.errors import ConfigError, StorageError, TransferLabError, storage_problem
from engine.core.policy import choose_max_length
from engine.core.rundir import RunDir, checkpoint_step, write_json_atomic
from engine.data.text import load_unlabeled_texts
from engine.training.features import RunCancelled

log = logging.getLogger(__name__)

STOPPED_MESSAGE = "{how}. It can be resumed from its last checkpoint."


def resume_hint(run: RunDir) -> str:
    return f"Resume with: python -m engine.adapt --resume {run.path}"


def adapt(config: AdaptConfig, run: RunDir, resume: bool = False) -> dict[str, Any] | None:
    """Adapt and write the whole directory. Returns the metrics (None when cancelled)."""
    try:
        return _adapt(config, run, resume)
    except RunCancelled:
        _record(run, "cancelled", STOPPED_MESSAGE.format(how="Cancelled"))
        return None
    except TransferLabError as exc:
        _record(run, "failed", str(exc))
        raise
    except BaseException as exc:
        problem = storage_problem(exc, run.path)
        if problem:
            _record(run, "failed", problem)
            raise StorageError(problem) from exc
        if isinstance(exc, KeyboardInterrupt):
            _record(run, "cancelled", STOPPED_MESSAGE.format(how="Interrupted"))
        else:
            _record(run, "failed", f"Unexpected error: {type(exc).__name__}: {exc}")
        raise


def _record(run: RunDir, state: str, message: str) -> None:
    try:
        run.set_status(state, message)
    except OSError as exc:
        log.error("Could not record the run's status (%s): %s", exc, message)


def _seconds_before(events: list[dict[str, Any]], step: int) -> float:
    """Time of earlier sessions: from the first start to the checkpoint resumed from."""
    start = next((e for e in events if e.get("type") == "start"), None)
    saved = [e for e in events if e.get("type") == "checkpoint" and e.get("step") == step]
    return max(0.0, saved[-1]["time"] - start["time"]) if start and saved and step else 0.0


def _measured(run: RunDir, when: str) -> float | None:
    losses = [e["loss"] for e in run.events() if e.get("type") == "heldout" and e.get("when") == when]
    return losses[-1] if losses else None


def _adapt(config: AdaptConfig, run: RunDir, resume: bool) -> dict[str, Any] | None:
    import transformers
    from transformers import set_seed

    from engine.adapt.batches import Collator, encode_texts, fixed_batches, heldout_loss
    from engine.adapt.objectives import build_objective, model_kind
    from engine.core.resolve import resolve_model
    from engine.core.strategies import STRATEGIES
    from engine.tasks.base import count_parameters
    from engine.tasks.text.model import load_tokenizer
    from engine.tasks.text.task import model_token_limit, token_lengths
    from engine.training.device import choose_device
    from engine.training.trainer import build_trainer

    transformers.logging.set_verbosity_error()
    started = time.time()
    run.append_event({"type": "start", "resume": resume})
    run.remove_leftovers()
    run.set_status("running", "Reading the texts")
    device = choose_device(config.device, config.threads)
    data = load_unlabeled_texts(config.data, config.text_column)
    for warning in data.warnings:
        run.append_event({"type": "warning", "message": warning})
    train_texts, heldout_texts = split_heldout(data.texts, config.heldout, config.seed)

    run.set_status("running", f"Loading model {config.model}")
    resolved = resolve_model(config.model)
    kind = model_kind(resolved)
    method = config.resolved_method(kind)
    set_seed(config.seed)
    tokenizer = load_tokenizer(resolved)
    if method == "mlm" and tokenizer.mask_token_id is None:
        raise ConfigError(f"The tokenizer of '{config.model}' has no mask token, so masked-LM cannot run; use tsdae.")
    objective, notes = build_objective(method, resolved, STRATEGIES[config.strategy], config)
    limit = model_token_limit(_config(objective), tokenizer)
    max_length, note = choose_max_length(config.max_length, token_lengths(tokenizer, train_texts), limit, device.kind)
    notes += [note] if note else []
    trainable, total = count_parameters(objective)
    run.append_event(
        {
            "type": "setup",
            "method": method,
            "model_kind": kind,
            "trainable_params": trainable,
            "total_params": total,
            "device": device.name,
            "max_length": max_length,
            "train_texts": len(train_texts),
            "heldout_texts": len(heldout_texts),
        }
    )
    train_set = encode_texts(method, tokenizer, train_texts, max_length)
    heldout = fixed_batches(
        encode_texts(method, tokenizer, heldout_texts, max_length),
        Collator(method, tokenizer, max_length, seed=config.seed + 1),
        config.batch_size,
    )
    collator = Collator(method, tokenizer, max_length, seed=config.seed)
    objective.to(device.kind)

    def stop_if_asked() -> None:
        if run.cancel_requested():
            raise RunCancelled

    checkpoint = run.last_checkpoint() if resume else None
    loss_before = _measured(run, "before") if checkpoint else None
    if loss_before is None:
        if hasattr(objective, "warm_up"):
            run.set_status("running", "Fitting the new masked-LM head")
            batches = _shuffled_batches(train_set, collator, config.batch_size, config.seed, device.kind)
            steps = HEAD_WARMUP_STEPS
            objective.warm_up(batches, steps, HEAD_WARMUP_LEARNING_RATE, run.cancel_requested)
            stop_if_asked()
            run.append_event({"type": "warmup", "steps": steps})
        run.set_status("running", "Measuring the held-out loss before adapting")
        loss_before = heldout_loss(objective, heldout, device.kind, stop_if_asked)
        run.append_event({"type": "heldout", "when": "before", "loss": loss_before})
    log.info("held-out loss before: %.4f (perplexity %.2f)", loss_before, perplexity(loss_before))

    settings = dataclasses.replace(config, learning_rate=config.resolved_learning_rate(method))
    trainer, callback = build_trainer(
        settings, run, objective, train_set, None, collator, tokenizer, "group_by_length", device, config.epochs
    )
    if config.max_steps:
        trainer.args.max_steps = config.max_steps
    before = 0.0
    if resume:
        step = checkpoint_step(checkpoint)
        before = _seconds_before(run.events(), step)
        run.truncate_events(after_step=step)
        run.append_event({"type": "resume", "checkpoint": checkpoint.name if checkpoint else None})
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    if callback.cancelled:
        raise RunCancelled
    state = trainer.state

    run.set_status("running", "Measuring the held-out loss after adapting")
    loss_after = heldout_loss(objective, heldout, device.kind)
    run.append_event({"type": "heldout", "when": "after", "loss": loss_after})
    train_seconds = time.time() - started + before
    metrics = {
        "method": method,
        "method_loss": METHODS[method].loss,
        "model": config.model,
        "model_kind": kind,
        "strategy": config.strategy,
        "loss_before": loss_before,
        "loss_after": loss_after,
        "perplexity_before": perplexity(loss_before),
        "perplexity_after": perplexity(loss_after),
        "steps": state.global_step,
        "max_steps": state.max_steps,
        "learning_rate": settings.learning_rate,
        "max_length": max_length,
        "head_warmup_steps": HEAD_WARMUP_STEPS if method == "mlm" else 0,
        "train_seconds": train_seconds,
        "texts": {"train": len(train_texts), "heldout": len(heldout_texts)},
        "trainable_params": trainable,
        "total_params": total,
        "device": device.name,
        "data_warnings": data.warnings,
        "notes": notes,
    }
    run.set_status("running", "Saving the adapted model")
    save_adapted(objective, tokenizer, run.model_dir, config, metrics, data.source)
    write_json_atomic(run.metrics_path, metrics)
    run.set_status(
        "completed",
        f"Held-out perplexity {metrics['perplexity_before']:.2f} before, {metrics['perplexity_after']:.2f} after",
        progress={"step": state.global_step, "max_steps": state.max_steps},
    )
    shutil.rmtree(run.checkpoints_dir, ignore_errors=True)  # only needed to resume
    run.cancel_path.unlink(missing_ok=True)
    return metrics


def _config(objective: Any) -> Any:
    """The wrapped model's transformers config (the encoder's, or the language model's)."""
    return (objective.lm if hasattr(objective, "lm") else objective.encoder).config


def _shuffled_batches(dataset: Any, collator: Any, batch_size: int, seed: int, device: str):
    """Endless shuffled training batches (the head's warm-up), moved to ``device``."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(dataset), generator=generator).tolist()
        for i in range(0, len(order), batch_size):
            batch = collator([dataset[j] for j in order[i : i + batch_size]])
            yield {k: v.to(device) for k, v in batch.items()}


def save_adapted(
    objective: Any, tokenizer: Any, folder: Path, config: AdaptConfig, metrics: dict[str, Any], source: str
) -> None:
    """``folder``: the adapted model as transformers saves it (safetensors), its tokenizer, adaptation.json
    and a model card; written to a temp folder first, then renamed into place."""
    from engine.adapt.card import adaptation_card
    from engine.tasks.base import atomic_folder

    model = objective.trained_model().cpu()
    facts = {
        "base_model": config.model,
        "data": source,
        "texts": metrics["texts"],
        "method": metrics["method"],
        "strategy": config.strategy,
        "steps": metrics["steps"],
        "loss_before": metrics["loss_before"],
        "loss_after": metrics["loss_after"],
        "perplexity_before": metrics["perplexity_before"],
        "perplexity_after": metrics["perplexity_after"],
    }
    with atomic_folder(Path(folder)) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        for pickled in tmp.glob("*.bin"):  # safetensors only
            pickled.unlink()
        write_json_atomic(tmp / ADAPTATION_FILE, facts)
        (tmp / "README.md").write_text(adaptation_card(facts, metrics), encoding="utf-8")
