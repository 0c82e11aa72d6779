"""Predict labels for new texts or pictures with a trained run.

    python -m engine.predict --run RUN_DIR --data new.csv --out predictions.csv
    python -m engine.predict --run IMAGE_RUN_DIR --data photos.zip --out predictions.csv

For texts the output keeps every column of the input; for pictures (a ZIP or a folder, any
layout) it has one row per image named by its path in the upload. Both add ``predicted_label``,
``confidence`` and one ``prob_<label>`` column per class. The model is loaded once and examples
run in batches without gradients.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.errors import DataError, ModelNotAvailableError, TransferLabError
from engine.rundir import RunDir


class Predictor:
    """A trained classifier loaded once, for the CLI, batch files and the Try-it page."""

    def __init__(self, model_dir: str | Path, device: str = "auto", threads: int | None = None) -> None:
        from engine.device import choose_device
        from engine.modeling import load_classifier, read_model_meta

        self.device = choose_device(device, threads)
        self.task: str = read_model_meta(Path(model_dir)).get("task", "text")
        if self.task == "image":
            from engine.vision import ImageSpec, load_image_classifier

            self.classifier, self.meta = load_image_classifier(model_dir, self.device.kind)
            self.tokenizer, self.max_length = None, None
            self.spec = ImageSpec.from_dict(self.meta["image_spec"])
        else:
            self.classifier, self.tokenizer, self.meta = load_classifier(model_dir, self.device.kind)
            self.max_length = int(self.meta["max_length"])
        self.label_names: list[str] = list(self.meta["label_names"])

    @classmethod
    def from_run(cls, run_dir: str | Path, **kw: Any) -> Predictor:
        run = RunDir(run_dir)
        if not run.model_dir.is_dir():
            state = run.status().get("state", "unknown")
            raise ModelNotAvailableError(
                f"{run.path} has no trained model (its status is '{state}'). Pick a run whose training completed."
            )
        return cls(run.model_dir, **kw)

    def predict_proba(self, texts: Sequence[Any], batch_size: int = 64):
        """Class probabilities: texts for a text model; image paths or PIL images for an image model."""
        if self.task == "image":
            from engine.vision import predict_image_proba

            return predict_image_proba(
                self.classifier,
                list(texts),
                self.spec,
                batch_size=min(batch_size, 32),
                device=self.device.kind,
                precision=self.device.precision,
            )
        from engine.modeling import predict_proba

        return predict_proba(
            self.classifier,
            self.tokenizer,
            [str(t) for t in texts],
            self.max_length,
            batch_size=batch_size,
            device=self.device.kind,
            precision=self.device.precision,
        )

    def predict(self, texts: Sequence[Any]) -> list[dict[str, Any]]:
        """One dict per text (or image): label, confidence and the probability of every class."""
        probs = self.predict_proba(texts)
        return [
            {
                "label": self.label_names[int(row.argmax())],
                "confidence": float(row.max()),
                "probabilities": dict(zip(self.label_names, map(float, row), strict=False)),
            }
            for row in probs
        ]

    def predict_table(self, path: str | Path, text_column: str | None = None):
        """Read a file the way training does and return it with prediction columns added."""
        from engine.data import guess_text_column, read_table

        self._expect("text", path)
        df, _warnings = read_table(path)
        column = guess_text_column(df, text_column, source=Path(path).name)
        texts = df[column].fillna("").astype(str).tolist()
        probs = self.predict_proba(texts)
        out = df.copy()
        out["predicted_label"] = [self.label_names[i] for i in probs.argmax(-1)]
        out["confidence"] = probs.max(-1)
        for i, name in enumerate(self.label_names):
            out[f"prob_{name}"] = probs[:, i]
        return out

    def predict_images(self, path: str | Path):
        """Every picture in a ZIP or folder (any layout), one row each; unreadable ones are listed, not fatal.

        Returns the predictions table and the skipped ``(name, reason)`` pairs.
        """
        import pandas as pd

        from engine.images import list_images

        self._expect("image", path)
        paths, names, _root, skipped = list_images(path)
        probs = self.predict_proba(paths)
        out = pd.DataFrame({"file": names})
        out["predicted_label"] = [self.label_names[i] for i in probs.argmax(-1)]
        out["confidence"] = probs.max(-1)
        for i, name in enumerate(self.label_names):
            out[f"prob_{name}"] = probs[:, i]
        return out, skipped

    def predict_file(self, path: str | Path, text_column: str | None = None):
        """A table of texts or a ZIP/folder of pictures, whichever this model takes."""
        if self.task == "image":
            return self.predict_images(path)[0]
        return self.predict_table(path, text_column)

    def _expect(self, task: str, path: str | Path) -> None:
        from engine.images import is_image_data

        given = "image" if is_image_data(path) else "text"
        if self.task == task and given == task:
            return
        if self.task == "image":
            raise DataError(
                f"This run's model classifies pictures, but {Path(path).name} is not a ZIP or folder of images. "
                "Give a ZIP file or a folder of JPEG/PNG/BMP/WebP/GIF pictures."
            )
        raise DataError(
            f"This run's model classifies texts, but {Path(path).name} is a ZIP or folder. Give a table of texts "
            "(CSV, TSV, JSON/JSONL, Parquet or Excel)."
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.predict", description="Predict labels with a trained run.")
    parser.add_argument("--run", required=True, help="Run directory of a completed training run.")
    parser.add_argument(
        "--data",
        required=True,
        help="Texts: CSV, TSV, JSON/JSONL, Parquet or Excel. Pictures: a ZIP or a folder of images.",
    )
    parser.add_argument("--out", required=True, help="Where to write the predictions (CSV).")
    parser.add_argument("--text-column", default=None, help="Column holding the text (guessed if unset).")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all available cores).")
    args = parser.parse_args(argv)
    try:
        predictor = Predictor.from_run(args.run, device=args.device, threads=args.threads)
        table = predictor.predict_file(args.data, args.text_column)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        table.to_csv(tmp, index=False)
        os.replace(tmp, out)
    except TransferLabError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote {len(table)} predictions to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
