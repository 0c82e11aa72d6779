"""One training run's setup and first optimizer steps on a labeled file, for ``bench.data_memory`` to measure.

    python -m bench.train_memory FILE [--whole-file | --arrow] [--steps 5] [--model minilm] [--strategy lora]

Goes through the engine's own path (``engine.training.trainer``: ``load_splits``, ``build_task``, the task's
datasets, ``build_trainer``) and stops the Trainer after ``--steps`` optimizer steps. ``--whole-file`` and
``--arrow`` force the loader (``TRANSFERLAB_LARGE_TABLE_BYTES``); by default the file's size chooses. Prints
one JSON line: the seconds of each phase, the split sizes, the max length and this process's memory
(``VmHWM``: peak resident; ``RssAnon``/``RssFile`` at the end: private memory, and pages of memory-mapped
files the kernel can drop).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def status_mb() -> dict[str, float]:
    """This process's peak and current resident memory, from /proc (MB)."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            found[key] = round(int(value.split()[0]) / 1024, 1)
    return found


class PeakPrivate:
    """The peak of RssAnon (memory of this process alone, not pages of mapped files), sampled every 50 ms."""

    def __init__(self) -> None:
        import threading

        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, status_mb()["RssAnon"])

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak, status_mb()["RssAnon"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.train_memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("file")
    loader = parser.add_mutually_exclusive_group()
    loader.add_argument("--whole-file", action="store_true", help="Read the file into lists (the small-file path).")
    loader.add_argument("--arrow", action="store_true", help="Read the file through Arrow (the large-file path).")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--strategy", default="lora")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    from engine.core.formats import LARGE_TABLE_ENV

    if args.whole_file or args.arrow:
        os.environ[LARGE_TABLE_ENV] = str(10**18 if args.whole_file else 0)

    from transformers import TrainerCallback, set_seed

    from engine.core.config import TrainConfig
    from engine.core.jobs import prepare_run
    from engine.core.resolve import resolve_model
    from engine.core.strategies import STRATEGIES
    from engine.training.device import choose_device
    from engine.training.trainer import build_task, build_trainer, load_splits

    class StopAfter(TrainerCallback):
        def on_step_end(self, targs, state, control, **kw):
            if state.global_step >= args.steps:
                control.should_training_stop = True

    watch = PeakPrivate()
    times: dict[str, float] = {}
    private: dict[str, float] = {}  # the peak RssAnon up to the end of each phase
    started = last = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        times[name] = round(now - last, 1)
        private[name] = max(watch.peak, status_mb()["RssAnon"])
        last = now

    config = TrainConfig(
        data=str(Path(args.file).resolve()),
        model=args.model,
        strategy=args.strategy,
        batch_size=args.batch_size,
        threads=args.threads,
        epochs=1,
    )
    with tempfile.TemporaryDirectory(prefix="transferlab-train-memory-") as tmp:
        os.environ.setdefault("TRANSFERLAB_HOME", str(Path(tmp) / "home"))
        run = prepare_run(config, Path(tmp) / "run")
        device = choose_device(config.device, config.threads)
        splits, _ = load_splits(config)
        lap("load_and_split")
        set_seed(config.seed)
        strategy = STRATEGIES[config.strategy]
        task = build_task(config, run, resolve_model(config.model), strategy, splits, device)
        lap("model_and_max_length")
        data = task.datasets()
        lap("tokenise")
        trainer, _ = build_trainer(
            config,
            run,
            task.classifier,
            data.train,
            data.validation,
            data.collator,
            data.processing_class,
            data.sampling,
            device,
            config.resolved_epochs(),
        )
        trainer.add_callback(StopAfter())
        trainer.train()
        lap("first_steps")
        result = {
            "file": Path(args.file).name,
            "loader": type(splits.train).__name__,
            "train": len(splits.train),
            "validation": len(splits.validation),
            "test": len(splits.test),
            "max_length": task.info["max_length"],
            "steps": trainer.state.global_step,
            "seconds": times,
            "total_seconds": round(time.perf_counter() - started, 1),
            "memory_mb": status_mb(),
            "peak_private_mb": watch.stop(),
            "peak_private_mb_by": private,
        }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
