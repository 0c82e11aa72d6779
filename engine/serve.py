"""A warm predictor in its own process: the Try-it page's model, so the dashboard never loads torch.

    python -m engine.serve MODEL_DIR

Reads one JSON request per line on stdin and answers one JSON line on stdout:

- first, unasked: ``{"ready": true, "task": "text", "label_names": [...]}`` (or ``{"error": ...}``)
- ``{"op": "predict", "inputs": ["a text", ...]}`` (texts, or picture paths) ->
  ``{"predictions": [{"label", "confidence", "probabilities"}, ...]}``
- ``{"op": "file", "path": FILE, "text_column": null, "out": OUT.parquet}`` -> the file with prediction
  columns written to ``out`` -> ``{"rows": N, "skipped": [[name, reason], ...]}``
- ``{"op": "explain", "texts": ["a text", ...]}`` -> ``{"explanations": [...]}`` (``engine.explain.explain_texts``)
- ``{"op": "explain_image", "path": PICTURE, "out": HEAT.png, "target": null}`` -> the heat map written to ``out``
  -> ``engine.explain.explain_image``'s dict

A problem with a request is answered ``{"error": message, "kind": "DataError"}`` and the process goes
on; it ends when stdin closes (the dashboard stopped). The client is ``engine.core.predictor``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from engine.core.errors import TransferLabError
from engine.core.logs import add_verbose_flag, setup_logging


def _answer(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _handle(predictor, request: dict[str, Any]) -> dict[str, Any]:
    if request.get("op") == "predict":
        return {"predictions": predictor.predict([str(x) for x in request["inputs"]])}
    if request.get("op") == "file":
        table, skipped = predictor.predict_file(request["path"], request.get("text_column"))
        out = Path(request["out"])
        table.to_parquet(out, index=False)
        return {"rows": len(table), "skipped": [list(s) for s in skipped]}
    if request.get("op") == "explain":
        from engine.explain import explain_texts

        return {"explanations": explain_texts(predictor, [str(x) for x in request["texts"]])}
    if request.get("op") == "explain_image":
        from engine.explain import explain_image

        return explain_image(predictor, request["path"], request["out"], request.get("target"))
    return {"error": f"unknown request {request.get('op')!r}", "kind": "TransferLabError"}


def serve(model_dir: str) -> int:
    from engine.predict import Predictor

    try:
        predictor = Predictor(model_dir)
    except TransferLabError as exc:
        _answer({"error": str(exc), "kind": type(exc).__name__})
        return 2
    _answer({"ready": True, "task": predictor.task.name, "label_names": predictor.label_names})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            _answer(_handle(predictor, json.loads(line)))
        except TransferLabError as exc:
            _answer({"error": str(exc), "kind": type(exc).__name__})
        except Exception as exc:  # noqa: BLE001 - one bad request must not take the warm model down
            logging.getLogger("engine.serve").exception("request failed")
            _answer({"error": f"Prediction failed: {type(exc).__name__}: {exc}", "kind": "TransferLabError"})
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine.serve", description="Serve one trained model on stdin/stdout."
    )
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="A trained model folder (RUN_DIR/model).")
    add_verbose_flag(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    return serve(args.model_dir)


if __name__ == "__main__":
    sys.exit(main())
