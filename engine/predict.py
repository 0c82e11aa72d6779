"""Predict labels for new texts or pictures with a trained run.

    python -m engine.predict --run RUN_DIR --data new.csv --out predictions.csv
    python -m engine.predict --run IMAGE_RUN_DIR --data photos.zip --out predictions.csv

For texts the output keeps every column of the input (a .txt is one text per line: ``line`` and
``text``, empty lines skipped); for pictures (a ZIP or a folder, any layout) it has one row per image
named by its path in the upload. Both add ``predicted_label``, ``confidence``, ``uncertain`` and one
``prob_<label>`` column per class. The model is loaded once and examples run in batches without gradients.

When the file also holds the true labels (the run's label column, a ``label`` column, or pictures in
folders named after the classes), the predictions are scored too: a summary is printed and the scores
are written next to the output, ``predictions.metrics.json``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.core.csvsafe import write_table_csv
from engine.core.errors import DataError, TransferLabError
from engine.core.evaluation import Evaluation, evaluate_table
from engine.core.logs import add_verbose_flag, setup_logging
from engine.core.predictions import prediction_columns, uncertain_summary
from engine.core.rundir import RunDir, write_json_atomic
from engine.core.tasks import get_task, task_of_data
from engine.core.words import MAX_LISTED

log = logging.getLogger("engine.predict")


class Predictor:
    """A trained classifier loaded once, for the CLI, batch files and the Try-it page's predictor process."""

    def __init__(self, model_dir: str | Path, device: str = "auto", threads: int | None = None) -> None:
        from engine.tasks.base import read_model_meta
        from engine.training.device import choose_device

        self.device = choose_device(device, threads)
        self.task = get_task(read_model_meta(Path(model_dir))["task"])
        self.model = self.task.load("implementation").load(Path(model_dir), self.device.kind, self.device.precision)
        self.meta: dict[str, Any] = self.model.meta
        self.label_names: list[str] = list(self.model.label_names)

    @classmethod
    def from_run(cls, run_dir: str | Path, **kw: Any) -> Predictor:
        return cls(RunDir(run_dir).trained_model(), **kw)

    def predict_proba(self, inputs: Sequence[Any], batch_size: int | None = None):
        """Class probabilities: texts for a text model; image paths or PIL images for an image model."""
        return self.model.predict_proba(list(inputs), batch_size)

    def predict(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        """One dict per text (or image): label, confidence and the probability of every class."""
        probs = self.predict_proba(inputs)
        return [
            {
                "label": self.label_names[int(row.argmax())],
                "confidence": float(row.max()),
                "probabilities": dict(zip(self.label_names, map(float, row), strict=False)),
            }
            for row in probs
        ]

    def predict_file(self, path: str | Path, text_column: str | None = None):
        """A file this model reads (a table of texts, or a ZIP/folder of pictures), with prediction columns
        added. Returns the table and the ``(name, reason)`` of files skipped as unreadable."""
        given = task_of_data(path)
        if given is not self.task:
            raise DataError(
                f"This run's model classifies {self.task.examples}, but {Path(path).name} holds {given.examples}. "
                f"Give {self.task.input_help}."
            )
        table, inputs, skipped = self.task.load("input_reader")(path, text_column)
        out = table.copy()
        for name, values in prediction_columns(self.predict_proba(inputs), self.label_names).items():
            out[name] = values
        return out, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.predict", description="Predict labels with a trained run.")
    parser.add_argument("--run", required=True, help="Run directory of a completed training run.")
    parser.add_argument(
        "--data",
        required=True,
        help="Texts: CSV, TSV, JSON/JSONL, Parquet, Excel, or a .txt of one text per line (no header). "
        "Pictures: a ZIP or a folder of images.",
    )
    parser.add_argument("--out", required=True, help="Where to write the predictions (CSV).")
    parser.add_argument("--text-column", default=None, help="Column holding the text (guessed if unset).")
    parser.add_argument(
        "--label-column",
        default=None,
        help="Column holding the true labels, to score the predictions against (default: the run's own label "
        "column, or one named 'label', when the file has it; pictures in folders named after the classes are "
        "scored by folder).",
    )
    parser.add_argument(
        "--raw-csv",
        action="store_true",
        help="Write cells as they are, for programs. By default a cell a spreadsheet would run as a formula "
        "(starting with = + - @) gets a leading quote.",
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all available cores).")
    add_verbose_flag(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        predictor = Predictor.from_run(args.run, device=args.device, threads=args.threads)
        table, skipped = predictor.predict_file(args.data, args.text_column)
        if args.label_column is not None and args.label_column not in table.columns:
            raise DataError(
                f"'{Path(args.data).name}' has no column '{args.label_column}'. Name the column that holds the "
                "true labels (--label-column), or leave the flag out."
            )
        label_column = args.label_column or (RunDir(args.run).config() or {}).get("label_column")
        evaluation = evaluate_table(table, predictor.label_names, label_column)
        out = write_table_csv(table, args.out, raw=args.raw_csv)
    except TransferLabError as exc:
        log.error("Error: %s", exc)
        return 2
    for name, reason in skipped[:MAX_LISTED]:
        log.warning("Skipped %s: %s", name, reason)
    if len(skipped) > MAX_LISTED:
        log.warning("Skipped %d more (%d in all).", len(skipped) - MAX_LISTED, len(skipped))
    print(f"Wrote {len(table)} predictions to {out}")
    print(uncertain_summary(table["uncertain"].tolist()))
    if evaluation is not None:
        report(evaluation, Path(out))
    return 0


def report(evaluation: Evaluation, out: Path) -> Path:
    """Print the scores on the file and write them next to the predictions, ``<out>.metrics.json``."""
    print(evaluation.summary())
    for note in evaluation.notes():
        print(note)
    path = out.with_suffix(".metrics.json")
    write_json_atomic(path, evaluation.to_dict())
    print(f"Wrote the scores to {path}")
    return path


if __name__ == "__main__":
    sys.exit(main())
