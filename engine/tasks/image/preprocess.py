"""How a model wants its pictures, and pictures turned into tensors (with light augmentation).

Pictures are prepared the way the model's image processor prepares them (resize the shorter side,
centre crop, scale to 0..1, normalise); training adds light augmentation (random resized crop and
horizontal flip) when the config asks for it.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.core.resolve import ResolvedModel
from engine.data.images import open_image

EFFICIENTNET_LITE0 = "efficientnet-lite0"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ImageSpec:
    """How a model wants its pictures: shorter side resized to ``resize``, centre crop ``size``."""

    size: int
    resize: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageSpec:
        return cls(int(d["size"]), int(d["resize"]), tuple(d["mean"]), tuple(d["std"]))


def _side(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        for key in ("shortest_edge", "height", "width"):
            if isinstance(value.get(key), int):
                return value[key]
    return None


def image_spec(resolved: ResolvedModel, size: int | None = None) -> ImageSpec:
    """The preprocessing a model expects, read from its image processor's config.

    ``size`` overrides the input size (smaller is faster on a CPU; the resize keeps the model's
    crop ratio).
    """
    if resolved.kind == "package" and resolved.name == EFFICIENTNET_LITE0:
        crop, resize, mean, std = 224, 256, IMAGENET_MEAN, IMAGENET_STD
    else:
        processor = _hf_processor_config(resolved)
        resize_side = _side(processor.get("size"))
        crop_side = _side(processor.get("crop_size")) if processor.get("do_center_crop", True) else None
        crop = crop_side or resize_side or 224
        if processor.get("crop_pct"):
            resize = int(round(crop / float(processor["crop_pct"])))
        else:
            resize = resize_side if resize_side and resize_side >= crop else crop
        if processor.get("do_normalize", True):
            mean = tuple(processor.get("image_mean") or IMAGENET_MEAN)
            std = tuple(processor.get("image_std") or IMAGENET_STD)
        else:
            mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if size is not None:
        resize, crop = int(round(size * resize / crop)), size
    return ImageSpec(int(crop), int(resize), tuple(map(float, mean)), tuple(map(float, std)))


def _hf_processor_config(resolved: ResolvedModel) -> dict[str, Any]:
    """``preprocessor_config.json`` of a local folder or a hub model (empty when it has none)."""
    folder = Path(resolved.path)
    if folder.is_dir():
        path = folder / "preprocessor_config.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    try:
        from huggingface_hub import hf_hub_download

        return json.loads(Path(hf_hub_download(resolved.path, "preprocessor_config.json")).read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - no processor config: fall back to 224 and ImageNet statistics
        return {}


def _resize_shorter(image, side: int):
    from PIL import Image

    w, h = image.size
    scale = side / min(w, h)
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)


def crop_box(width: int, height: int, spec: ImageSpec) -> tuple[float, float, float, float]:
    """The part of a ``width`` x ``height`` picture that :func:`preprocess` shows the model (without
    augmentation): ``(left, top, right, bottom)`` in the picture's pixels."""
    scale = spec.resize / min(width, height)
    resized_w, resized_h = max(1, round(width * scale)), max(1, round(height * scale))
    left, top = (resized_w - spec.size) // 2, (resized_h - spec.size) // 2
    return left / scale, top / scale, (left + spec.size) / scale, (top + spec.size) / scale


def _center_crop(image, size: int):
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


def _random_resized_crop(image, size: int, rng: random.Random, scale=(0.6, 1.0), ratio=(3 / 4, 4 / 3)):
    from PIL import Image

    w, h = image.size
    for _ in range(10):
        area = w * h * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
            return image.resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + cw, top + ch))
    return _center_crop(_resize_shorter(image, size), size)


def to_tensor(image, spec: ImageSpec) -> torch.Tensor:
    array = np.asarray(image, dtype=np.float32) / 255.0
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    return torch.from_numpy(((array - mean) / std).transpose(2, 0, 1).copy())


def preprocess(image, spec: ImageSpec, augment: bool = False, rng: random.Random | None = None) -> torch.Tensor:
    """A PIL RGB image as the model's input tensor ``(3, size, size)``."""
    if augment:
        rng = rng or random.Random()
        image = _random_resized_crop(image, spec.size, rng)
        if rng.random() < 0.5:
            image = image.transpose(0)  # Image.Transpose.FLIP_LEFT_RIGHT
    else:
        image = _center_crop(_resize_shorter(image, spec.resize), spec.size)
    return to_tensor(image, spec)


class ImageFiles(torch.utils.data.Dataset):
    """Image files with labels, opened and prepared when a batch asks for them (what Trainer expects)."""

    def __init__(
        self, paths: Sequence[str], labels: Sequence[int] | None, spec: ImageSpec, augment: bool = False, seed: int = 0
    ) -> None:
        self.paths, self.labels, self.spec, self.augment = list(paths), labels, spec, augment
        self._rng = random.Random(seed)  # with the seeded batch order: the same crops and flips every run

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pixel_values": preprocess(open_image(self.paths[i]), self.spec, self.augment, self._rng)
        }
        if self.labels is not None:
            item["labels"] = int(self.labels[i])
        return item


def collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    batch = {"pixel_values": torch.stack([it["pixel_values"] for it in items])}
    if "labels" in items[0]:
        batch["labels"] = torch.tensor([it["labels"] for it in items], dtype=torch.long)
    return batch
