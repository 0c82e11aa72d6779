"""The dashboard's handle on a trained model: a warm ``python -m engine.serve`` process.

Try it predicts through this client, so torch, transformers and peft are never loaded into the
Streamlit server (one model in a separate process: loaded once, reused for every request, ended
with the dashboard). Torch-free.

>>> predictor = PredictorProcess("RUN_DIR/model")           # doctest: +SKIP
>>> predictor.predict(["some text"])[0]["label"]            # doctest: +SKIP
'spam'
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any

from engine.core import errors
from engine.core.errors import ModelNotAvailableError, TransferLabError
from engine.core.workspace import PROJECT_ROOT


def _error(message: dict[str, Any]) -> TransferLabError:
    kind = getattr(errors, str(message.get("kind")), None)
    cls = kind if isinstance(kind, type) and issubclass(kind, TransferLabError) else TransferLabError
    return cls(message["error"])


class PredictorProcess:
    """A model loaded in its own process; :meth:`predict` and :meth:`predict_file` talk to it."""

    def __init__(self, model_dir: str | Path, timeout: float = 300.0) -> None:
        self.model_dir = Path(model_dir)
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "engine.serve", str(self.model_dir)],
            cwd=PROJECT_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
        )
        # Ends the process when this handle is dropped (a cache evicting it) or the dashboard exits.
        self._finalizer = weakref.finalize(self, _stop, self._proc)
        first = self._read()
        if "error" in first:
            self.close()
            raise _error(first)
        self.task: str = first["task"]
        self.label_names: list[str] = list(first["label_names"])

    def _read(self) -> dict[str, Any]:
        line = self._proc.stdout.readline() if self._proc.stdout else ""
        if not line:
            raise ModelNotAvailableError(
                f"The model in {self.model_dir} could not be loaded: its predictor process stopped. Try again."
            )
        return json.loads(line)

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if self._proc.poll() is not None:
                raise ModelNotAvailableError(
                    "The model's predictor process has stopped; reload the page to restart it."
                )
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
            answer = self._read()
        if "error" in answer:
            raise _error(answer)
        return answer

    def predict(self, inputs: list[str]) -> list[dict[str, Any]]:
        """Texts (or picture paths): one ``{"label", "confidence", "probabilities"}`` each."""
        return self._ask({"op": "predict", "inputs": [str(x) for x in inputs]})["predictions"]

    def predict_file(self, path: str | Path, text_column: str | None = None):
        """A table of texts (or a .txt of them) or a ZIP of pictures with prediction columns, and what was skipped
        as ``(where, why)``: unreadable pictures, empty lines."""
        import pandas as pd

        fd, out = tempfile.mkstemp(suffix=".parquet", prefix="transferlab-predictions-")
        os.close(fd)
        try:
            answer = self._ask({"op": "file", "path": str(path), "text_column": text_column, "out": out})
            table = pd.read_parquet(out)
        finally:
            Path(out).unlink(missing_ok=True)
        return table, [tuple(s) for s in answer["skipped"]]

    def explain_texts(self, texts: list[str]) -> list[dict[str, Any]]:
        """Each text's prediction and its words with their weights toward each class (``engine.explain``)."""
        return self._ask({"op": "explain", "texts": [str(t) for t in texts]})["explanations"]

    def explain_image(self, path: str | Path, out_png: str | Path, target: str | None = None) -> dict[str, Any]:
        """A picture's prediction, and its heat map (toward ``target``, default the predicted class) in ``out_png``."""
        return self._ask({"op": "explain_image", "path": str(path), "out": str(out_png), "target": target})

    def close(self) -> None:
        self._finalizer()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            if proc.stdin:
                proc.stdin.close()  # the server ends at the end of its input
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
