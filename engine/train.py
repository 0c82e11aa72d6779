"""Fine-tune a foundation model on labeled texts or pictures, headless.

    python -m engine.train --data data/spam_emails.csv --model minilm --strategy lora --out runs/x
    python -m engine.train --data data/fashion_demo.zip --model efficientnet-lite0 --strategy frozen --out runs/y
    python -m engine.train --resume runs/x

The run directory (see ``engine.rundir``) is the contract with the dashboard: config.json is
written before anything heavy happens, status.json says where the run is, events.jsonl grows as
it trains, and status "completed" is written last, after metrics, predictions and the model.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import math
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.config import TrainConfig, add_config_arguments, config_from_args
from engine.errors import ConfigError, TrainingError, TransferLabError
from engine.rundir import RunDir, checkpoint_step, write_json_atomic


# --- data -------------------------------------------------------------------------------
def load_splits(config: TrainConfig):
    """Training, validation and test sets, split per class: texts from a table, or pictures from a
    ZIP or folder (class folders, or a labels CSV)."""
    from engine.data import load_text_dataset, make_splits

    if config.task == "image":
        from engine.images import load_image_dataset

        train = load_image_dataset(config.data, config.image_labels)

        def load(path: str):
            return load_image_dataset(path, label_names=train.label_names)
    else:
        train = load_text_dataset(config.data, config.text_column, config.label_column)

        def load(path: str):
            return load_text_dataset(path, config.text_column, config.label_column, label_names=train.label_names)

    extra = {
        key: load(path) for key, path in (("validation", config.validation_data), ("test", config.test_data)) if path
    }
    return make_splits(
        train,
        validation=extra.get("validation"),
        test=extra.get("test"),
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
    )


class ListDataset:
    """A map-style dataset over a list of feature dicts (what Trainer and its collators expect)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.items[i]


# Automatic max length: long enough for 95 texts in 100, but no longer than the model allows and,
# on a CPU where every token costs, no longer than this.
AUTO_MAX_LENGTH_CPU = 128
AUTO_PERCENTILE = 95


def model_token_limit(model_config: Any, tokenizer: Any) -> int:
    """The most tokens the model takes: its position table, or the tokenizer's limit, or 512."""
    limits = [getattr(model_config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    usable = [int(n) for n in limits if isinstance(n, int) and 0 < n < 1_000_000]
    return min(usable) if usable else 512


def token_lengths(tokenizer: Any, texts: list[str]) -> list[int]:
    """Untruncated token counts (special tokens included) of the texts."""
    return [len(ids) for ids in tokenizer(list(texts), truncation=False, verbose=False)["input_ids"]]


def choose_max_length(
    requested: int | None, lengths: list[int], limit: int, device_kind: str
) -> tuple[int, str | None]:
    """The max length to train with, and a note for the user when texts will be cut.

    >>> choose_max_length(None, [10, 12, 40], 512, "cuda")
    (40, None)
    """
    if requested is not None:
        chosen = min(requested, limit)
        if chosen < requested:
            return chosen, f"max_length lowered to the model's limit of {limit} tokens."
    else:
        ordered = sorted(lengths) or [limit]
        percentile = ordered[min(len(ordered) - 1, math.ceil(len(ordered) * AUTO_PERCENTILE / 100) - 1)]
        cap = limit if device_kind != "cpu" else min(limit, AUTO_MAX_LENGTH_CPU)
        chosen = max(8, min(-(-percentile // 8) * 8, cap))  # a multiple of 8 suits the matmul kernels
    cut = sum(n > chosen for n in lengths)
    if lengths and cut / len(lengths) > 0.10:
        return chosen, (
            f"{cut / len(lengths):.0%} of the training texts are longer than {chosen} tokens and are cut there. "
            "A larger max length keeps more of each text but trains slower."
        )
    return chosen, None


def encode(tokenizer: Any, texts: list[str], labels: list[int], max_length: int) -> ListDataset:
    # No padding here: DataCollatorWithPadding pads each batch to its own longest text.
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    return ListDataset([{**{k: enc[k][i] for k in keys}, "labels": labels[i]} for i in range(len(texts))])


# --- frozen features, cached on disk by content --------------------------------------------
class RunCancelled(Exception):
    """The user asked the run to stop (the CANCEL file)."""


def cached_array(key: str, compute: Callable[[], Any]) -> tuple[Any, bool]:
    """The features cache: the array stored under ``key``, or ``compute()`` stored there (atomically).
    Returns the array and whether it came from the cache."""
    import numpy as np

    from engine.workspace import cache_dir

    path = cache_dir("features") / f"{key}.npy"
    if path.exists():
        return np.load(path), True
    array = compute()
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)
    return array, False


def cached_features(
    classifier, tokenizer, texts: list[str], max_length: int, model_path: str, device, precision, on_batch=None
):
    from engine.modeling import extract_features
    from engine.workspace import fingerprint

    h = hashlib.sha256()
    for part in (fingerprint(model_path), classifier.pooling, str(max_length), str(len(texts))):
        h.update(part.encode() + b"\0")
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    return cached_array(
        h.hexdigest(),
        lambda: extract_features(
            classifier, tokenizer, texts, max_length, device=device, precision=precision, on_batch=on_batch
        ),
    )


def features_of_splits(run: RunDir, splits, features: Callable[[Any, Callable[[int, int], None]], tuple]) -> dict:
    """``features(part, on_batch) -> (array, cached)`` for train, validation and test, with progress in
    status.json, a stop on CANCEL and one event per split."""
    feats = {}
    for name in ("train", "validation", "test"):
        part = getattr(splits, name)

        def on_batch(done: int, n: int, name: str = name) -> None:
            if run.cancel_requested():
                raise RunCancelled
            run.update_progress(stage=f"features:{name}", done=done, total=n)

        feats[name], hit = features(part, on_batch)
        run.append_event({"type": "features", "split": name, "cached": hit, "rows": len(part)})
    return feats


def frozen_features(run: RunDir, classifier, tokenizer, splits, max_length: int, model_path: str, device) -> dict:
    """Backbone features of every split, from the cache when the same texts were seen before."""
    return features_of_splits(
        run,
        splits,
        lambda part, on_batch: cached_features(
            classifier, tokenizer, part.texts, max_length, model_path, device.kind, device.precision, on_batch
        ),
    )


def write_predictions(path: Path, texts: list[str], labels: list[int], probs, label_names: list[str]) -> None:
    """predictions.csv: one row per test example, written to a temp name first."""
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "true_label", "predicted_label", "confidence", "correct"])
        for text, y, row in zip(texts, labels, probs, strict=True):
            p = int(row.argmax())
            writer.writerow([text, label_names[y], label_names[p], f"{row[p]:.6f}", y == p])
    os.replace(tmp, path)


# --- callbacks: side effects of the training loop -----------------------------------------------
def _make_callback(run: RunDir, batch_size: int):
    from transformers import TrainerCallback

    class RunDirCallback(TrainerCallback):
        """Writes events.jsonl and status progress; honours CANCEL; stops on a non-finite loss."""

        def __init__(self) -> None:
            self.cancelled = False
            self._last_log = (0, time.time())
            self._start = (0, time.time())
            self._last_status = 0.0

        def on_train_begin(self, args, state, control, **kw):
            now = time.time()
            self._start = self._last_log = (state.global_step, now)
            run.set_status("running", "Training", progress={"step": state.global_step, "max_steps": state.max_steps})

        def on_step_end(self, args, state, control, **kw):
            if run.cancel_requested():
                self.cancelled = True
                control.should_training_stop = True
            now = time.time()
            if now - self._last_status >= 1.0 or state.global_step == state.max_steps:
                self._last_status = now
                done = state.global_step - self._start[0]
                rate = done / max(now - self._start[1], 1e-9)
                eta = (state.max_steps - state.global_step) / rate if rate > 0 else None
                run.update_progress(
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
                    samples_per_second=steps * batch_size / max(now - self._last_log[1], 1e-9),
                )
                self._last_log = (state.global_step, now)
                run.append_event(event)
                print(
                    f"step {state.global_step}/{state.max_steps}  epoch {state.epoch:.2f}  loss {loss:.4f}",
                    file=sys.stderr,
                )
                if not math.isfinite(loss):
                    raise TrainingError(
                        f"Training stopped at step {state.global_step}: the loss became {loss}. The learning rate "
                        "is probably too high for this model; try a 10x smaller learning rate."
                    )
            elif any(k.startswith("eval_") for k in logs):
                event.update(type="eval", **{k: v for k, v in logs.items() if k.startswith("eval_")})
                run.append_event(event)
                print(
                    f"epoch {state.epoch:.0f} validation: accuracy {logs.get('eval_accuracy', float('nan')):.4f}"
                    f"  macro-F1 {logs.get('eval_macro_f1', float('nan')):.4f}",
                    file=sys.stderr,
                )

        def on_save(self, args, state, control, **kw):
            run.append_event({"type": "checkpoint", "step": state.global_step, "epoch": state.epoch})
            # Fault injection for the resume test: die hard right after the first checkpoint.
            if os.environ.get("TRANSFERLAB_KILL_AFTER_CHECKPOINT") == "1":
                os.kill(os.getpid(), signal.SIGKILL)

    return RunDirCallback()


def _seconds_before(events: list[dict[str, Any]], step: int) -> float:
    """Training time of earlier sessions: from the first setup to the checkpoint we resume from."""
    setup = next((e for e in events if e.get("type") == "setup"), None)
    saved = [e for e in events if e.get("type") == "checkpoint" and e.get("step") == step]
    if setup is None or not saved or step == 0:
        return 0.0
    return max(0.0, saved[-1]["time"] - setup["time"])


def _eval_metrics(eval_pred) -> dict[str, float]:
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    preds = np.argmax(eval_pred.predictions, axis=-1)
    labels = eval_pred.label_ids
    return {
        "accuracy": float(accuracy_score(labels, preds)),
        "macro_f1": float(f1_score(labels, preds, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(labels, preds, average="weighted", zero_division=0)),
    }


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def resume_hint(run: RunDir) -> str:
    return f"Resume with: python -m engine.train --resume {run.path}"


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
):
    """The transformers Trainer a run trains with, and the callback that writes its run directory.

    One place for the training settings, shared by ``train`` and the benchmark (``python -m bench``),
    which times the engine through this same code path.
    """
    from transformers import PrinterCallback, Trainer, TrainingArguments

    steps_per_epoch = math.ceil(len(train_ds) / config.batch_size)
    args = TrainingArguments(
        output_dir=str(run.checkpoints_dir),
        num_train_epochs=epochs,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=max(config.batch_size * 2, 32),
        learning_rate=config.resolved_learning_rate(),
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,
        lr_scheduler_type="linear",
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1",
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
    callback = _make_callback(run, config.batch_size)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=collator,
        processing_class=processing_class,
        compute_metrics=_eval_metrics,
        callbacks=[callback],
    )
    trainer.remove_callback(PrinterCallback)  # our callback prints a shorter line per log
    return trainer, callback


# --- the run -------------------------------------------------------------------------------
def train(config: TrainConfig, run: RunDir, resume: bool = False) -> dict[str, Any] | None:
    """Train and write the whole run directory. Returns the test metrics (None when cancelled)."""
    try:
        return _train(config, run, resume)
    except RunCancelled:
        run.set_status("cancelled", f"Cancelled. {resume_hint(run)}")
        return None
    except TransferLabError as exc:
        run.set_status("failed", str(exc))
        raise
    except BaseException as exc:
        if _is_out_of_memory(exc):
            message = (
                "Training ran out of memory. Try a smaller batch size or max length, or a lighter strategy "
                "(LoRA or frozen), which need far less memory than full fine-tuning."
            )
            run.set_status("failed", message)
            raise TrainingError(message) from exc
        if isinstance(exc, KeyboardInterrupt):
            run.set_status("cancelled", f"Interrupted. {resume_hint(run)}")
        else:
            run.set_status("failed", f"Unexpected error: {type(exc).__name__}: {exc}")
        raise


class TextJob:
    """What is particular to text: the tokenizer, max length, token batches and text predictions.

    ``engine.image_task.ImageJob`` is the same for pictures; ``_train`` drives either.
    """

    task = "text"

    def __init__(self, config: TrainConfig, run: RunDir, resolved, strategy, splits, device) -> None:
        from engine.modeling import TextClassifier, load_backbone, load_tokenizer, pooling_for
        from engine.vision import is_image_model

        if is_image_model(resolved):
            raise ConfigError(
                f"'{config.model}' is an image model, but the training data are texts. Choose a text model: "
                "minilm (works offline), smollm2, or a Hugging Face model such as bert-base-uncased."
            )
        self.config, self.run, self.resolved, self.splits, self.device = config, run, resolved, splits, device
        self.tokenizer = load_tokenizer(resolved)
        backbone = load_backbone(resolved, pretrained=strategy.pretrained)
        limit = model_token_limit(backbone.config, self.tokenizer)
        self.max_length, note = choose_max_length(
            config.max_length, token_lengths(self.tokenizer, splits.train.texts), limit, device.kind
        )
        if note:
            run.append_event({"type": "warning", "message": note})
            print(f"note: {note}", file=sys.stderr)
        backbone = strategy.prepare(backbone, config)
        self.classifier = TextClassifier(backbone, len(splits.label_names), pooling_for(backbone.config))
        self.info = {"max_length": self.max_length}

    def frozen_features(self) -> dict:
        return frozen_features(
            self.run, self.classifier, self.tokenizer, self.splits, self.max_length, self.resolved.path, self.device
        )

    def datasets(self):
        from transformers import DataCollatorWithPadding

        train_ds = encode(self.tokenizer, self.splits.train.texts, self.splits.train.labels, self.max_length)
        eval_ds = encode(self.tokenizer, self.splits.validation.texts, self.splits.validation.labels, self.max_length)
        # Batches of similar length pad little.
        return train_ds, eval_ds, DataCollatorWithPadding(self.tokenizer), self.tokenizer, "group_by_length"

    def predict_test(self):
        from engine.modeling import predict_proba

        return predict_proba(
            self.classifier,
            self.tokenizer,
            self.splits.test.texts,
            self.max_length,
            device=self.device.kind,
            precision=self.device.precision,
        )

    def save(self, label_names: list[str], card: str) -> None:
        from engine.modeling import save_classifier

        save_classifier(
            self.classifier,
            self.tokenizer,
            self.run.model_dir,
            strategy=self.config.strategy,
            base_model=self.config.model,
            base_model_path=self.resolved.path,
            label_names=label_names,
            max_length=self.max_length,
            card=card,
        )

    def write_predictions(self, probs, label_names: list[str]) -> None:
        test = self.splits.test
        write_predictions(self.run.predictions_path, test.texts, test.labels, probs, label_names)


def _train(config: TrainConfig, run: RunDir, resume: bool) -> dict[str, Any] | None:
    import torch
    import transformers
    from transformers import set_seed

    from engine.device import choose_device
    from engine.metrics import classification_metrics
    from engine.modeling import count_parameters, resolve_model
    from engine.strategies import STRATEGIES

    transformers.logging.set_verbosity_error()
    run.set_status("running", "Loading data")
    device = choose_device(config.device, config.threads)
    task = config.task
    splits = load_splits(config)
    for warning in splits.train.warnings:
        run.append_event({"type": "warning", "message": warning})
        print(f"note: {warning}", file=sys.stderr)

    run.set_status("running", f"Loading model {config.model}")
    set_seed(config.seed)
    strategy = STRATEGIES[config.strategy]
    resolved = resolve_model(config.model)
    if task == "image":
        from engine.image_task import ImageJob

        job = ImageJob(config, run, resolved, strategy, splits, device)
    else:
        job = TextJob(config, run, resolved, strategy, splits, device)
    classifier = job.classifier
    trainable, total = count_parameters(classifier)
    epochs = config.resolved_epochs()
    run.append_event(
        {
            "type": "setup",
            "task": task,
            "trainable_params": trainable,
            "total_params": total,
            "device": device.name,
            "precision": device.precision,
            **job.info,
            "train_examples": len(splits.train),
            "validation_examples": len(splits.validation),
            "test_examples": len(splits.test),
        }
    )

    started = time.time()
    if strategy.cached_features:
        # The backbone never changes: run it once per example (or not at all when cached) and
        # train only the head on the stored features.
        run.set_status("running", "Computing features with the frozen model")
        classifier.to(device.kind)
        feats = job.frozen_features()
        model = classifier.head

        def as_dataset(name):
            part = getattr(splits, name)
            return ListDataset(
                [{"features": torch.from_numpy(f), "labels": y} for f, y in zip(feats[name], part.labels, strict=True)]
            )

        train_ds, eval_ds = as_dataset("train"), as_dataset("validation")
        collator, processing_class, sampling = None, None, "random"
    else:
        model = classifier
        train_ds, eval_ds, collator, processing_class, sampling = job.datasets()

    trainer, callback = build_trainer(
        config, run, model, train_ds, eval_ds, collator, processing_class, sampling, device, epochs
    )
    checkpoint = run.last_checkpoint() if resume else None
    if resume:
        # Time spent before the checkpoint counts towards train_seconds; steps logged after it
        # will run again, so drop them (curves must not double back).
        step = checkpoint_step(checkpoint)
        started -= _seconds_before(run.events(), step)
        run.truncate_events(after_step=step)
        run.append_event({"type": "resume", "checkpoint": checkpoint.name if checkpoint else None})
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    train_seconds = time.time() - started
    if callback.cancelled:
        raise RunCancelled  # one place, train(), records the cancelled state

    # The best epoch (by validation macro-F1) is loaded back; evaluate it on the test split.
    run.set_status("running", "Evaluating on the test split")
    classifier.to(device.kind).eval()
    if strategy.cached_features:
        with torch.inference_mode():
            logits = classifier.head(torch.from_numpy(feats["test"]).to(device.kind)).logits
            probs = torch.softmax(logits.float(), -1).cpu().numpy()
    else:
        probs = job.predict_test()
    preds = probs.argmax(-1)
    metrics = classification_metrics(splits.test.labels, preds, splits.label_names)
    best = trainer.state.best_metric
    metrics.update(
        task=task,
        trainable_params=trainable,
        total_params=total,
        trainable_share=trainable / total,
        train_seconds=train_seconds,
        train_samples_per_second=len(splits.train) * epochs / train_seconds,
        device=device.name,
        precision=device.precision,
        model=config.model,
        strategy=config.strategy,
        epochs=epochs,
        max_length=job.info.get("max_length"),
        image_size=job.info.get("image_size"),
        best_validation_macro_f1=best,
        best_checkpoint=Path(trainer.state.best_model_checkpoint).name if trainer.state.best_model_checkpoint else None,
        train_examples=len(splits.train),
        validation_examples=len(splits.validation),
        test_examples=len(splits.test),
        data_warnings=splits.train.warnings,
    )

    run.set_status("running", "Saving the model")
    job.save(splits.label_names, model_card(config, metrics))
    job.write_predictions(probs, splits.label_names)
    write_json_atomic(run.metrics_path, metrics)
    shutil.rmtree(run.checkpoints_dir, ignore_errors=True)  # only needed to resume
    run.cancel_path.unlink(missing_ok=True)
    run.set_status(
        "completed",
        f"Test accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}",
        progress={"step": trainer.state.global_step, "max_steps": trainer.state.max_steps, "epoch": epochs},
    )
    return metrics


def model_card(config: TrainConfig, metrics: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {name} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
        for name, v in metrics["per_class"].items()
    )
    image = metrics.get("task") == "image"
    inputs = f"image size {metrics['image_size']}" if image else f"max length {metrics['max_length']}"
    return f"""# {"Image" if image else "Text"} classifier fine-tuned with TransferLab

- Base model: `{config.model}`
- Strategy: `{config.strategy}` ({metrics["trainable_params"]:,} of {metrics["total_params"]:,} parameters trained)
- Training data: `{Path(config.data).name}` ({metrics["train_examples"]:,} training examples)
- Labels: {", ".join(f"`{x}`" for x in metrics["labels"])}
- Trained on {metrics["device"]} in {metrics["train_seconds"]:.0f} s, {metrics["epochs"]} epochs, {inputs}

## Test results ({metrics["test_examples"]:,} held-out examples)

Accuracy {metrics["accuracy"]:.4f}, macro-F1 {metrics["macro_f1"]:.4f}, weighted-F1 {metrics["weighted_f1"]:.4f}.

| label | precision | recall | F1 | support |
|---|---|---|---|---|
{rows}

## Using it

{_IMAGE_USAGE if image else _TEXT_USAGE}"""


_TEXT_USAGE = """With TransferLab:

    python -m engine.predict --run RUN_DIR --data new_texts.csv --out predictions.csv

In Python:

    from engine.modeling import load_classifier, predict_proba
    classifier, tokenizer, meta = load_classifier("RUN_DIR/model")
    probs = predict_proba(classifier, tokenizer, ["some text"], meta["max_length"])

The folder is plain transformers/peft: `backbone/` (if present) loads with
`transformers.AutoModel.from_pretrained`, `adapter/` (LoRA) with `peft.PeftModel.from_pretrained` on top
of the base model, `head.safetensors` holds the linear classifier (`out.weight`, `out.bias`) applied to
the pooled backbone output described in `transferlab.json`
(`pooling`: `mean` = mean over non-padding tokens, `last` = last non-padding token).
"""

_IMAGE_USAGE = """With TransferLab (a ZIP or a folder of pictures, any layout):

    python -m engine.predict --run RUN_DIR --data new_images.zip --out predictions.csv

In Python:

    from engine.vision import load_image_classifier, predict_image_proba, ImageSpec
    classifier, meta = load_image_classifier("RUN_DIR/model")
    probs = predict_image_proba(classifier, ["photo.jpg"], ImageSpec.from_dict(meta["image_spec"]))

`transferlab.json` records the preprocessing (`image_spec`: shorter side resized to `resize`, centre
crop `size`, then normalised with `mean` and `std`). `backbone.safetensors` (if present) holds the
retrained backbone, `adapter/` (LoRA) a peft adapter on top of the base model, and `head.safetensors`
the linear classifier (`out.weight`, `out.bias`) applied to the backbone's feature vector.
"""


# --- CLI ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine.train",
        description="Fine-tune a foundation model on labeled texts or pictures and write a run directory.",
    )
    parser.add_argument("--out", help="Run directory to create (must not already hold a run).")
    parser.add_argument("--resume", metavar="RUN_DIR", help="Continue an interrupted run from its last checkpoint.")
    parser.add_argument("--config", metavar="FILE.json", help="Settings as JSON; flags given here override it.")
    add_config_arguments(parser)
    return parser


def prepare_run(config: TrainConfig, out: str | Path) -> RunDir:
    """Create the run directory and write config.json and a queued status (before any training)."""
    run = RunDir(out)
    if run.config_path.exists():
        raise ConfigError(
            f"{run.path} already holds a run. Use --resume {run.path} to continue it, or choose another --out."
        )
    run.path.mkdir(parents=True, exist_ok=True)
    config.save(run.config_path)
    run.set_status("queued", "Waiting to start")
    return run


def _interrupt(signum, frame):
    # `kill` (SIGTERM) ends the run like Ctrl-C: status "cancelled", resumable, not "running" forever.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.resume:
            run = RunDir(args.resume)
            if not run.config_path.exists():
                raise ConfigError(f"{run.path} is not a run directory (no config.json); nothing to resume.")
            if run.status().get("state") == "completed":
                raise ConfigError(f"{run.path} already completed; there is nothing to resume.")
            config = TrainConfig.load(run.config_path)
            run.cancel_path.unlink(missing_ok=True)
        else:
            if not args.out:
                raise ConfigError("Missing --out RUN_DIR: the folder where the run is written.")
            config = config_from_args(args)
            run = prepare_run(config, args.out)
        metrics = train(config, run, resume=bool(args.resume))
    except TransferLabError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if metrics is None:
        print(f"Cancelled. {resume_hint(run)}", file=sys.stderr)
        return 3
    print(
        f"Done: test accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f} "
        f"({metrics['trainable_params']:,} trainable parameters, {metrics['train_seconds']:.0f} s). Run: {run.path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
