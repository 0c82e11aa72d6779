"""One training run, for any task: data, model, the Trainer loop, evaluation, and the run directory.

The run directory (``engine.core.rundir``) is the contract with the dashboard: config.json is
written before anything heavy happens, status.json says where the run is, events.jsonl grows as
it trains, and status "completed" is written last, after metrics, predictions and the model.

What is particular to texts or pictures comes from the run's Task (``engine.tasks``), found by
one lookup in ``engine.core.tasks``.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections import Counter
from typing import Any

from engine.core.config import TrainConfig
from engine.core.distributed import current_world, per_process_batch
from engine.core.errors import ConfigError, StorageError, TrainingError, TransferLabError, storage_problem
from engine.core.faults import kill_point
from engine.core.metrics import classification_metrics, small_split_warning
from engine.core.policy import (
    EARLY_STOPPING_PATIENCE,
    MAX_EVALUATIONS,
    checkpoint_every_seconds,
    eval_batch_size,
)
from engine.core.predictions import write_test_predictions
from engine.core.rundir import RunDir, completed_message, write_json_atomic
from engine.core.strategies import STRATEGIES, strategies_for
from engine.core.tasks import TASKS, TaskInfo, get_task
from engine.data.dataset import Splits, training_splits
from engine.training.baselines import score_baselines
from engine.training.callbacks import CheckpointPacing, RunDirCallback, SelectionCallback, eval_metrics
from engine.training.card import model_card
from engine.training.features import RunCancelled
from engine.training.run_trainer import run_trainer_class
from engine.training.tracking import MlflowTracker, start_tracking

log = logging.getLogger(__name__)


# The status of a stopped run, for the dashboard (its Resume button) and the CLI (which adds the command).
STOPPED_MESSAGE = "{how}. It can be resumed from its last checkpoint."


def resume_hint(run: RunDir) -> str:
    return f"Resume with: python -m engine.train --resume {run.path}"


# --- before training ---------------------------------------------------------------------------
def load_splits(config: TrainConfig) -> tuple[Splits, list[str]]:
    """Training, validation and test sets, split per class, loaded by the task's data module, and notes
    on how they were made (``engine.data.dataset.training_splits``: no validation split with fewer than
    ``SMALL_DATA_PER_CLASS`` examples in a class, or for a strategy that does not choose by one)."""
    load = get_task(config.task).load("loader")
    train = load(config)
    extra = {
        key: load(config, path, label_names=train.label_names)
        for key, path in (("validation", config.validation_data), ("test", config.test_data))
        if path
    }
    return training_splits(
        train,
        validation=extra.get("validation"),
        test=extra.get("test"),
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
        uses_validation=STRATEGIES[config.strategy].uses_validation,
    )


def build_task(config: TrainConfig, run: RunDir, resolved, strategy, splits, device):
    """The run's Task (model built and prepared by the strategy), after checking the model reads this data."""
    info: TaskInfo = get_task(config.task)
    implementation = info.load("implementation")
    if not implementation.accepts(resolved):
        owner = next((t for t in TASKS.values() if t is not info and t.load("implementation").accepts(resolved)), None)
        raise info.wrong_model(config.model, owner)
    return implementation(config, run, resolved, strategy, splits, device)


def build_trainer(
    config: TrainConfig,
    run: RunDir,
    model,
    train_ds,
    eval_ds,
    collator,
    processing_class,
    sampling: str,
    device,
    epochs: int,
    min_steps: int = 0,
):
    """The transformers Trainer a run trains with, and the callback that writes its run directory.

    At least ``min_steps`` optimizer steps (more passes over small data). With ``eval_ds`` it
    evaluates every epoch (or every few when epochs are short: at most ``MAX_EVALUATIONS`` times),
    keeps the best evaluation by validation macro-F1 (ties go to the later one) and stops early when
    it stops improving; without, it keeps the last model. One place for the training settings,
    shared by the recipes and the benchmark (``python -m bench``), which times the engine through it.
    ``config.batch_size`` is a whole step's examples, shared among the processes of a distributed run.
    """
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer, TrainingArguments

    steps_per_epoch = math.ceil(len(train_ds) / config.batch_size)
    total = max(epochs * steps_per_epoch, min_steps)
    interval = max(steps_per_epoch, math.ceil(total / MAX_EVALUATIONS))
    evaluate = eval_ds is not None and len(eval_ds) > 0
    args = TrainingArguments(
        output_dir=str(run.checkpoints_dir),
        num_train_epochs=epochs,
        max_steps=total if total > epochs * steps_per_epoch else -1,
        per_device_train_batch_size=per_process_batch(config.batch_size, current_world().size),
        per_device_eval_batch_size=eval_batch_size(config.batch_size),
        learning_rate=config.resolved_learning_rate(),
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,
        lr_scheduler_type="linear",
        eval_strategy="steps" if evaluate else "no",
        eval_steps=interval,
        save_strategy="steps",
        save_steps=interval,
        save_total_limit=2,
        load_best_model_at_end=evaluate,
        metric_for_best_model="selection" if evaluate else None,
        greater_is_better=True,
        logging_steps=max(1, min(50, steps_per_epoch // 5)),
        logging_nan_inf_filter=False,  # a NaN loss must reach our callback, not be averaged away
        train_sampling_strategy=sampling,
        remove_unused_columns=False,
        report_to="none",
        disable_tqdm=True,
        seed=config.seed,
        use_cpu=device.kind == "cpu",
        bf16=device.precision == "bf16",
        fp16=device.precision == "fp16",
        dataloader_num_workers=0,
    )
    callback = RunDirCallback(run, config.batch_size)
    callback.steps_per_epoch = steps_per_epoch
    callbacks = [callback]
    if evaluate:
        callbacks += [SelectionCallback(), EarlyStoppingCallback(early_stopping_patience=EARLY_STOPPING_PATIENCE)]
    else:
        callbacks.append(CheckpointPacing(checkpoint_every_seconds()))
    trainer = run_trainer_class(Trainer)(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds if evaluate else None,
        data_collator=collator,
        processing_class=processing_class,
        compute_metrics=eval_metrics,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # our callback logs a shorter line per step
    return trainer, callback


# --- the run -------------------------------------------------------------------------------
def train(
    config: TrainConfig, run: RunDir, resume: bool = False, splits: tuple[Splits, list[str]] | None = None
) -> dict[str, Any] | None:
    """Train and write the whole run directory. Returns the test metrics (None when cancelled).

    ``splits`` (the splits and their notes, as :func:`load_splits` gives them) replaces the splits made
    from ``config``: a learning curve's point trains on part of a run's training split, tested on its test
    split. A run that asked for tracking is logged to MLflow too (``engine.training.tracking``)."""
    # None unless the run asked for it and MLflow answered (rank 0 alone reports a distributed run)
    tracker = start_tracking(run) if current_world().is_main else None
    ended = "FAILED"  # how its MLflow run ends
    try:
        metrics = _train(config, run, resume, splits, tracker)
        ended = "FINISHED"
        return metrics
    except RunCancelled:
        ended = "KILLED"
        _record(run, "cancelled", STOPPED_MESSAGE.format(how="Cancelled"))
        return None
    except TransferLabError as exc:
        _record(run, "failed", str(exc))
        raise
    except BaseException as exc:
        if _is_out_of_memory(exc):
            message = (
                "Training ran out of memory. Try a smaller batch size or max length, or a lighter strategy "
                "(LoRA or frozen), which need far less memory than full fine-tuning."
            )
            _record(run, "failed", message)
            raise TrainingError(message) from exc
        problem = storage_problem(exc, run.path)
        if problem:
            _record(run, "failed", problem)
            raise StorageError(problem) from exc
        if isinstance(exc, KeyboardInterrupt):
            ended = "KILLED"
            _record(run, "cancelled", STOPPED_MESSAGE.format(how="Interrupted"))
        elif current_world().distributed and _lost_a_process(exc):
            _record(run, "failed", PEER_LOST.format(n=current_world().size))
        else:
            _record(run, "failed", f"Unexpected error: {type(exc).__name__}: {exc}")
        raise
    finally:
        if tracker is not None:
            tracker.end(ended)


def _record(run: RunDir, state: str, message: str) -> None:
    """The run's final status, when the disk still lets us write it (the caller reports it either way)."""
    try:
        run.set_status(state, message)
    except OSError as exc:
        log.error("Could not record the run's status (%s): %s", exc, message)


# A distributed run whose other process stopped: torchrun's output says which and why.
PEER_LOST = (
    "Another of the {n} training processes stopped, so this one could not go on (torchrun's output says which "
    "and why). It can be resumed from its last checkpoint, on as many processes as you like."
)


def _lost_a_process(exc: BaseException) -> bool:
    """An error of torch.distributed's transport: a process at the other end is gone."""
    import torch.distributed as dist

    text = str(exc)
    return isinstance(exc, dist.DistError) or any(
        s in text for s in ("Connection reset by peer", "Connection closed by peer", "gloo/transport", "NCCL")
    )


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _seconds_before(events: list[dict[str, Any]], step: int) -> float:
    """Training time of earlier sessions: from the first start to the checkpoint we resume from."""
    setup = next((e for e in events if e.get("type") in ("start", "setup")), None)
    saved = [e for e in events if e.get("type") == "checkpoint" and e.get("step") == step]
    if setup is None or not saved or step == 0:
        return 0.0
    return max(0.0, saved[-1]["time"] - setup["time"])


def _note(run: RunDir, message: str) -> None:
    run.append_event({"type": "warning", "message": message})
    log.info("note: %s", message)


def _train(
    config: TrainConfig,
    run: RunDir,
    resume: bool,
    given: tuple[Splits, list[str]] | None = None,
    tracker: MlflowTracker | None = None,
) -> dict[str, Any] | None:
    import transformers
    from transformers import set_seed

    from engine.core.resolve import resolve_model
    from engine.core.strategies import STRATEGIES
    from engine.tasks.base import count_parameters
    from engine.training.device import choose_device
    from engine.training.recipes import RECIPES, RunContext

    transformers.logging.set_verbosity_error()
    # The time to train runs from here (loading the data) to the test predictions, over every session.
    started = time.time()
    run.append_event({"type": "start", "resume": resume})
    removed = run.remove_leftovers()
    if removed:
        log.info("removed what an interrupted session left half-written: %s", ", ".join(removed))
    run.set_status("running", "Loading data")
    world = current_world()
    device = choose_device(config.device, config.threads, world)
    splits, split_notes = given or load_splits(config)
    for warning in [*splits.train.warnings, *split_notes]:
        _note(run, warning)

    run.set_status("running", f"Loading model {config.model}")
    set_seed(config.seed)
    strategy = STRATEGIES[config.strategy]
    if config.task not in strategy.tasks:
        raise ConfigError(
            f"The {strategy.title} strategy is not available for {get_task(config.task).examples}. "
            f"Choose one of: {', '.join(strategies_for(config.task))}."
        )
    task = build_task(config, run, resolve_model(config.model), strategy, splits, device)
    for note in task.notes:
        _note(run, note)
    classifier = task.classifier
    trainable, total = count_parameters(classifier)
    epochs = config.resolved_epochs()
    run.append_event(
        {
            "type": "setup",
            "task": task.name,
            "trainable_params": trainable,
            "total_params": total,
            "device": device.name,
            "precision": device.precision,
            **task.info,
            "train_examples": len(splits.train),
            "validation_examples": len(splits.validation),
            "test_examples": len(splits.test),
        }
    )

    context = RunContext(
        config=config,
        run=run,
        task=task,
        splits=splits,
        device=device,
        strategy=strategy,
        epochs=epochs,
        resume=resume,
        build_trainer=build_trainer,
        seconds_before=lambda step: _seconds_before(run.events(), step),
    )
    outcome = RECIPES[strategy.recipe](context)
    train_seconds = time.time() - started + outcome.seconds_before
    # Passes over the training data: one for frozen features; fine-tuning may make more than its epochs
    # (the minimum number of steps), or fewer (early stopping).
    per_epoch = -(-len(splits.train) // config.batch_size)  # steps per pass, the last batch smaller
    passes = outcome.steps / per_epoch if outcome.steps else 1.0
    probs = outcome.probs
    metrics = classification_metrics(splits.test.labels, probs.argmax(-1), splits.label_names)
    unit = get_task(config.task).unit
    validation_counts = Counter(splits.label_names[i] for i in splits.validation.labels)
    small_splits = [
        warning
        for warning in (
            small_split_warning(validation_counts, "validation", unit) if len(splits.validation) else None,
            small_split_warning({k: v["support"] for k, v in metrics["per_class"].items()}, "test", unit),
        )
        if warning
    ]
    metrics.update(
        task=task.name,
        trainable_params=trainable,
        total_params=total,
        trainable_share=trainable / total,
        train_seconds=train_seconds,
        passes=passes,
        # One meaning for every strategy: training examples through the model (each pass counted) per
        # second of the time to train.
        train_samples_per_second=len(splits.train) * passes / train_seconds,
        device=device.name,
        precision=device.precision,
        model=config.model,
        strategy=config.strategy,
        epochs=epochs,
        steps=outcome.steps,
        max_length=task.info.get("max_length"),
        inputs_cut=task.info.get("inputs_cut"),  # texts: the share of training texts cut at max_length
        image_size=task.info.get("image_size"),
        best_validation_macro_f1=outcome.best_validation_macro_f1,
        best_checkpoint=outcome.best_checkpoint,
        head=outcome.head,
        train_examples=len(splits.train),
        validation_examples=len(splits.validation),
        test_examples=len(splits.test),
        data_warnings=splits.train.warnings,
        evaluation_warnings=small_splits,
        notes=[*split_notes, *outcome.notes],
    )

    if not world.is_main:
        return metrics  # rank 0 writes the results; this process's share is done

    # What the scores mean beside a model without pre-training, on the same split (not in the time to train).
    run.set_status("running", "Scoring the baselines")
    metrics["baselines"] = score_baselines(get_task(config.task), splits, config.seed)

    run.set_status("running", "Saving the model")
    task.save(run.model_dir, splits.label_names, model_card(config, metrics, task.usage))
    kill_point("final-save")
    examples, extra = task.example_columns(splits.test)
    write_test_predictions(run.predictions_path, examples, splits.test.labels, probs, splits.label_names, extra)
    write_json_atomic(run.metrics_path, metrics)  # the last result written: with it, the run is complete
    if tracker is not None:
        run.set_status("running", "Logging the run to MLflow")
        tracker.finish(metrics)
    run.set_status(
        "completed",
        completed_message(metrics),
        progress={"step": outcome.steps, "max_steps": outcome.max_steps, "epoch": passes},
    )
    # Cleanup after "completed": a kill here leaves files to remove, never a finished run shown as failed.
    kill_point("cleanup")
    shutil.rmtree(run.checkpoints_dir, ignore_errors=True)  # only needed to resume
    run.cancel_path.unlink(missing_ok=True)
    return metrics
