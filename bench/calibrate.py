"""Wall times of real runs for the estimate's calibration (tests/test_estimate.py, MEASURED).

    python -m bench.calibrate "frozen:20:128:800" "lora:1:128:800" ... [--data data/spam_emails.csv]

Each spec is ``strategy:epochs:max_length:rows``: a seeded sample of ``rows`` rows of the data, started
through ``engine.core.jobs.start_run`` (a worker process, as the dashboard does) and timed from the
start to "completed". Prints one line per run: the spec, the seconds and the test accuracy.
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
    from engine.core.jobs import refresh_status, start_run

    strategy, epochs, max_length, rows = spec.split(":")
    sample = pd.read_csv(data).sample(int(rows), random_state=0)
    path = workdir / f"sample-{rows}.csv"
    sample.to_csv(path, index=False)
    config = TrainConfig(
        data=str(path), model=model, strategy=strategy, epochs=int(epochs), max_length=int(max_length), threads=2
    )
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
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="calibrate-") as tmp:
        os.environ["TRANSFERLAB_HOME"] = str(Path(tmp) / "home")  # a cold feature cache
        for spec in args.specs:
            seconds, metrics = measure(spec, Path(args.data), Path(tmp))
            print(
                f"{spec}\t{seconds:.1f} s\taccuracy {metrics.get('accuracy')}\tsteps {metrics.get('steps')}", flush=True
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
