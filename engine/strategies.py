"""Transfer strategies: how much of the pre-trained model is retrained.

A small registry with one contract. Each strategy is a :class:`Strategy` whose ``prepare``
takes the backbone (the pre-trained model without its task head) and the run's config and
returns the backbone ready to train: parameters frozen, or wrapped with LoRA. The
classification head on top is always trained in full. Adding a strategy touches only this
file. The metadata (title, plain-words explanation, defaults) is torch-free so the pages can
show it; ``prepare`` functions import torch/peft when called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


@dataclass(frozen=True)
class Strategy:
    name: str
    title: str
    explanation: str  # plain words: what is frozen, what is retrained, when to choose it
    default_epochs: int
    default_learning_rate: float
    pretrained: bool  # start from the pre-trained weights (False: random weights of the same shape)
    cached_features: bool  # the backbone never changes, so its outputs can be computed once
    prepare: Callable[[Any, Any], Any]
    # Image models (CNNs with batch norm) want a larger step than transformers fine-tuned on text.
    image_learning_rate: float | None = None

    def learning_rate(self, task: str = "text") -> float:
        if task == "image" and self.image_learning_rate is not None:
            return self.image_learning_rate
        return self.default_learning_rate


STRATEGIES: dict[str, Strategy] = {}


def register(
    name: str,
    *,
    title: str,
    explanation: str,
    default_epochs: int,
    default_learning_rate: float,
    pretrained: bool = True,
    cached_features: bool = False,
    image_learning_rate: float | None = None,
) -> Callable[[Callable[[Any, Any], Any]], Callable[[Any, Any], Any]]:
    def decorator(prepare: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        STRATEGIES[name] = Strategy(
            name,
            title,
            explanation,
            default_epochs,
            default_learning_rate,
            pretrained,
            cached_features,
            prepare,
            image_learning_rate,
        )
        return prepare

    return decorator


@register(
    "frozen",
    title="Frozen feature extraction",
    explanation="The pre-trained model is not changed; it turns each example into features once, and only "
    "a small classifier on top learns. Fastest and safest with little data or no GPU.",
    default_epochs=20,
    default_learning_rate=3e-3,
    cached_features=True,
)
def _frozen(backbone: nn.Module, config: Any) -> nn.Module:
    backbone.requires_grad_(False)
    return backbone


@register(
    "partial",
    title="Freeze the bottom layers",
    explanation="The bottom layers (general knowledge: word meanings in text, edges and textures in "
    "pictures) stay frozen; the top layers and the classifier are retrained. A middle ground when you have "
    "a few thousand examples.",
    default_epochs=3,
    default_learning_rate=1e-4,
    image_learning_rate=1e-3,
)
def _partial(backbone: nn.Module, config: Any) -> nn.Module:
    layers = backbone.layer_stack() if hasattr(backbone, "layer_stack") else transformer_layers(backbone)
    n_frozen = len(layers) // 2 if config.freeze_layers is None else config.freeze_layers
    if n_frozen > len(layers):
        from engine.errors import ConfigError

        raise ConfigError(
            f"freeze_layers is {n_frozen} but this model has only {len(layers)} layers; "
            f"choose a number from 0 to {len(layers)}."
        )
    layer_ids = {id(p): i for i, layer in enumerate(layers) for p in layer.parameters()}
    last_layer_param = max((i for i, p in enumerate(backbone.parameters()) if id(p) in layer_ids), default=-1)
    for i, param in enumerate(backbone.parameters()):
        if id(param) in layer_ids:
            param.requires_grad_(layer_ids[id(param)] >= n_frozen)
        else:
            # Before the layer stack: embeddings (frozen). After it: final norm/pooler (trained).
            param.requires_grad_(i > last_layer_param)
    return backbone


@register(
    "lora",
    title="LoRA (low-rank adapters)",
    explanation="The pre-trained weights stay frozen; small low-rank 'adapter' matrices are added to the "
    "attention layers (the convolutions of a CNN) and trained with the classifier. Close to full fine-tuning quality at a fraction "
    "of the trainable parameters and memory.",
    default_epochs=3,
    default_learning_rate=1e-3,
    image_learning_rate=2e-3,
)
def _lora(backbone: nn.Module, config: Any) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=backbone.lora_targets() if hasattr(backbone, "lora_targets") else lora_target_modules(backbone),
        bias="none",
    )
    return get_peft_model(backbone, lora)


@register(
    "full",
    title="Full fine-tuning",
    explanation="Every weight of the pre-trained model is retrained together with the classifier. Usually "
    "the most accurate with enough data, and the slowest and most memory-hungry.",
    default_epochs=3,
    default_learning_rate=5e-5,
    image_learning_rate=3e-4,
)
def _full(backbone: nn.Module, config: Any) -> nn.Module:
    backbone.requires_grad_(True)
    return backbone


@register(
    "scratch",
    title="Train from scratch (baseline)",
    explanation="The same architecture with random weights, trained in full: no transfer at all. Use it "
    "to see what the pre-trained knowledge bought you.",
    default_epochs=3,
    default_learning_rate=1e-4,
    pretrained=False,
    image_learning_rate=1e-3,
)
def _scratch(backbone: nn.Module, config: Any) -> nn.Module:
    backbone.requires_grad_(True)
    return backbone


# Attention projections to adapt, by architecture. peft's own table covers the rest.
_LORA_TARGETS = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"],
    "electra": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
    "deberta-v2": ["query_proj", "value_proj"],
    "llama": ["q_proj", "v_proj"],
    "mistral": ["q_proj", "v_proj"],
    "qwen2": ["q_proj", "v_proj"],
    "gemma": ["q_proj", "v_proj"],
    "gpt2": ["c_attn"],
}


def lora_target_modules(backbone: nn.Module) -> list[str]:
    model_type = getattr(getattr(backbone, "config", None), "model_type", None)
    if model_type in _LORA_TARGETS:
        return _LORA_TARGETS[model_type]
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

    if model_type in TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING:
        return list(TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING[model_type])
    from engine.errors import ConfigError

    raise ConfigError(
        f"TransferLab does not know which layers of a '{model_type}' model LoRA should adapt. "
        "Choose the 'partial' or 'full' strategy for this model."
    )


def transformer_layers(backbone: nn.Module) -> list[nn.Module]:
    """The stack of transformer blocks, bottom first (``encoder.layer`` for BERT, ``layers`` for Llama)."""
    from torch import nn

    n_layers = getattr(getattr(backbone, "config", None), "num_hidden_layers", None)
    stacks = [m for m in backbone.modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    for stack in stacks:
        if n_layers is None or len(stack) == n_layers:
            return list(stack)
    from engine.errors import ConfigError

    raise ConfigError("Could not find this model's layer stack; choose the 'lora', 'full' or 'frozen' strategy.")
