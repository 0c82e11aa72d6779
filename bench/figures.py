"""The benchmark's figures. Each function measures one thing and returns a plain dict.

The engine is always measured through its own code path: ``engine.training.trainer.build_trainer`` (the
transformers Trainer with the engine's callback writing events.jsonl and status.json into a real
run directory), ``engine.training.features.cached_array`` and ``engine.predict.Predictor``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import (
    BatchRecorder,
    batch_lengths,
    non_embedding_parameters,
    peak_rss_mb,
    reset_peak_rss,
    rss_mb,
    stat,
    step_clock,
    training_flops,
    windows,
)

ROOT = Path(__file__).resolve().parent.parent
SPAM = ROOT / "data" / "spam_emails.csv"


@dataclass
class Plan:
    """How much the benchmark measures; ``python -m bench --quick`` shrinks every number."""

    quick: bool = False
    train_size: int = 1200  # training examples: figure 2 trains one epoch on them; 1, 4, 5 draw batches from them
    validation_size: int = 64  # evaluated at each epoch end (outside the timed steps)
    test_size: int = 400  # accuracy (figure 2) and inference (figure 6)
    frozen_size: int = 160  # figure 3: training texts
    frozen_validation_size: int = 32  # figure 3: validation texts, evaluated every epoch on both sides
    frozen_epochs: int = 5
    batch_size: int = 16
    max_length: int = 128
    warmup: int = 2  # untimed steps at the start of every timed run
    repeats: int = 3
    window: int = 8  # timed optimisation steps per repeat (figures 1, 4, 5)
    matmul_sizes: tuple[int, ...] = (2048, 4096)
    matmul_tries: int = 5
    seed: int = 42


@dataclass
class Part:
    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)

    def head(self, n: int) -> Part:
        return Part(self.texts[:n], self.labels[:n])


def _sample(split, n: int, seed: int) -> Part:
    order = list(range(len(split.texts)))
    random.Random(seed).shuffle(order)
    order = order[: min(n, len(order))]
    return Part([split.texts[i] for i in order], [split.labels[i] for i in order])


@contextlib.contextmanager
def quiet():
    """The engine prints a line per log step to stderr; the benchmark prints its own table."""
    with contextlib.redirect_stderr(io.StringIO()):
        yield


@dataclass
class Bench:
    """Everything the figures share: the device, the model, the data subsets, a scratch folder."""

    plan: Plan
    device: Any  # engine.device.DeviceChoice
    device_preference: str
    model_name: str
    model_path: str
    tokenizer: Any
    label_names: list[str]
    train: Part
    validation: Part
    test: Part
    workdir: Path
    data: Path = SPAM  # the labeled file the subsets come from (python -m bench --data)
    text_column: str | None = None
    label_column: str | None = None
    _runs: int = field(default=0, repr=False)

    # --- pieces the engine uses ---------------------------------------------------------------
    def config(self, strategy: str, **overrides: Any):
        from engine.core.config import TrainConfig

        values = {
            "data": str(self.data),
            "text_column": self.text_column,
            "label_column": self.label_column,
            "model": self.model_path,
            "strategy": strategy,
            "batch_size": self.plan.batch_size,
            "max_length": self.plan.max_length,
            "seed": self.plan.seed,
            "device": self.device.kind,
            "threads": self.device.threads,
        }
        return TrainConfig(**{**values, **overrides})

    def classifier(self, strategy: str):
        """The engine's classifier for a strategy, initialised from the same seed every time."""
        from transformers import set_seed

        from engine.core.resolve import ResolvedModel
        from engine.core.strategies import STRATEGIES
        from engine.tasks.text.model import TextClassifier, load_backbone, pooling_for
        from engine.tasks.text.task import TextTask

        set_seed(self.plan.seed)
        resolved = ResolvedModel(self.model_name, self.model_path, "local")
        backbone = load_backbone(resolved, pretrained=STRATEGIES[strategy].pretrained)
        backbone = STRATEGIES[strategy].prepare(backbone, self.config(strategy), TextTask)
        return TextClassifier(backbone, len(self.label_names), pooling_for(backbone.config))

    def encode(self, part: Part, pad_to_max_length: bool = False):
        """The engine's encoding (no padding: the collator pads each batch), or the standard recipe's."""
        from engine.tasks.base import ListDataset
        from engine.tasks.text.task import encode

        if not pad_to_max_length:
            return encode(self.tokenizer, part.texts, part.labels, self.plan.max_length)
        enc = self.tokenizer(part.texts, truncation=True, max_length=self.plan.max_length, padding="max_length")
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
        return ListDataset([{**{k: enc[k][i] for k in keys}, "labels": part.labels[i]} for i in range(len(part))])

    def trainer(
        self, name: str, config, model, train_ds, eval_ds, collator, processing_class, sampling, epochs, callbacks
    ):
        """The engine's Trainer (engine.training.trainer.build_trainer) writing into a fresh run directory."""
        from engine.core.jobs import prepare_run
        from engine.training.trainer import build_trainer

        self._runs += 1
        run = prepare_run(config, self.workdir / "runs" / f"{self._runs:02d}-{name}")
        trainer, _ = build_trainer(
            config, run, model, train_ds, eval_ds, collator, processing_class, sampling, self.device, epochs
        )
        for callback in callbacks:
            trainer.add_callback(callback)
        return trainer

    def sync(self) -> None:
        if self.device.kind == "cuda":
            import torch

            torch.cuda.synchronize()

    def sync_fn(self):
        return self.sync if self.device.kind == "cuda" else None


def load_data(plan: Plan, model: str, data: Path, text_column: str | None = None, label_column: str | None = None):
    """The labeled file split the way training splits it (``engine.training.trainer.load_splits``, seeded)."""
    from engine.core.config import TrainConfig
    from engine.training.trainer import load_splits

    config = TrainConfig(
        data=str(data), model=model, strategy="full", seed=plan.seed, text_column=text_column, label_column=label_column
    )
    return load_splits(config)[0]


def prepare(
    plan: Plan, device_preference: str, model: str, splits, data: Path, workdir: Path, threads: int | None = None
) -> Bench:
    """Take the subsets of the engine's split (``load_data``) that the figures train and test on."""
    from engine.core.resolve import resolve_model
    from engine.tasks.text.model import load_tokenizer
    from engine.training.device import choose_device

    device = choose_device(device_preference, threads=threads)
    resolved = resolve_model(model)
    return Bench(
        plan=plan,
        device=device,
        device_preference=device_preference,
        model_name=model,
        model_path=resolved.path,
        tokenizer=load_tokenizer(resolved),
        label_names=list(splits.label_names),
        train=_sample(splits.train, plan.train_size, plan.seed),
        validation=_sample(splits.validation, plan.validation_size, plan.seed),
        test=_sample(splits.test, plan.test_size, plan.seed),
        workdir=workdir,
        data=Path(data),
        text_column=splits.train.text_column,
        label_column=splits.train.label_column,
    )


# --- a bare PyTorch loop ---------------------------------------------------------------------------
class BareLoop:
    """Plain PyTorch training steps with the Trainer's optimizer, schedule and clipping.

    AdamW with the same learning rate, betas, epsilon, fused kernel and weight-decay groups (none
    for biases and LayerNorm), the same linear warm-up and decay over the same number of steps,
    gradient clipping at the same norm, the same autocast. ``step(features)`` pads the batch with
    ``collator`` and runs one optimisation step.
    """

    def __init__(self, model, collator, args, total_steps: int, bench: Bench) -> None:
        import torch
        from transformers import get_linear_schedule_with_warmup

        self.bench, self.collator, self.model = bench, collator, model
        device = bench.device
        model.to(device.kind).train()
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        no_decay = [p for n, p in named if "bias" in n or "norm" in n.lower()]
        decay = [p for n, p in named if not ("bias" in n or "norm" in n.lower())]
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=args.learning_rate,
            betas=(args.adam_beta1, args.adam_beta2),
            eps=args.adam_epsilon,
            fused=args.optim == "adamw_torch_fused",  # the Trainer's default optimizer
        )
        self.scheduler = get_linear_schedule_with_warmup(
            self.optimizer, args.get_warmup_steps(total_steps), total_steps
        )
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(device.precision)
        self.autocast = device.kind == "cuda" and self.dtype is not None
        self.scaler = torch.amp.GradScaler("cuda", enabled=device.precision == "fp16" and device.kind == "cuda")
        self.params = [p for _, p in named]
        self.max_grad_norm = args.max_grad_norm

    def step(self, features: list[dict]) -> None:
        import torch

        kind = self.bench.device.kind
        batch = {k: v.to(kind) for k, v in self.collator(features).items()}
        with torch.autocast(kind, dtype=self.dtype, enabled=self.autocast):
            loss = self.model(**batch).loss
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.model.zero_grad(set_to_none=True)
        self.bench.sync()


def optimizer_settings(optimizer) -> dict[str, Any]:
    """What makes two optimizers the same: class, defaults (lr, betas, eps, fused...) and parameter groups."""
    optimizer = getattr(optimizer, "optimizer", optimizer)  # the Trainer's is wrapped by accelerate
    return {
        "class": type(optimizer).__name__,
        "defaults": dict(sorted(optimizer.defaults.items())),
        "groups": [[len(g["params"]), g["weight_decay"]] for g in optimizer.param_groups],
    }


def _clock(durations: list[float]) -> list[float]:
    times = [0.0]
    for d in durations:
        times.append(times[-1] + d)
    return times


# --- figure 1 (and the data for 5): engine vs bare loop, full fine-tuning -------------------------------
def figure_overhead(b: Bench) -> dict[str, Any]:
    """Engine overhead: the same full fine-tuning steps through the engine's Trainer and a bare loop.

    The two alternate step by step: after each engine step a callback runs one bare-loop step on
    its own copy of the same initial model, with the batch the engine just trained on. A slow spell
    of a shared machine then hits both sides alike. An engine step is timed from the end of the
    previous bare step to the engine's next step end, so it includes everything the engine does per
    step (fetching and padding the batch, its run-directory callback, logging). After ``warmup``
    pairs of steps, ``repeats`` windows of ``window`` steps; the overhead is paired per window.
    """
    from transformers import DataCollatorWithPadding, TrainerCallback

    p = b.plan
    steps = p.warmup + p.repeats * p.window
    pristine = b.classifier("full")
    train_ds, eval_ds = b.encode(b.train), b.encode(b.validation)
    recorder = BatchRecorder(DataCollatorWithPadding(b.tokenizer))

    class Interleave(TrainerCallback):
        def __init__(self) -> None:
            self.engine: list[float] = []
            self.bare: list[float] = []
            self.loop: BareLoop | None = None

        def on_train_begin(self, args, state, control, **kw):
            self.loop = BareLoop(
                copy.deepcopy(pristine), DataCollatorWithPadding(b.tokenizer), args, state.max_steps, b
            )
            b.sync()
            self.mark = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            b.sync()
            now = time.perf_counter()
            self.engine.append(now - self.mark)
            self.loop.step(recorder.batches[state.global_step - 1])  # the batch the engine just trained on
            self.mark = time.perf_counter()
            self.bare.append(self.mark - now)
            if state.global_step >= steps:
                control.should_training_stop = True

    pair = Interleave()
    trainer = b.trainer(
        "overhead", b.config("full"), copy.deepcopy(pristine), train_ds, eval_ds, recorder, b.tokenizer,
        "group_by_length", 1, [pair],
    )  # fmt: skip
    with quiet():
        trainer.train()
    same_optimizer = optimizer_settings(trainer.optimizer) == optimizer_settings(pair.loop.optimizer)
    batches = recorder.batches[:steps]
    sizes = [len(batch) for batch in batches]
    e_w = windows(_clock(pair.engine), sizes, p.warmup, p.repeats, p.window)
    s_w = windows(_clock(pair.bare), sizes, p.warmup, p.repeats, p.window)
    n_params = non_embedding_parameters(pristine)
    layers, hidden = pristine.backbone.config.num_hidden_layers, pristine.backbone.config.hidden_size
    flops_real, flops_padded = [], []
    for w in e_w:
        timed = batches[w["first_step"] - 1 : w["first_step"] - 1 + p.window]
        real = [n for batch in timed for n in batch_lengths(batch)[0]]
        padded = [n for batch in timed for n in batch_lengths(batch)[1]]
        flops_real.append(training_flops(n_params, layers, hidden, real) / w["seconds"])
        flops_padded.append(training_flops(n_params, layers, hidden, padded) / w["seconds"])
    return {
        "strategy": "full",
        "engine_samples_per_second": stat([w["samples"] / w["seconds"] for w in e_w]),
        "bare_samples_per_second": stat([w["samples"] / w["seconds"] for w in s_w]),
        "overhead_percent": stat([100 * (e["seconds"] / s_["seconds"] - 1) for e, s_ in zip(e_w, s_w, strict=True)]),
        # finer grain: every timed step against the bare step right after it (same batch)
        "per_step_overhead_percent": stat(
            [100 * (e / s_ - 1) for e, s_ in zip(pair.engine[p.warmup :], pair.bare[p.warmup :], strict=True)]
        ),
        "all_timed_steps_overhead_percent": 100 * (sum(pair.engine[p.warmup :]) / sum(pair.bare[p.warmup :]) - 1),
        "same_optimizer": same_optimizer,
        "optimizer": optimizer_settings(trainer.optimizer),
        "timed_steps_per_repeat": p.window,
        "warmup_steps": p.warmup,
        "engine_step_seconds": pair.engine,
        "bare_step_seconds": pair.bare,
        # for figure 5
        "_flops_real": flops_real,
        "_flops_padded": flops_padded,
        "_non_embedding_params": n_params,
    }


def figure_flops(overhead: dict[str, Any], peak: dict[str, Any]) -> dict[str, Any]:
    """Achieved training FLOP/s of full fine-tuning (figure 1's engine steps) against the matmul peak."""
    peak_flops = peak["flops_per_second"]
    real, padded = overhead["_flops_real"], overhead["_flops_padded"]
    return {
        "flop_count": "6 x non-embedding parameters x tokens + 12 x layers x hidden x length^2 per sequence",
        "non_embedding_params": overhead["_non_embedding_params"],
        "achieved_flops_per_second": stat(real),
        "fraction_of_peak": stat([x / peak_flops for x in real]),
        "achieved_flops_per_second_with_padding": stat(padded),
        "fraction_of_peak_with_padding": stat([x / peak_flops for x in padded]),
        "peak_flops_per_second": peak_flops,
    }


# --- figure 2: dynamic padding + length grouping vs padding to 128, LoRA ---------------------------------
def _train_one_epoch(b: Bench, name: str, recipe: str) -> tuple[Any, dict[str, Any]]:
    from transformers import DataCollatorWithPadding, default_data_collator

    p = b.plan
    model = b.classifier("lora")
    standard = recipe == "standard"
    recorder = BatchRecorder(default_data_collator if standard else DataCollatorWithPadding(b.tokenizer))
    clock = step_clock(sync=b.sync_fn())
    trainer = b.trainer(
        name, b.config("lora", epochs=1), model, b.encode(b.train, standard), b.encode(b.validation, standard),
        recorder, b.tokenizer, "random" if standard else "group_by_length", 1, [clock],
    )  # fmt: skip
    with quiet():
        trainer.train()
    n_steps = len(clock.times) - 1
    batches = recorder.batches[:n_steps]
    sizes = [len(batch) for batch in batches]
    per_window = (n_steps - p.warmup) // p.repeats
    if per_window < 1:
        raise ValueError(
            f"--train-size gives {n_steps} steps: too few for {p.warmup} warm-up steps and {p.repeats} repeats"
        )
    rates = [w["samples"] / w["seconds"] for w in windows(clock.times, sizes, p.warmup, p.repeats, per_window)]
    tokens = [batch_lengths(batch) for batch in batches[p.warmup :]]
    examples = sum(sizes[p.warmup :])
    return model, {
        "rates": rates,
        "all_timed_steps": examples / (clock.times[-1] - clock.times[p.warmup]),
        "steps": n_steps,
        "steps_per_window": per_window,
        "padded_tokens_per_example": sum(sum(w) for _, w in tokens) / examples,
        "real_tokens_per_example": sum(sum(r) for r, _ in tokens) / examples,
    }


def figure_padding(b: Bench) -> tuple[dict[str, Any], Path]:
    """Samples/s and test accuracy after one LoRA epoch: the engine's batches vs the standard recipe.

    Standard recipe (transformers' run_classification.py with pad_to_max_length, AutoTrain): every
    text padded to max length, random batches. Both train the same model from the same seed with
    the same Trainer settings. Each recipe trains twice, in the order engine, standard, standard,
    engine, so that a machine slowing down or speeding up over the minutes favours neither; the
    samples/s figure is over the windows of both runs, the accuracy that of each recipe's first
    run. Returns the figure and the engine model's folder (for figure 6).
    """
    from engine.core.metrics import classification_metrics
    from engine.tasks.text.model import predict_proba, save_classifier

    out: dict[str, Any] = {"strategy": "lora", "epochs": 1, "max_length": b.plan.max_length, "order": []}
    runs: dict[str, list[dict]] = {"engine": [], "standard": []}
    model_dir = b.workdir / "engine-lora-model"
    for i, recipe in enumerate(("engine", "standard", "standard", "engine")[: 4 if b.plan.repeats > 1 else 2]):
        model, figure = _train_one_epoch(b, f"padding-{i}-{recipe}", recipe)
        out["order"].append(recipe)
        if not runs[recipe]:
            probs = predict_proba(
                model, b.tokenizer, b.test.texts, b.plan.max_length, device=b.device.kind, precision=b.device.precision
            )
            metrics = classification_metrics(b.test.labels, probs.argmax(-1), b.label_names)
            figure.update(accuracy=metrics["accuracy"], macro_f1=metrics["macro_f1"])
            if recipe == "engine":
                save_classifier(
                    model, b.tokenizer, model_dir, strategy="lora", base_model=b.model_path,
                    base_model_path=b.model_path, label_names=b.label_names, max_length=b.plan.max_length,
                    card="benchmark model",
                )  # fmt: skip
        runs[recipe].append(figure)
        del model
    for recipe, figures in runs.items():
        first = figures[0]
        out[recipe] = {
            "samples_per_second": stat([r for f in figures for r in f["rates"]]),
            "samples_per_second_per_run": [f["all_timed_steps"] for f in figures],
            "accuracy": first["accuracy"],
            "macro_f1": first["macro_f1"],
            "steps": first["steps"],
            "steps_per_window": first["steps_per_window"],
            "padded_tokens_per_example": first["padded_tokens_per_example"],
            "real_tokens_per_example": first["real_tokens_per_example"],
        }
    e, s = out["engine"]["samples_per_second"], out["standard"]["samples_per_second"]
    out["speedup"] = e["median"] / s["median"]
    # Fewer tokens is all dynamic padding buys: the standard recipe's tokens per example over the
    # engine's bound the speedup (a little more with attention's length^2).
    out["token_ratio_standard_over_engine"] = (
        out["standard"]["padded_tokens_per_example"] / out["engine"]["padded_tokens_per_example"]
    )
    out["accuracy_difference"] = out["engine"]["accuracy"] - out["standard"]["accuracy"]
    return out, model_dir


# --- figure 3: frozen with cached features vs the backbone every epoch ----------------------------------
def _frozen_uncached(b: Bench, train: Part, val: Part, epochs: int, name: str) -> float:
    from transformers import DataCollatorWithPadding

    model = b.classifier("frozen")  # backbone frozen, run again on every batch of every epoch
    trainer = b.trainer(
        name, b.config("frozen", epochs=epochs), model, b.encode(train), b.encode(val),
        DataCollatorWithPadding(b.tokenizer), b.tokenizer, "group_by_length", epochs, [],
    )  # fmt: skip
    start = time.perf_counter()
    with quiet():
        trainer.train()
    b.sync()
    return time.perf_counter() - start


def _frozen_cached(b: Bench, train: Part, val: Part, epochs: int, name: str) -> float:
    """The engine's frozen recipe: features computed once (``cached_array``), then the head fitted to
    convergence (``fit_head``, cross-validated); ``epochs`` does not apply."""
    from engine.tasks.text.model import extract_features
    from engine.tasks.text.task import feature_key
    from engine.training.features import cached_array
    from engine.training.head import fit_head

    os.environ["TRANSFERLAB_HOME"] = str(b.workdir / f"home-{name}")  # a cold feature cache
    model = b.classifier("frozen").to(b.device.kind)
    start = time.perf_counter()
    features = {}
    for split, part in (("train", train), ("validation", val)):
        features[split], hit = cached_array(
            feature_key(b.model_path, model.pooling, b.plan.max_length, part.texts),
            lambda part=part: extract_features(
                model, b.tokenizer, part.texts, b.plan.max_length, device=b.device.kind, precision=b.device.precision
            ),
        )
        if hit:
            raise RuntimeError("the feature cache was expected to be cold")
    fit_head(features["train"], train.labels, len(b.label_names), seed=b.plan.seed)
    b.sync()
    return time.perf_counter() - start


def figure_frozen(b: Bench) -> dict[str, Any]:
    """A frozen-backbone classifier trained the usual way (``frozen_epochs`` epochs through the Trainer,
    the backbone run again on every batch, validation every epoch) against the engine's frozen recipe
    (features computed once with ``cached_array`` from a cold cache, then the head fitted to convergence).
    """
    p = b.plan
    home = os.environ.get("TRANSFERLAB_HOME")
    train, val = b.train.head(p.frozen_size), b.validation.head(p.frozen_validation_size)
    small = p.batch_size * 2
    # warm-up: both paths once, small and short
    _frozen_uncached(b, train.head(small), val.head(p.batch_size), 1, "frozen-warmup-uncached")
    _frozen_cached(b, train.head(small), val.head(p.batch_size), 1, "frozen-warmup-cached")
    uncached, cached = [], []
    try:
        for r in range(p.repeats):
            uncached.append(_frozen_uncached(b, train, val, p.frozen_epochs, f"frozen-uncached-{r}"))
            cached.append(_frozen_cached(b, train, val, p.frozen_epochs, f"frozen-cached-{r}"))
    finally:
        if home is not None:
            os.environ["TRANSFERLAB_HOME"] = home
    return {
        "epochs": p.frozen_epochs,
        "train_examples": len(train),
        "validation_examples": len(val),
        "uncached_seconds": stat(uncached),
        "cached_seconds": stat(cached),
        "speedup": stat([u / c for u, c in zip(uncached, cached, strict=True)]),
    }


# --- figure 4: lora vs full, each in a fresh process ---------------------------------------------------
def figure_lora_full(b: Bench) -> dict[str, Any]:
    """Throughput and peak memory of LoRA and full fine-tuning, each measured in its own fresh process."""
    out: dict[str, Any] = {}
    for strategy in ("lora", "full"):
        spec = {
            "strategy": strategy,
            "plan": asdict(b.plan),
            "device": b.device_preference,
            "model_name": b.model_name,
            "model_path": b.model_path,
            "label_names": b.label_names,
            "train": asdict(b.train),
            "validation": asdict(b.validation),
            "workdir": str(b.workdir / f"child-{strategy}"),
            "threads": b.device.threads,
            "data": [str(b.data), b.text_column, b.label_column],
        }
        spec_path = b.workdir / f"child-{strategy}.json"
        result_path = b.workdir / f"child-{strategy}-result.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", "bench.child", str(spec_path), str(result_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"the {strategy} measurement failed:\n{proc.stderr[-3000:]}")
        out[strategy] = json.loads(result_path.read_text(encoding="utf-8"))
    out["throughput_ratio_lora_over_full"] = (
        out["lora"]["samples_per_second"]["median"] / out["full"]["samples_per_second"]["median"]
    )
    out["memory_ratio_full_over_lora"] = out["full"]["peak_memory_mb"] / max(out["lora"]["peak_memory_mb"], 1e-9)
    return out


def measure_in_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs inside ``python -m bench.child``: train one strategy, time the steps, read the peak memory."""
    import torch
    from transformers import DataCollatorWithPadding

    from engine.tasks.base import count_parameters
    from engine.tasks.text.model import load_tokenizer
    from engine.training.device import choose_device

    plan = Plan(**{**spec["plan"], "matmul_sizes": tuple(spec["plan"]["matmul_sizes"])})
    workdir = Path(spec["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    b = Bench(
        plan=plan,
        device=choose_device(spec["device"], threads=spec["threads"]),
        device_preference=spec["device"],
        model_name=spec["model_name"],
        model_path=spec["model_path"],
        tokenizer=load_tokenizer(spec["model_path"]),
        label_names=spec["label_names"],
        train=Part(**spec["train"]),
        validation=Part(**spec["validation"]),
        test=Part([], []),
        workdir=workdir,
        data=Path(spec["data"][0]),
        text_column=spec["data"][1],
        label_column=spec["data"][2],
    )
    strategy = spec["strategy"]
    steps = plan.warmup + plan.repeats * plan.window
    model = b.classifier(strategy).to(b.device.kind)
    trainable, total = count_parameters(model)
    train_ds, eval_ds = b.encode(b.train), b.encode(b.validation)
    cuda = b.device.kind == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated() / 2**20
        kind = "CUDA max_memory_allocated during training, minus the weights already on the GPU"
    else:
        reset_ok = reset_peak_rss()
        baseline = rss_mb()
        kind = "peak RSS (VmHWM) during training minus RSS before it" + ("" if reset_ok else " (VmHWM not reset)")
    peak: dict[str, float] = {}

    def read_peak() -> None:
        peak["mb"] = torch.cuda.max_memory_allocated() / 2**20 if cuda else peak_rss_mb()

    recorder = BatchRecorder(DataCollatorWithPadding(b.tokenizer))
    clock = step_clock(stop_after=steps, sync=b.sync_fn(), at_stop=read_peak)
    trainer = b.trainer(
        f"memory-{strategy}", b.config(strategy), model, train_ds, eval_ds, recorder, b.tokenizer,
        "group_by_length", 1, [clock],
    )  # fmt: skip
    with quiet():
        trainer.train()
    sizes = [len(batch) for batch in recorder.batches[:steps]]
    rates = [w["samples"] / w["seconds"] for w in windows(clock.times, sizes, plan.warmup, plan.repeats, plan.window)]
    return {
        "samples_per_second": stat(rates),
        "peak_memory_mb": peak["mb"] - baseline,
        "peak_memory_absolute_mb": peak["mb"],
        "memory_before_training_mb": baseline,
        "memory_measure": kind,
        "trainable_params": trainable,
        "total_params": total,
    }


# --- figure 6: inference through engine.predict -------------------------------------------------------
def figure_inference(b: Bench, model_dir: Path) -> dict[str, Any]:
    """Samples/s of engine.predict.Predictor (model loaded once, length-sorted batches, no grad)."""
    from engine.predict import Predictor

    predictor = Predictor(model_dir, device=b.device_preference, threads=b.device.threads)
    texts = b.test.texts
    predictor.predict_proba(texts[: min(64, len(texts))])  # warm-up
    rates, accuracy = [], None
    for _ in range(b.plan.repeats):
        b.sync()
        start = time.perf_counter()
        probs = predictor.predict_proba(texts)
        b.sync()
        rates.append(len(texts) / (time.perf_counter() - start))
        accuracy = float((probs.argmax(-1) == b.test.labels).mean())
    return {"samples_per_second": stat(rates), "texts": len(texts), "batch_size": 64, "accuracy": accuracy}


# --- GPU only: a BERT-base-sized model ----------------------------------------------------------------
def figure_bert_base(b: Bench, peak: dict[str, Any]) -> dict[str, Any]:
    """Full fine-tuning of a BERT-base-sized model (random weights) at length 128 through the engine's
    Trainer (bf16 autocast on GPUs that have it); model FLOPs utilisation against the bf16 matmul peak.

    Written for CUDA machines; the benchmark calls it only when the device is a GPU.
    """
    import torch
    from transformers import BertConfig, BertModel, default_data_collator, set_seed

    from engine.tasks.base import ListDataset
    from engine.tasks.text.model import TextClassifier

    seq, batch, warmup, window = 128, 32, 5, 20
    steps = warmup + b.plan.repeats * window
    set_seed(b.plan.seed)
    config = BertConfig(
        vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072
    )
    model = TextClassifier(BertModel(config), 2, "mean")
    generator = torch.Generator().manual_seed(b.plan.seed)
    ids = torch.randint(1000, config.vocab_size, (steps * batch, seq), generator=generator)
    mask = torch.ones(seq, dtype=torch.long)
    data = ListDataset([{"input_ids": ids[i], "attention_mask": mask, "labels": i % 2} for i in range(len(ids))])
    evaluation = ListDataset(data.items[:64])
    clock = step_clock(stop_after=steps, sync=b.sync)
    trainer = b.trainer(
        "bert-base", b.config("full", batch_size=batch, max_length=seq), model, data, evaluation,
        default_data_collator, None, "random", 1, [clock],
    )  # fmt: skip
    with quiet():
        trainer.train()
    n_params = non_embedding_parameters(model)
    flops_per_step = training_flops(n_params, config.num_hidden_layers, config.hidden_size, [seq] * batch)
    sizes = [batch] * steps
    achieved = [
        flops_per_step * window / w["seconds"] for w in windows(clock.times, sizes, warmup, b.plan.repeats, window)
    ]
    return {
        "config": "hidden 768, 12 layers, 12 heads, intermediate 3072, length 128, batch 32, random weights",
        "precision": b.device.precision,
        "non_embedding_params": n_params,
        "samples_per_second": stat([f / flops_per_step * batch for f in achieved]),
        "achieved_flops_per_second": stat(achieved),
        "mfu": stat([f / peak["flops_per_second"] for f in achieved]),
        "peak_flops_per_second": peak["flops_per_second"],
    }


# --- profile ----------------------------------------------------------------------------------------------
MATMUL_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}


def profile_full(b: Bench, path: Path, steps: int = 3) -> dict[str, Any]:
    """torch.profiler over a few full fine-tuning steps of the engine (after warm-up); the table to ``path``."""
    import torch
    from transformers import DataCollatorWithPadding, TrainerCallback

    p = b.plan
    activities = [torch.profiler.ProfilerActivity.CPU]
    if b.device.kind == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    profiler = torch.profiler.profile(activities=activities)

    class Profile(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == p.warmup:
                profiler.__enter__()
            elif state.global_step == p.warmup + steps:
                b.sync()
                profiler.__exit__(None, None, None)
                control.should_training_stop = True

    trainer = b.trainer(
        "profile", b.config("full"), b.classifier("full"), b.encode(b.train), b.encode(b.validation),
        DataCollatorWithPadding(b.tokenizer), b.tokenizer, "group_by_length", 1, [Profile()],
    )  # fmt: skip
    with quiet():
        trainer.train()
    averages = profiler.key_averages()
    table = averages.table(sort_by="self_cpu_time_total", row_limit=30)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"torch.profiler: {steps} full fine-tuning steps of the engine after {p.warmup} warm-up steps, "
        f"batch {p.batch_size}, device {b.device.name}. Sorted by self CPU time.\n\n{table}\n",
        encoding="utf-8",
    )
    total = sum(e.self_cpu_time_total for e in averages) or 1
    top = sorted(averages, key=lambda e: e.self_cpu_time_total, reverse=True)[:10]
    return {
        "path": str(path),
        "steps": steps,
        "matmul_share_of_self_cpu_time": sum(e.self_cpu_time_total for e in averages if e.key in MATMUL_OPS) / total,
        "top_ops": [{"op": e.key, "self_cpu_share": e.self_cpu_time_total / total, "calls": e.count} for e in top],
    }
