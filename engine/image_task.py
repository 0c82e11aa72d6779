"""What is particular to pictures in a training run: the image model, its preprocessing, image
batches, cached frozen features and the test predictions. ``engine.train._train`` drives it the
same way it drives ``engine.train.TextJob``.
"""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

from engine.config import TrainConfig
from engine.errors import ConfigError
from engine.rundir import RunDir


def image_model_error(model: str) -> ConfigError:
    return ConfigError(
        f"'{model}' is a text model, but the training data are pictures. Choose an image model: "
        "efficientnet-lite0 (works offline) or a Hugging Face image-classification model such as microsoft/resnet-50."
    )


class ImageJob:
    task = "image"

    def __init__(self, config: TrainConfig, run: RunDir, resolved, strategy, splits, device) -> None:
        from engine.vision import ImageClassifier, image_spec, is_image_model, load_image_backbone

        if not is_image_model(resolved):
            raise image_model_error(config.model)
        self.config, self.run, self.resolved, self.splits, self.device = config, run, resolved, splits, device
        self.spec = image_spec(resolved, config.image_size)
        backbone = load_image_backbone(resolved, pretrained=strategy.pretrained, image_size=self.spec.size)
        feature_dim = backbone.feature_dim
        backbone = strategy.prepare(backbone, config)
        self.classifier = ImageClassifier(backbone, len(splits.label_names), feature_dim)
        self.info = {"image_size": self.spec.size}

    # --- frozen: features once per image, cached on disk --------------------------------------
    def _cache_key(self, paths: list[str]) -> str:
        from engine.workspace import fingerprint

        h = hashlib.sha256()
        for part in (fingerprint(self.resolved.path), repr(sorted(self.spec.to_dict().items()))):
            h.update(part.encode() + b"\0")
        for p in paths:
            st = os.stat(p)
            h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode() + b"\0")
        return h.hexdigest()

    def frozen_features(self) -> dict:
        from engine.train import cached_array, features_of_splits
        from engine.vision import extract_image_features

        def features(part, on_batch):
            return cached_array(
                f"image-{self._cache_key(part.paths)}",
                lambda: extract_image_features(
                    self.classifier,
                    part.paths,
                    self.spec,
                    device=self.device.kind,
                    precision=self.device.precision,
                    on_batch=on_batch,
                ),
            )

        return features_of_splits(self.run, self.splits, features)

    # --- fine-tuning: images opened and augmented batch by batch ---------------------------------
    def datasets(self):
        from engine.vision import ImageFiles, collate

        train, val = self.splits.train, self.splits.validation
        train_ds = ImageFiles(train.paths, train.labels, self.spec, augment=self.config.augment, seed=self.config.seed)
        eval_ds = ImageFiles(val.paths, val.labels, self.spec, augment=False)
        return train_ds, eval_ds, collate, None, "random"

    def predict_test(self):
        from engine.vision import predict_image_proba

        return predict_image_proba(
            self.classifier, self.splits.test.paths, self.spec, device=self.device.kind, precision=self.device.precision
        )

    def save(self, label_names: list[str], card: str) -> None:
        from engine.vision import save_image_classifier

        save_image_classifier(
            self.classifier,
            self.run.model_dir,
            strategy=self.config.strategy,
            base_model=self.config.model,
            base_model_path=self.resolved.path,
            label_names=label_names,
            spec=self.spec,
            card=card,
        )

    def write_predictions(self, probs, label_names: list[str]) -> None:
        write_image_predictions(self.run.predictions_path, self.splits.test, probs, label_names)


def write_image_predictions(path: Path, test, probs, label_names: list[str]) -> None:
    """predictions.csv: one row per test picture (its name in the upload and where it is on disk)."""
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "true_label", "predicted_label", "confidence", "correct", "path"])
        for name, file, y, row in zip(test.files, test.paths, test.labels, probs, strict=True):
            p = int(row.argmax())
            writer.writerow([name, label_names[y], label_names[p], f"{row[p]:.6f}", y == p, file])
    os.replace(tmp, path)
