"""Times of real runs for the estimate's calibration (tests/test_estimate.py, MEASURED and MEASURED_IMAGES).

    python -m bench.calibrate "frozen:1:128:800" "lora:1:64:600" ... [--data data/spam_emails.csv]
    python -m bench.calibrate "partial:3:128:all" --data data/fashion_demo.zip --model efficientnet-lite0

Each spec is ``strategy:epochs:size:rows``, ``size`` being the max length (texts) or the image size
(pictures): a seeded sample of ``rows`` rows of a table (``all`` for a ZIP of pictures), started through
``engine.core.jobs.start_run`` (a worker process, as the dashboard does). Prints one line per run: the
spec, the time to train that Results shows (metrics.json's ``train_seconds``), the wall time from the
start to "completed", the steps and the test accuracy.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.figures import SPAM


def measure(spec: str, data: Path, workdir: Path, model: str = "minilm") -> tuple[float, dict]:
    from engine.core.config import TrainConfig
    from engine.core.formats import is_image_data
    from engine.core.jobs import refresh_status, start_run

    strategy, epochs, size, rows = spec.split(":")
    if is_image_data(data):
        path, sizes = data, {"image_size": int(size)}
    else:
        path, sizes = workdir / f"sample-{rows}.csv", {"max_length": int(size)}
        pd.read_csv(data).sample(int(rows), random_state=0).to_csv(path, index=False)
    config = TrainConfig(data=str(path), model=model, strategy=strategy, epochs=int(epochs), threads=2, **sizes)
    start = time.perf_counter()
    run = start_run(config, root=workdir / "runs")
    while refresh_status(run).get("state") in ("queued", "running"):
        time.sleep(0.5)
    seconds = time.perf_counter() - start
    return seconds, run.metrics() or {"state": run.status().get("state"), "message": run.status().get("message")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+", metavar="STRATEGY:EPOCHS:MAX_LENGTH:ROWS")
    parser.add_argument("--data", default=str(SPAM))
    parser.add_argument("--model", default="minilm")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="calibrate-") as tmp:
        os.environ["TRANSFERLAB_HOME"] = str(Path(tmp) / "home")  # a cold feature cache
        for spec in args.specs:
            seconds, metrics = measure(spec, Path(args.data), Path(tmp), args.model)
            train_seconds = metrics.get("train_seconds")
            print(
                f"{spec}\ttime to train {train_seconds:.1f} s\twall {seconds:.1f} s\t"
                f"accuracy {metrics.get('accuracy')}\tsteps {metrics.get('steps')}"
                if isinstance(train_seconds, float)
                else f"{spec}\tfailed: {metrics}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
