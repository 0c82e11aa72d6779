"""What an ONNX export does differently for texts and for pictures: one :class:`Graph` per task.

A Graph loads the run's model as ``engine.predict`` does, names the graph's inputs and their dynamic
axes, gives example inputs to trace with, writes the files beside the graph (``tokenizer.json`` or
``preprocessing.json``) and runs the check of :mod:`engine.export.onnx`: a handful of the run's own
test examples through the engine and through the exported folder.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from engine.core.errors import ModelNotAvailableError
from engine.core.formats import IMAGE_EXTENSIONS, MAX_PIXELS
from engine.core.policy import IMAGE_INFERENCE_BATCH, TEXT_INFERENCE_BATCH
from engine.core.predictions import read_predictions
from engine.core.rundir import RunDir
from engine.core.tasks import get_task
from engine.data.columns import TEXT_HINTS
from engine.export import onnx_predict
from engine.tasks.base import read_model_meta

log = logging.getLogger(__name__)

CHECKED_EXAMPLES = 8  # test examples run through both paths at export time


class Probabilities(nn.Module):
    """The classifier with its softmax: what the graph returns (the engine's ``predict_proba`` per batch)."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.classifier(*inputs).logits.float(), dim=-1)


class TextProbabilities(Probabilities):
    # Named arguments: the graph's input names. No token_type_ids: the classifier passes none that matter
    # (a single text has type 0 throughout, which BERT-style models assume when none is given).
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return super().forward(input_ids, attention_mask)


class ImageProbabilities(Probabilities):
    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return super().forward(pixel_values)


class Graph(ABC):
    """What one task's export needs: the loaded model, its inputs, the files beside the graph, the check."""

    wrapper: ClassVar[type[Probabilities]]
    dynamic_axes: ClassVar[dict[str, dict[int, str]]]
    batch_size: ClassVar[int]
    readme: ClassVar[dict[str, str]]  # the folder README's task-specific phrases (engine.export.onnx.README)

    def __init__(self, model_dir: Path, run: RunDir) -> None:
        meta = read_model_meta(model_dir)
        # Loaded as engine.predict loads it (LoRA merged), on the CPU in float32: what the graph is traced from.
        self.model = get_task(meta["task"]).load("implementation").load(model_dir, "cpu", "fp32")
        self.run = run

    @abstractmethod
    def example(self) -> dict[str, torch.Tensor]:
        """Inputs to trace the graph with (two examples, so no axis is mistaken for a constant 1)."""

    @abstractmethod
    def write_files(self, folder: Path) -> dict[str, Any]:
        """The files beside the graph; returns what config.json says about them."""

    @abstractmethod
    def check(self, folder: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Names of the examples checked, the engine's probabilities and the exported folder's."""

    def test_column(self, column: str) -> list[str]:
        path = self.run.predictions_path
        if not path.is_file():
            return []
        try:
            table = read_predictions(path)
        except (OSError, ValueError) as exc:
            log.warning("Could not read %s (%s); checking on made-up examples instead.", path, exc)
            return []
        return [str(v) for v in table[column].tolist()] if column in table.columns else []


def spread(items: list[str], key, n: int = CHECKED_EXAMPLES) -> list[str]:
    """``n`` items from shortest to longest (by ``key``), evenly spaced: one batch with much padding.

    >>> spread(["aaaa", "a", "aaa", "aa", "aaaaa"], len, 3)
    ['a', 'aaa', 'aaaaa']
    """
    ordered = sorted(dict.fromkeys(items), key=key)
    if len(ordered) <= n:
        return ordered
    return [ordered[round(i * (len(ordered) - 1) / (n - 1))] for i in range(n)]


class TextGraph(Graph):
    wrapper = TextProbabilities
    dynamic_axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    batch_size = TEXT_INFERENCE_BATCH
    readme = {
        "files": "- `tokenizer.json`: the model's tokenizer (the `tokenizers` library, or any language's binding), with "
        "truncation at `max_length` ({max_length} tokens) and right padding set; the graph reads `input_ids` and "
        "`attention_mask` (int64, batch x tokens).",
        "needs": "`tokenizers`",
        "pip": "tokenizers",
        "example": "texts.csv [--text-column NAME]",
        "columns": "the CSV's own columns (the text column is guessed when not named)",
    }

    def example(self) -> dict[str, torch.Tensor]:
        length = max(2, min(16, self.model.max_length))
        vocab = int(self.model.classifier.backbone.config.vocab_size)
        ids = torch.randint(0, vocab, (2, length), generator=torch.Generator().manual_seed(0))
        mask = torch.ones(2, length, dtype=torch.long)
        mask[1, length // 2 :] = 0  # a padded row, so the masking is traced too
        return {"input_ids": ids, "attention_mask": mask}

    def write_files(self, folder: Path) -> dict[str, Any]:
        from tokenizers import Tokenizer

        tokenizer = self.model.tokenizer
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ModelNotAvailableError(
                f"This run's model ({self.model.meta['base_model']}) has no fast tokenizer (tokenizer.json), which "
                "the ONNX export needs so the texts can be prepared without Python ML libraries. Export it as a "
                "model folder instead."
            )
        # Truncation and padding as the engine does them, saved in the file for programs in other languages.
        exported = Tokenizer.from_str(backend.to_str())
        exported.enable_truncation(self.model.max_length)
        exported.enable_padding(direction="right", pad_id=tokenizer.pad_token_id, pad_token=tokenizer.pad_token)
        exported.save(str(folder / onnx_predict.TOKENIZER_FILE))
        return {
            "max_length": self.model.max_length,
            "pad_id": int(tokenizer.pad_token_id),
            "pooling": self.model.meta["pooling"],
            "text_column_hints": sorted(TEXT_HINTS),
        }

    def check(self, folder: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
        texts = spread(self.test_column("text"), len)
        if not texts:
            texts = ["", "ok", "a somewhat longer text, to be padded against " * 4]
        exported = onnx_predict.TextClassifier(folder)
        names = [t if len(t) <= 60 else t[:59] + "…" for t in texts]
        return names, self.model.predict_proba(texts), exported.predict_proba(texts)


class ImageGraph(Graph):
    wrapper = ImageProbabilities
    dynamic_axes = {"pixel_values": {0: "batch"}}
    batch_size = IMAGE_INFERENCE_BATCH
    readme = {
        "files": "- `preprocessing.json`: how a picture becomes `pixel_values` (float32, batch x 3 x {image_size} x "
        "{image_size}): shorter side resized, centre crop, scaled and normalised; the steps are listed in it.",
        "needs": "`pillow`",
        "pip": "pillow",
        "example": "pictures_folder/",
        "columns": "`file` (each picture's path in the folder)",
    }

    def example(self) -> dict[str, torch.Tensor]:
        size = self.model.spec.size
        return {"pixel_values": torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))}

    def write_files(self, folder: Path) -> dict[str, Any]:
        spec = self.model.spec
        preprocessing = {
            "steps": [
                "open the picture as RGB, upright (EXIF orientation), transparency laid on white",
                f"resize it so its shorter side is {spec.resize} pixels (bicubic)",
                f"crop the centre {spec.size} x {spec.size} pixels",
                "scale to 0..1 (divide by 255), subtract mean and divide by std, per channel",
                "channels first: (3, size, size) float32, batched as pixel_values",
            ],
            **spec.to_dict(),
            "resample": "bicubic",
            "image_extensions": sorted(IMAGE_EXTENSIONS),
            "max_pixels": MAX_PIXELS,
        }
        text = json.dumps(preprocessing, indent=2) + "\n"
        (folder / onnx_predict.PREPROCESSING_FILE).write_text(text, encoding="utf-8")
        return {"image_size": spec.size}

    def check(self, folder: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
        paths = [p for p in self.test_column("path") if Path(p).is_file()]
        names = spread(paths, lambda p: Path(p).stat().st_size)
        if names:
            images = [onnx_predict.open_image(p, MAX_PIXELS) for p in names]
            names = [Path(p).name for p in names]
        else:  # the test pictures are gone (an unpacked upload cleaned away): pictures of noise, of several sizes
            rng = np.random.default_rng(0)
            from PIL import Image

            sizes = [(40, 30), (64, 64), (300, 200)]
            images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]
            names = [f"noise {w}x{h}" for w, h in sizes]
        exported = onnx_predict.ImageClassifier(folder)
        return names, self.model.predict_proba(images), exported.predict_proba(images)


GRAPHS: dict[str, type[Graph]] = {"text": TextGraph, "image": ImageGraph}
