"""CPU inference speed, onnxruntime against the engine (torch), on the demo data.

    python -m bench.onnx_speed --text-run RUNS/spam --image-run RUNS/fashion

Both runs are exported to ONNX first (into a temporary folder). Each path predicts the same
examples end to end, the way ``engine.predict`` and the exported ``predict.py`` do: texts tokenised,
sorted by length and batched (``TEXT_INFERENCE_BATCH``), pictures opened, prepared and batched
(``IMAGE_INFERENCE_BATCH``), on the same number of threads, after one warm-up batch. Prints texts/s
and pictures/s both ways and appends the figures to ``bench/results/onnx_speed.json``, with how much
of the machine other processes took meanwhile (a shared machine makes both paths look slower).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.measure import CpuMeter, cpu_model

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "results" / "onnx_speed.json"


def timed(fn, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def compare(name: str, engine_predict, onnx_predict, inputs: list[Any], warmup: list[Any]) -> dict[str, Any]:
    """Both paths on ``inputs`` after a warm-up on ``warmup``: examples per second, and their largest difference."""
    engine_predict(warmup)
    onnx_predict(warmup)
    meter = CpuMeter()
    engine_s, expected = timed(engine_predict, inputs)
    onnx_s, got = timed(onnx_predict, inputs)
    figures = {
        "examples": len(inputs),
        "engine_per_s": len(inputs) / engine_s,
        "onnx_per_s": len(inputs) / onnx_s,
        "speedup": engine_s / onnx_s,
        "max_abs_diff": float(np.abs(np.asarray(expected) - np.asarray(got)).max()),
        "others_cpu_share": meter.others_share(),
    }
    print(
        f"{name}: engine (torch) {figures['engine_per_s']:.1f}/s, onnxruntime {figures['onnx_per_s']:.1f}/s, "
        f"x{figures['speedup']:.2f}; largest difference {figures['max_abs_diff']:.1e}; other processes took "
        f"{(figures['others_cpu_share'] or 0):.0%} of the machine"
    )
    return figures


def texts_figures(run: Path, n: int, threads: int, folder: Path) -> dict[str, Any]:
    from engine.data.text import load_text_dataset
    from engine.export import onnx_predict
    from engine.export.onnx import export
    from engine.predict import Predictor

    export(run, folder / "texts", "onnx")
    texts = load_text_dataset(ROOT / "data" / "spam_emails.csv").texts[:n]
    engine = Predictor.from_run(run, device="cpu", threads=threads)
    exported = onnx_predict.TextClassifier(folder / "texts", threads=threads)
    figures = compare("texts", engine.predict_proba, exported.predict_proba, texts, texts[-64:])
    return {
        "run": str(run),
        "max_length": int(engine.meta["max_length"]),
        "model": engine.meta["base_model"],
        **figures,
    }


def pictures_figures(run: Path, n: int, threads: int, folder: Path) -> dict[str, Any]:
    from engine.core.formats import MAX_PIXELS
    from engine.data.images import list_images
    from engine.export import onnx_predict
    from engine.export.onnx import export
    from engine.predict import Predictor

    export(run, folder / "pictures", "onnx")
    paths = list_images(ROOT / "data" / "fashion_demo.zip")[0][:n]
    engine = Predictor.from_run(run, device="cpu", threads=threads)
    exported = onnx_predict.ImageClassifier(folder / "pictures", threads=threads)

    def onnx_end_to_end(batch: list[str]):  # opening and decoding the pictures counts on both sides
        return exported.predict_proba([onnx_predict.open_image(p, MAX_PIXELS) for p in batch])

    figures = compare("pictures", engine.predict_proba, onnx_end_to_end, paths, paths[-32:])
    return {
        "run": str(run),
        "image_size": exported.preprocessing["size"],
        "model": engine.meta["base_model"],
        **figures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.onnx_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--text-run", required=True, help="A run trained on data/spam_emails.csv.")
    parser.add_argument("--image-run", required=True, help="A run trained on data/fashion_demo.zip.")
    parser.add_argument("--texts", type=int, default=500)
    parser.add_argument("--pictures", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--note", default="", help="What else ran on the machine meanwhile, in words.")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    import onnxruntime
    import torch

    with tempfile.TemporaryDirectory(prefix="onnx-speed-") as tmp:
        record = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpu_model": cpu_model(),
            "threads": args.threads,
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "note": args.note,
            "texts": texts_figures(Path(args.text_run), args.texts, args.threads, Path(tmp)),
            "pictures": pictures_figures(Path(args.image_run), args.pictures, args.threads, Path(tmp)),
        }
    out = Path(args.out)
    previous = json.loads(out.read_text()) if out.exists() else []
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([*previous, record], indent=2) + "\n", encoding="utf-8")
    print(f"Appended to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
