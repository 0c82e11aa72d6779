"""How each strategy trains (``Strategy.recipe``), for any task.

- ``features`` (frozen): the backbone runs once per example (features cached on disk), then a
  logistic-regression head is fitted to convergence, its strength chosen by cross-validation.
- ``finetune`` (partial, LoRA, full, scratch): backbone and head train together with the
  transformers Trainer, for at least ``config.min_steps`` optimizer steps whatever the epochs;
  the best evaluation on the validation split is kept (ties go to the later one) with early
  stopping, or, with no validation split (small data), the last.
- ``contrastive`` (SetFit): the backbone first learns from every pair of examples in each batch
  (same label: similar, else not) with SetFit's cosine-similarity loss, then the head is fitted as
  for ``features``.

Each returns an :class:`Outcome`: the test split's probabilities and how the model was chosen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from engine.core.errors import TrainingError
from engine.core.metrics import classification_metrics
from engine.core.rundir import RunDir, checkpoint_complete, checkpoint_step
from engine.training.distributed import split_among
from engine.training.features import RunCancelled, features_of_splits
from engine.training.head import fit_head

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    config: Any
    run: RunDir
    task: Any  # engine.tasks.base.Task
    splits: Any
    device: Any
    strategy: Any
    epochs: int
    resume: bool
    build_trainer: Callable[..., Any]  # engine.training.trainer.build_trainer
    seconds_before: Callable[[int], float]  # training time of earlier sessions, up to a checkpoint step


@dataclass
class Outcome:
    probs: np.ndarray  # test split: one row of class probabilities per example
    steps: int = 0
    max_steps: int = 0
    seconds_before: float = 0.0  # training time of sessions before a resume
    best_checkpoint: str | None = None
    best_validation_macro_f1: float | None = None
    head: dict[str, Any] | None = None  # the fitted head: C, folds, cross-validated accuracy
    notes: list[str] = field(default_factory=list)  # how the final model was chosen, in words


# --- the fitted head --------------------------------------------------------------------------
def _probs(classifier, features: np.ndarray, device: str) -> np.ndarray:
    with torch.inference_mode():
        logits = classifier.classify(torch.from_numpy(np.asarray(features, dtype=np.float32)).to(device)).logits
        return torch.softmax(logits.float(), -1).cpu().numpy()


def _fit_head(ctx: RunContext, features: dict[str, np.ndarray]) -> dict[str, Any]:
    """Fit the head on the training features, put it in the classifier, record the choice and the
    validation score (as the one evaluation of the run)."""
    ctx.run.set_status("running", "Fitting the classifier")
    labels = ctx.splits.label_names
    fit = fit_head(features["train"], ctx.splits.train.labels, len(labels), seed=ctx.config.seed)
    ctx.task.classifier.set_head(fit.weight, fit.bias)
    head = {
        "C": fit.C,
        "folds": fit.folds,
        "cv_accuracy": fit.cv_accuracy,
        "cv_log_loss": fit.cv_log_loss,
        "cv_rows": fit.cv_rows,
    }
    ctx.run.append_event({"type": "head", **head})
    if len(ctx.splits.validation):
        probs = _probs(ctx.task.classifier, features["validation"], ctx.device.kind)
        scores = classification_metrics(ctx.splits.validation.labels, probs.argmax(-1), labels)
        ctx.run.append_event(
            {"type": "eval", "step": 1, "epoch": 1.0}
            | {f"eval_{k}": scores[k] for k in ("accuracy", "macro_f1", "weighted_f1")}
        )
    return head


def _head_note(head: dict[str, Any], n_train: int) -> str:
    if head["folds"]:
        rows = head.get("cv_rows") or n_train
        on = "them" if rows >= n_train else f"a sample of {rows:,} of them keeping each class's share"
        return (
            f"The classifier on top was fitted to convergence on all {n_train:,} training examples; its "
            f"regularisation was chosen by {head['folds']}-fold cross-validation on {on} "
            f"(cross-validated accuracy {head['cv_accuracy']:.3f})."
        )
    return f"The classifier on top was fitted to convergence on all {n_train:,} training examples."


def features_recipe(ctx: RunContext) -> Outcome:
    ctx.run.set_status("running", "Computing features with the frozen model")
    ctx.task.classifier.to(ctx.device.kind).eval()
    features = features_of_splits(ctx.run, ctx.task, ctx.splits)
    head = _fit_head(ctx, features)
    probs = _probs(ctx.task.classifier, features["test"], ctx.device.kind)
    return Outcome(probs=probs, head=head, notes=[_head_note(head, len(ctx.splits.train))])


# --- fine-tuning with the Trainer -------------------------------------------------------------------
def _train(ctx: RunContext, trainer) -> tuple[Any, float]:
    """Run the Trainer, resuming from the last checkpoint when asked; returns its state and the time of
    earlier sessions (events after the checkpoint are dropped: those steps run again)."""
    checkpoint = ctx.run.last_checkpoint() if ctx.resume else None
    before = 0.0
    if ctx.resume:
        step = checkpoint_step(checkpoint)
        before = ctx.seconds_before(step)
        ctx.run.truncate_events(after_step=step)
        ctx.run.append_event({"type": "resume", "checkpoint": checkpoint.name if checkpoint else None})
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    return trainer.state, before


def finetune_recipe(ctx: RunContext) -> Outcome:
    data = ctx.task.datasets()
    validate = len(ctx.splits.validation) > 0
    trainer, callback = ctx.build_trainer(
        ctx.config,
        ctx.run,
        ctx.task.classifier,
        data.train,
        data.validation if validate else None,
        data.collator,
        data.processing_class,
        data.sampling,
        ctx.device,
        ctx.epochs,
        min_steps=ctx.config.resolved_min_steps(),
    )
    state, before = _train(ctx, trainer)
    if callback.cancelled:
        raise RunCancelled
    best = state.best_model_checkpoint
    if validate and best and not checkpoint_complete(Path(best)):
        # The Trainer only warns and goes on with the last model: the results would be of another model.
        raise TrainingError(
            f"The best model of this run ({Path(best).name}) cannot be loaded: the run was interrupted while "
            "that checkpoint was being written or removed. Start the run again (a new run with the same settings)."
        )
    ctx.run.set_status("running", "Evaluating on the test split")
    ctx.task.classifier.to(ctx.device.kind).eval()
    notes = []
    if state.max_steps > ctx.epochs * callback.steps_per_epoch:
        passes = state.max_steps / callback.steps_per_epoch
        notes.append(
            f"Trained for {state.max_steps:,} steps, {passes:.1f} passes over the {len(ctx.splits.train):,} training "
            f"examples instead of the {ctx.epochs} asked for: with little data, more passes are needed for enough "
            "updates."
        )
    if validate:
        notes.append("The model kept is the one that scored best on the validation split (later on ties).")
    else:
        notes.append("No validation split was held out (too few examples): the model kept is the last one.")
    return Outcome(
        probs=split_among(ctx.splits.test, ctx.task.predict_proba),  # each process predicts its share
        steps=state.global_step,
        max_steps=state.max_steps,
        seconds_before=before,
        best_checkpoint=best.rsplit("/", 1)[-1] if best else None,
        best_validation_macro_f1=state.best_metric,
        notes=notes,
    )


# --- contrastive (SetFit) -----------------------------------------------------------------------------
class InBatchContrastive(nn.Module):
    """The classifier's backbone trained on every pair of examples in a batch: the cosine similarity of
    their normalised features should be 1 for the same label and 0 otherwise (SetFit's
    CosineSimilarityLoss). One batch of B examples gives B(B-1)/2 pairs for B forward passes, where
    SetFit's pair batches need two forward passes per pair."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(
        self, labels: torch.Tensor | None = None, num_items_in_batch: int | None = None, **inputs: torch.Tensor
    ) -> SequenceClassifierOutput:
        # num_items_in_batch: the Trainer's hint for losses summed over tokens; this loss is a mean over pairs.
        features = nn.functional.normalize(self.classifier.encode(**inputs), dim=-1)
        similarity = features @ features.T
        loss = None
        if labels is not None and len(labels) > 1:
            first, second = torch.triu_indices(len(labels), len(labels), 1, device=labels.device)
            same = (labels[first] == labels[second]).to(similarity.dtype)
            loss = nn.functional.mse_loss(similarity[first, second], same)
        elif labels is not None:
            loss = similarity.sum() * 0.0  # a batch of one has no pair
        return SequenceClassifierOutput(loss=loss, logits=similarity)


def contrastive_recipe(ctx: RunContext) -> Outcome:
    data = ctx.task.datasets()
    trainer, callback = ctx.build_trainer(
        ctx.config,
        ctx.run,
        InBatchContrastive(ctx.task.classifier),
        data.train,
        None,
        data.collator,
        data.processing_class,
        "random",  # batches of mixed labels, not of similar lengths
        ctx.device,
        ctx.epochs,
    )
    state, before = _train(ctx, trainer)
    if callback.cancelled:
        raise RunCancelled
    ctx.run.set_status("running", "Computing features with the tuned model")
    ctx.task.classifier.to(ctx.device.kind).eval()
    features = {
        name: split_among(getattr(ctx.splits, name), ctx.task.extract_features)
        for name in ("train", "validation")
        if len(getattr(ctx.splits, name))
    }
    head = _fit_head(ctx, features)
    n_train = len(ctx.splits.train)
    pairs = state.global_step * (min(ctx.config.batch_size, n_train) ** 2 - min(ctx.config.batch_size, n_train)) // 2
    notes = [
        f"The model first learned from about {pairs:,} pairs of training examples which belong together "
        f"({ctx.epochs} passes over the {n_train:,} examples).",
        _head_note(head, n_train),
    ]
    return Outcome(
        probs=split_among(ctx.splits.test, ctx.task.predict_proba),  # each process predicts its share
        steps=state.global_step,
        max_steps=state.max_steps,
        seconds_before=before,
        head=head,
        notes=notes,
    )


RECIPES: dict[str, Callable[[RunContext], Outcome]] = {
    "features": features_recipe,
    "finetune": finetune_recipe,
    "contrastive": contrastive_recipe,
}
