"""Why did the model say that: the words of a text, or the places in a picture, behind a prediction.

    python -m engine.explain --run RUN_DIR --text "Win a free prize now"
    python -m engine.explain --run IMAGE_RUN_DIR --image photo.jpg [--out DIR]

Prints JSON. For a text: ``{"text", "label", "probabilities", "tokens": [{"text", "start", "end",
"weights": {class: w}}]}``, one entry per word, whose weight toward a class is how much the word
moved that class's probability (occlusion, captum: the drop when the word is deleted; positive:
toward the class). For a picture: ``{"file", "label", "probabilities", "heatmap": PNG, "target"}``,
the PNG being the picture with the places the prediction relies on laid over it in colour
(occlusion, captum), written to ``--out`` (default ``RUN_DIR/explanations``).

>>> explain_texts("RUN_DIR/model", ["Win a free prize now"])[0]["label"]   # doctest: +SKIP
'spam'
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.core.errors import DataError, TransferLabError
from engine.core.explanations import EXPLAIN_MAX_TOKENS
from engine.core.logs import add_verbose_flag, setup_logging
from engine.core.rundir import RunDir
from engine.predict import Predictor

log = logging.getLogger("engine.explain")


def _loaded(model: str | Path | Predictor, task: str, give: str) -> Predictor:
    predictor = model if isinstance(model, Predictor) else Predictor(model)
    if predictor.task.name != task:
        raise DataError(f"This run's model classifies {predictor.task.examples}; give it {give}.")
    return predictor


def explain_texts(
    model: str | Path | Predictor, texts: Sequence[str], max_tokens: int = EXPLAIN_MAX_TOKENS
) -> list[dict[str, Any]]:
    """For each text, its prediction and its words with their weights toward each class.

    ``model`` is a model folder (``RUN_DIR/model``) or a loaded :class:`~engine.predict.Predictor`;
    the words cover the text's first ``max_tokens`` tokens (and no more than the model reads).
    """
    from engine.tasks.text.explain import explain_texts as occlusion

    predictor = _loaded(model, "text", "pictures with --image")
    return occlusion(predictor.model, [str(t) for t in texts], max_tokens)


def explain_image(
    model: str | Path | Predictor, path: str | Path, out_png: str | Path, target: str | None = None
) -> dict[str, Any]:
    """The picture's prediction and a heat map PNG of the same size (where hiding the picture lowers the
    probability of ``target``, default the predicted class, the most)."""
    from engine.tasks.image.explain import explain_image as occlusion

    predictor = _loaded(model, "image", "texts with --text")
    return occlusion(predictor.model, path, out_png, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine.explain", description="Explain a trained run's prediction for a text or a picture."
    )
    parser.add_argument("--run", required=True, help="Run directory of a completed training run.")
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--text", help="A text to explain (text runs).")
    given.add_argument("--image", help="A picture to explain (image runs).")
    parser.add_argument("--out", default=None, help="Folder for the heat map (default: RUN_DIR/explanations).")
    parser.add_argument("--target", default=None, help="Pictures: the class to explain (default: the predicted one).")
    parser.add_argument(
        "--max-tokens", type=int, default=EXPLAIN_MAX_TOKENS, help="Texts: how many tokens to explain at most."
    )
    add_verbose_flag(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        model_dir = RunDir(args.run).trained_model()
        if args.text is not None:
            if not args.text.strip():
                raise DataError("The text is empty. Give a text to explain with --text.")
            result: Any = explain_texts(model_dir, [args.text], args.max_tokens)[0]
        else:
            out = Path(args.out) if args.out else RunDir(args.run).path / "explanations"
            result = explain_image(model_dir, args.image, out / f"{Path(args.image).stem}-heatmap.png", args.target)
    except TransferLabError as exc:
        log.error("Error: %s", exc)
        return 2
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
