"""Transfer strategies: how much of the pre-trained model is retrained, and every rule that follows.

A small registry with one contract. Each :class:`Strategy` holds its plain-words explanation and
defaults (shown on the Model page), what it trains and saves, the numbers the estimate needs
(which parameters train, what a training step costs relative to a forward pass), and ``prepare``,
which takes the backbone (the pre-trained model without its task head) and returns it ready to
train: parameters frozen, or wrapped with LoRA. The classification head on top always trains.

Adding a strategy touches only this file: the estimate (``engine.estimate``), training
(``engine.training``), saving (``engine.tasks``) and the pages read everything from here.
Torch-free at import: ``prepare`` functions import torch/peft when called.

>>> STRATEGIES["lora"].learning_rate("image")
0.002
>>> frozen_layer_count(None, 6)
3
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from engine.core.errors import ConfigError
from engine.core.policy import FEW_SHOT_MAX_PER_CLASS

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


class Structure(Protocol):
    """What a task knows about its backbones' insides (see ``engine.tasks``)."""

    def layer_stack(self, backbone: Any) -> list[Any]:
        """The stack of blocks, bottom first: what ``partial`` freezes the lower part of."""

    def lora_targets(self, backbone: Any) -> list[str]:
        """Names of the modules LoRA adapts."""


@dataclass(frozen=True)
class ParamCounts:
    """A backbone's parameters by part, as the estimate reads them (without loading the model).

    ``before`` the block stack (embeddings, a CNN's stem), each block of the stack, ``after`` it
    (final norm, pooler), ``head`` (our classifier) and ``lora_per_rank`` (what LoRA adds per unit
    of rank on its target modules).
    """

    before: int
    blocks: Sequence[int]
    after: int
    head: int
    lora_per_rank: int

    @property
    def backbone(self) -> int:
        return self.before + sum(self.blocks) + self.after


@dataclass(frozen=True)
class Strategy:
    name: str
    title: str
    explanation: str  # plain words: what is frozen, what is retrained, when to choose it
    default_epochs: int
    learning_rates: dict[str, float]  # by task: CNNs with batch norm want a larger step than text transformers
    trains: str  # "head", "top" (blocks above the frozen ones), "adapters" or "all"
    saves: str  # what the model folder holds: "base" (a reference), "adapter" or "backbone"
    pretrained: bool  # start from the pre-trained weights (False: random weights of the same shape)
    cached_features: bool  # the backbone never changes, so its outputs can be computed once
    # How it trains (engine.training.recipes): "features" (backbone fixed, head fitted on its features),
    # "finetune" (backbone and head trained together on the labels) or "contrastive" (backbone trained
    # on pairs of examples, then the head fitted).
    recipe: str = "finetune"
    tasks: tuple[str, ...] = ("text", "image")  # the kinds of data it applies to
    # Cost of the backward pass relative to a forward pass through the part that trains, by task
    # (estimate). Weight and input gradients cost 2 forwards; LoRA needs input gradients only.
    backward_cost: dict[str, float] = field(default_factory=dict)
    prepare: Callable[..., Any] = field(default=lambda backbone, config, structure: backbone, repr=False)

    @property
    def uses_optimizer(self) -> bool:
        """Whether epochs, learning rate and batch size apply: the features recipe solves its head exactly."""
        return self.recipe != "features"

    @property
    def uses_validation(self) -> bool:
        """Whether it chooses among models by a validation split (fine-tuning keeps its best evaluation);
        the others choose their settings by cross-validation and learn from every example."""
        return self.recipe == "finetune"

    @property
    def default_learning_rate(self) -> float:
        return self.learning_rates["text"]

    def learning_rate(self, task: str = "text") -> float:
        return self.learning_rates.get(task, self.learning_rates["text"])

    def trainable_params(self, counts: ParamCounts, config: Any) -> tuple[int, int]:
        """(trainable, total) parameters of the classifier this strategy builds."""
        total = counts.backbone + counts.head
        if self.trains == "head":
            return counts.head, total
        if self.trains == "adapters":
            adapters = config.lora_r * counts.lora_per_rank
            return adapters + counts.head, total + adapters
        if self.trains == "top":
            n_frozen = frozen_layer_count(config.freeze_layers, len(counts.blocks))
            return sum(counts.blocks[n_frozen:]) + counts.after + counts.head, total
        return total, total

    def trained_share(self, config: Any, block_costs: Sequence[float], outside_cost: float = 0.0) -> float:
        """Share of a forward pass's cost that the backward pass runs through: 1, except for partial,
        where it stops at the frozen blocks (``outside_cost``: the stem and head around the stack,
        counted half frozen when any block is)."""
        if self.trains != "top":
            return 1.0
        n_frozen = frozen_layer_count(config.freeze_layers, len(block_costs))
        frozen = sum(block_costs[:n_frozen]) + outside_cost * (n_frozen > 0) / 2
        return 1 - frozen / max(sum(block_costs) + outside_cost, 1e-9)


STRATEGIES: dict[str, Strategy] = {}


def strategies_for(task: str) -> list[str]:
    """The strategies that apply to a kind of data, in the registry's order."""
    return [name for name, s in STRATEGIES.items() if task in s.tasks]


def register(name: str, **spec: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorator(prepare: Callable[..., Any]) -> Callable[..., Any]:
        STRATEGIES[name] = Strategy(name=name, prepare=prepare, **spec)
        return prepare

    return decorator


# --- partial: how many bottom layers to freeze ----------------------------------------------------
def frozen_layer_count(freeze_layers: int | None, n_layers: int, what: str = "layers") -> int:
    """The bottom layers ``partial`` freezes: half by default, else the user's number (checked)."""
    n_frozen = n_layers // 2 if freeze_layers is None else freeze_layers
    if n_frozen > n_layers:
        raise ConfigError(
            f"freeze_layers is {n_frozen} but this model has only {n_layers} {what}; "
            f"choose a number from 0 to {n_layers}."
        )
    return n_frozen


# --- LoRA: which modules to adapt -----------------------------------------------------------------
# Attention projections to adapt, by architecture; peft's own table covers the rest.
LORA_TARGETS = {
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
_PEFT_TABLE = "TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING"


@functools.lru_cache(maxsize=1)
def peft_lora_targets() -> dict[str, list[str]]:
    """peft's own table of LoRA targets by model type, read from its source without importing peft
    (which imports torch), so the dashboard's estimate and training use the same table."""
    spec = importlib.util.find_spec("peft")
    if spec is None or not spec.submodule_search_locations:
        return {}
    source = Path(next(iter(spec.submodule_search_locations))) / "utils" / "constants.py"
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == _PEFT_TABLE for t in node.targets):
            try:
                table = ast.literal_eval(node.value)
            except ValueError:
                return {}
            return {str(k): list(v) for k, v in table.items()}
    return {}


def lora_targets(model_type: str, module_names: Sequence[str] = ()) -> list[str]:
    """The modules LoRA adapts in a transformer of ``model_type``: our table, then peft's, then the
    usual attention projection names when ``module_names`` (dotted module or tensor names) has them.

    >>> lora_targets("bert")
    ['query', 'value']
    >>> lora_targets("mystery", ["layers.0.attn.q_proj", "layers.0.attn.v_proj"])
    ['q_proj', 'v_proj']
    """
    if model_type in LORA_TARGETS:
        return LORA_TARGETS[model_type]
    peft_table = peft_lora_targets()
    if model_type in peft_table:
        return peft_table[model_type]
    leaves = {part for name in module_names for part in name.split(".")}
    for targets in (["q_proj", "v_proj"], ["query", "value"]):
        if set(targets) <= leaves:
            return targets
    raise ConfigError(
        f"TransferLab does not know which layers of a '{model_type}' model LoRA should adapt. "
        "Choose the 'partial' or 'full' strategy for this model."
    )


# --- the five strategies ----------------------------------------------------------------------------
@register(
    "frozen",
    title="Frozen feature extraction",
    explanation="The pre-trained model is not changed; it turns each example into features once, and only "
    "a small classifier on top learns. Fastest and safest with little data or no GPU.",
    default_epochs=1,  # the head is fitted to convergence, not trained for epochs
    learning_rates={"text": 3e-3, "image": 3e-3},
    trains="head",
    saves="base",
    pretrained=True,
    cached_features=True,
    recipe="features",
    backward_cost={"text": 0.0, "image": 0.0},
)
def _frozen(backbone: nn.Module, config: Any, structure: Structure) -> nn.Module:
    backbone.requires_grad_(False)
    return backbone


@register(
    "partial",
    title="Freeze the bottom layers",
    explanation="The bottom layers (general knowledge: word meanings in text, edges and textures in "
    "pictures) stay frozen; the top layers and the classifier are retrained. A middle ground: it adapts the "
    "model to your data at a fraction of full fine-tuning's cost (for pictures it beat the frozen model from 5 "
    "pictures a class on, in our measurements).",
    default_epochs=3,
    learning_rates={"text": 1e-4, "image": 1e-3},
    trains="top",
    saves="backbone",
    pretrained=True,
    cached_features=False,
    backward_cost={"text": 2.0, "image": 2.0},
)
def _partial(backbone: nn.Module, config: Any, structure: Structure) -> nn.Module:
    layers = structure.layer_stack(backbone)
    n_frozen = frozen_layer_count(config.freeze_layers, len(layers))
    layer_ids = {id(p): i for i, layer in enumerate(layers) for p in layer.parameters()}
    last_layer_param = max((i for i, p in enumerate(backbone.parameters()) if id(p) in layer_ids), default=-1)
    for i, param in enumerate(backbone.parameters()):
        if id(param) in layer_ids:
            param.requires_grad_(layer_ids[id(param)] >= n_frozen)
        else:
            # Before the layer stack: embeddings or a stem (frozen). After it: final norm/pooler (trained).
            param.requires_grad_(i > last_layer_param)
    return backbone


@register(
    "lora",
    title="LoRA (low-rank adapters)",
    explanation="The pre-trained weights stay frozen; small low-rank 'adapter' matrices are added to the "
    "attention layers (the convolutions of a CNN) and trained with the classifier. Close to full fine-tuning "
    "quality at a fraction of the trainable parameters and memory.",
    default_epochs=3,
    learning_rates={"text": 1e-3, "image": 2e-3},
    trains="adapters",
    saves="adapter",
    pretrained=True,
    cached_features=False,
    # Text: input gradients only (1 forward). A CNN's adapters run as two extra convolutions on the
    # layer's full-resolution input: measured 3.4 forwards per step in all on EfficientNet-Lite0.
    # LoRA on convolutions: the adapters' extra convolutions cost more than their FLOPs (measured 90 s against
    # full fine-tuning's 74 s on the Fashion demo).
    backward_cost={"text": 1.0, "image": 3.5},
)
def _lora(backbone: nn.Module, config: Any, structure: Structure) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=structure.lora_targets(backbone),
        bias="none",
    )
    return get_peft_model(backbone, lora)


@register(
    "full",
    title="Full fine-tuning",
    explanation="Every weight of the pre-trained model is retrained together with the classifier. Usually "
    "the most accurate with enough data, and the slowest and most memory-hungry.",
    default_epochs=3,
    learning_rates={"text": 5e-5, "image": 3e-4},
    trains="all",
    saves="backbone",
    pretrained=True,
    cached_features=False,
    backward_cost={"text": 2.0, "image": 2.0},
)
def _full(backbone: nn.Module, config: Any, structure: Structure) -> nn.Module:
    backbone.requires_grad_(True)
    return backbone


@register(
    "scratch",
    title="Train from scratch (baseline)",
    explanation="The same architecture with random weights, trained in full: no transfer at all. Use it "
    "to see what the pre-trained knowledge bought you.",
    default_epochs=3,
    learning_rates={"text": 1e-4, "image": 1e-3},
    trains="all",
    saves="backbone",
    pretrained=False,
    cached_features=False,
    backward_cost={"text": 2.0, "image": 2.0},
)
def _scratch(backbone: nn.Module, config: Any, structure: Structure) -> nn.Module:
    backbone.requires_grad_(True)
    return backbone


@register(
    "setfit",
    title="Few-shot: learn from pairs (SetFit)",
    explanation="For a few dozen examples per class. The model first learns from pairs of your examples which "
    "ones belong together (same label) and which do not, which reshapes its sense of similarity for your "
    "task; then a small classifier is fitted on top. Usually the most accurate choice up to about "
    f"{FEW_SHOT_MAX_PER_CLASS} examples per class.",
    # Measured on movie-review snippets (bench/fewshot.py, README "Few examples"): 15 passes at 5e-5.
    default_epochs=15,
    learning_rates={"text": 5e-5},
    trains="all",
    saves="backbone",
    pretrained=True,
    cached_features=False,
    recipe="contrastive",
    tasks=("text",),
    backward_cost={"text": 2.0},
)
def _setfit(backbone: nn.Module, config: Any, structure: Structure) -> nn.Module:
    backbone.requires_grad_(True)
    return backbone
