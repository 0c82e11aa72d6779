"""The image task: what a training run and a saved model need that is particular to pictures."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.core.catalog import find
from engine.core.policy import IMAGE_INFERENCE_BATCH
from engine.core.resolve import ResolvedModel
from engine.core.workspace import fingerprint
from engine.tasks.base import Datasets, LoadedModel, Task, hf_model_type, resolve_base
from engine.tasks.image import runtime
from engine.tasks.image.backbones import ImageClassifier, load_image_backbone
from engine.tasks.image.model import (
    extract_image_features,
    load_image_classifier,
    predict_image_proba,
    save_image_classifier,
)
from engine.tasks.image.preprocess import ImageFiles, ImageSpec, collate, image_spec

USAGE = """With TransferLab (a ZIP or a folder of pictures, any layout):

    python -m engine.predict --run RUN_DIR --data new_images.zip --out predictions.csv

In Python:

    from engine.predict import Predictor
    predictor = Predictor("RUN_DIR/model")
    probs = predictor.predict_proba(["photo.jpg"])

`transferlab.json` records the preprocessing (`image_spec`: shorter side resized to `resize`, centre
crop `size`, then normalised with `mean` and `std`). `backbone.safetensors` (if present) holds the
retrained backbone, `adapter/` (LoRA) a peft adapter on top of the base model, and `head.safetensors`
the linear classifier (`out.weight`, `out.bias`) applied to the backbone's feature vector.

A frozen or LoRA model refers here to the pre-trained model where it lies on this computer. To take it elsewhere,
`python -m engine.export --run RUN_DIR --format zip --out model.zip` writes it self-contained (the pre-trained
weights included), with a model card that shows how to load it with or without TransferLab.
"""


class ImageTask(Task):
    name = "image"
    usage = USAGE

    def __init__(self, config, run, resolved: ResolvedModel, strategy, splits, device) -> None:
        self.config, self.run, self.resolved, self.splits, self.device = config, run, resolved, splits, device
        self.spec = image_spec(resolved, config.image_size)
        backbone = load_image_backbone(resolved, pretrained=strategy.pretrained, image_size=self.spec.size)
        feature_dim = backbone.feature_dim
        backbone = strategy.prepare(backbone, config, self)
        self.classifier = ImageClassifier(backbone, len(splits.label_names), feature_dim)
        self.info = {"image_size": self.spec.size}
        self.notes = []

    @classmethod
    def accepts(cls, resolved: ResolvedModel) -> bool:
        """EfficientNet-Lite0, and models whose config names an image-classification architecture."""
        info = find(resolved.name) if resolved.kind == "package" else None
        if info is not None:
            return info.task == cls.name
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

        return hf_model_type(resolved) in MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

    @staticmethod
    def layer_stack(backbone) -> list:
        return backbone.layer_stack()

    @staticmethod
    def lora_targets(backbone) -> list[str]:
        return backbone.lora_targets()

    def feature_key(self, part) -> str:
        h = hashlib.sha256()
        for piece in (fingerprint(self.resolved.path), repr(sorted(self.spec.to_dict().items()))):
            h.update(piece.encode() + b"\0")
        for p in part.paths:
            st = os.stat(p)
            h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode() + b"\0")
        return f"image-{h.hexdigest()}"

    def extract_features(self, part, on_batch: Callable[[int, int], None] | None = None) -> np.ndarray:
        """The frozen backbone's features, through onnxruntime on the CPU (its graph cached per base model)."""
        runner = None
        if runtime.enabled(self.device.kind):
            key = runtime.graph_key("features", fingerprint(self.resolved.path), self.spec.size)
            runner = runtime.onnx_runner(self.classifier.backbone, self.spec.size, key)
        return extract_image_features(
            self.classifier, part.paths, self.spec, runner=runner, **self._inference(), on_batch=on_batch
        )

    def datasets(self) -> Datasets:
        train, val = self.splits.train, self.splits.validation
        return Datasets(
            train=ImageFiles(train.paths, train.labels, self.spec, augment=self.config.augment, seed=self.config.seed),
            validation=ImageFiles(val.paths, val.labels, self.spec, augment=False),
            collator=collate,
            processing_class=None,
            sampling="random",
        )

    def predict_proba(self, part) -> np.ndarray:
        return predict_image_proba(self.classifier, part.paths, self.spec, **self._inference())

    def save(self, model_dir: Path, label_names: list[str], card: str) -> None:
        save_image_classifier(
            self.classifier,
            model_dir,
            strategy=self.config.strategy,
            base_model=self.config.model,
            base_model_path=self.resolved.path,
            label_names=label_names,
            spec=self.spec,
            card=card,
        )

    @staticmethod
    def example_columns(part) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
        # The picture's name in the upload first; where it is on disk last (the Results gallery shows it).
        return {"file": part.files}, {"path": list(part.paths)}

    @staticmethod
    def load(model_dir: Path, device: str | torch.device = "cpu", precision: str = "fp32") -> ImageModel:
        return ImageModel(model_dir, device, precision)

    def _inference(self) -> dict[str, Any]:
        return {"device": self.device.kind, "precision": self.device.precision}


class ImageModel(LoadedModel):
    """A saved image classifier, loaded for prediction."""

    def __init__(self, model_dir: Path, device: str | torch.device = "cpu", precision: str = "fp32") -> None:
        self.model_dir = Path(model_dir)
        self.classifier, self.meta = load_image_classifier(model_dir, device)
        self.label_names = list(self.meta["label_names"])
        self.spec = ImageSpec.from_dict(self.meta["image_spec"])
        self.device, self.precision = device, precision
        self._runner: runtime.Runner | None = None
        self._build_failed = False

    def predict_proba(self, inputs: Sequence[Any], batch_size: int | None = None) -> np.ndarray:
        """Image paths or PIL images."""
        inputs = list(inputs)
        return predict_image_proba(
            self.classifier,
            inputs,
            self.spec,
            runner=self.onnx_runner(len(inputs)),
            batch_size=batch_size or IMAGE_INFERENCE_BATCH,
            device=self.device,
            precision=self.precision,
        )

    def onnx_runner(self, pictures: int) -> runtime.Runner | None:
        """onnxruntime for this model on the CPU: a frozen model's backbone graph (the one its training made) with
        the head in torch; a retrained model's whole graph, made once it is asked for enough pictures to pay
        for the export (:data:`runtime.BUILD_FOR_PICTURES`) and kept in the cache for later calls."""
        if self._runner is not None or not runtime.enabled(self.device):
            return self._runner
        build = pictures >= runtime.BUILD_FOR_PICTURES and not self._build_failed
        size, classifier = self.spec.size, self.classifier
        if self.meta["backbone_weights"] == "base":
            key = runtime.graph_key("features", fingerprint(resolve_base(self.meta).path), size)
            features = runtime.onnx_runner(classifier.backbone, size, key, build=build)
            if features is not None:
                self._runner = lambda x: torch.softmax(classifier.classify(features(x)).logits.float(), -1)
        else:
            adapter = self.model_dir / "adapter"
            weights = [fingerprint(self.model_dir)] + ([fingerprint(adapter)] if adapter.is_dir() else [])
            key = runtime.graph_key("probabilities", *weights, size)
            from engine.export.onnx_tasks import ImageProbabilities

            self._runner = runtime.onnx_runner(ImageProbabilities(classifier), size, key, build=build)
        self._build_failed = build and self._runner is None
        return self._runner
