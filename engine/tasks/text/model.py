"""Text models: a tokenizer, a transformer backbone (``AutoModel``), a pooling rule and the classifier.

The pooling rule turns the backbone's token outputs into one vector per text: the mean over
tokens for BERT-style encoders (what sentence encoders are trained for), the last real token for
GPT-style decoders.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.utils import logging as hf_logging

from engine.core.errors import ConfigError
from engine.core.policy import TEXTS_TOKENISED_AT_ONCE
from engine.core.resolve import ResolvedModel
from engine.core.strategies import STRATEGIES
from engine.tasks.base import (
    Classifier,
    atomic_folder,
    batched,
    load_error,
    read_model_meta,
    resolve_base,
    safe_adapter,
    write_model_meta,
)

# Per-file "Loading weights" bars would flood the run's log; progress goes to status.json instead.
hf_logging.disable_progress_bar()
# peft calls a transformers method deprecated upstream (is_gradient_checkpointing); nothing a user can act on.
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def load_tokenizer(resolved: ResolvedModel | str):
    from transformers import AutoTokenizer

    path = resolved.path if isinstance(resolved, ResolvedModel) else str(resolved)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        if isinstance(resolved, ResolvedModel):
            raise load_error(resolved, exc) from exc
        raise
    if tokenizer.pad_token is None:
        # GPT-style tokenizers have no padding token; padding is masked out anyway.
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.padding_side = "right"  # pooling assumes real tokens come first
    return tokenizer


def load_backbone(resolved: ResolvedModel, pretrained: bool = True) -> nn.Module:
    """The transformer without a task head; random weights of the same shape when not ``pretrained``."""
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(resolved.path, trust_remote_code=False)
        if pretrained:
            model = AutoModel.from_pretrained(
                resolved.path, config=config, trust_remote_code=False, use_safetensors=True, dtype=torch.float32
            )
        else:
            model = AutoModel.from_config(config, dtype=torch.float32)
    except (OSError, ValueError, KeyError) as exc:
        raise load_error(resolved, exc) from exc
    return model


def pooling_for(config: Any) -> str:
    """Mean over tokens for encoders (what sentence encoders are trained for), last token for decoders."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    return "mean" if config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES else "last"


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    if pooling == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    # "last": right padding, so the last real token sits at length - 1
    last = attention_mask.sum(1).long() - 1
    return hidden[torch.arange(hidden.size(0), device=hidden.device), last.clamp(min=0)]


class TextClassifier(Classifier):
    def __init__(
        self, backbone: nn.Module, num_labels: int, pooling: str, dropout: float = 0.1, normalize: bool = False
    ) -> None:
        super().__init__(backbone, backbone.config.hidden_size, num_labels, dropout, normalize)
        self.pooling = pooling

    def encode(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.backbone(**kwargs).last_hidden_state
        return pool(hidden, attention_mask, self.pooling)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        return self.classify(self.encode(input_ids, attention_mask, token_type_ids), labels)


def transformer_layers(backbone: nn.Module) -> list[nn.Module]:
    """The stack of transformer blocks, bottom first (``encoder.layer`` for BERT, ``layers`` for Llama)."""
    n_layers = getattr(getattr(backbone, "config", None), "num_hidden_layers", None)
    stacks = [m for m in backbone.modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    for stack in stacks:
        if n_layers is None or len(stack) == n_layers:
            return list(stack)
    raise ConfigError("Could not find this model's layer stack; choose the 'lora', 'full' or 'frozen' strategy.")


def batched_texts(
    fn, tokenizer: Any, texts: Sequence[str], max_length: int, on_batch: Callable | None = None, **kw: Any
) -> np.ndarray:
    """``fn`` over tokenised texts in length-sorted batches (little padding), rows in the input order.

    ``TEXTS_TOKENISED_AT_ONCE`` texts are tokenised and sorted at a time, so memory stays bounded on a large
    split (``texts[a:b]`` of texts in Arrow reads just those)."""
    n = len(texts)
    parts = []
    for start in range(0, max(n, 1), TEXTS_TOKENISED_AT_ONCE):
        lot = list(texts[start : start + TEXTS_TOKENISED_AT_ONCE])
        encoded = tokenizer(lot, truncation=True, max_length=max_length) if lot else {"input_ids": []}
        order = sorted(range(len(lot)), key=lambda i, ids=encoded["input_ids"]: len(ids[i]))

        def make_batch(idx: list[int], encoded=encoded) -> dict[str, torch.Tensor]:
            return tokenizer.pad([{k: encoded[k][i] for k in encoded.keys()} for i in idx], return_tensors="pt")

        progress = None if on_batch is None else lambda done, _, start=start: on_batch(start + done, n)
        parts.append(batched(fn, len(lot), make_batch, order, on_batch=progress, **kw))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def predict_proba(
    classifier: TextClassifier, tokenizer: Any, texts: Sequence[str], max_length: int, **kw: Any
) -> np.ndarray:
    classifier.eval()
    return batched_texts(
        lambda b: torch.softmax(classifier(**b).logits.float(), dim=-1), tokenizer, texts, max_length, **kw
    )


def extract_features(
    classifier: TextClassifier, tokenizer: Any, texts: Sequence[str], max_length: int, **kw: Any
) -> np.ndarray:
    classifier.eval()
    return batched_texts(lambda b: classifier.encode(**b), tokenizer, texts, max_length, **kw)


# --- saving and reloading ----------------------------------------------------------------------
def save_classifier(
    classifier: TextClassifier,
    tokenizer: Any,
    model_dir: Path,
    *,
    strategy: str,
    base_model: str,
    base_model_path: str,
    label_names: Sequence[str],
    max_length: int,
    card: str,
) -> None:
    """Write ``model_dir`` atomically: a temp folder first, then renamed into place.

    What the folder holds depends on the strategy (``Strategy.saves``): a reference to the unchanged
    base model (frozen), a peft adapter (LoRA) or the retrained backbone.
    """
    from safetensors.torch import save_file

    weights = STRATEGIES[strategy].saves
    with atomic_folder(Path(model_dir)) as tmp:
        if weights != "base":
            classifier.backbone.save_pretrained(tmp / weights)  # adapter/ (peft) or backbone/ (transformers)
        head_state = {k: v.detach().contiguous().cpu() for k, v in classifier.head.state_dict().items()}
        save_file(head_state, str(tmp / "head.safetensors"))
        tokenizer.save_pretrained(tmp)
        meta = {
            "strategy": strategy,
            "base_model": base_model,
            "base_model_path": base_model_path,
            "backbone_weights": weights,
            "pooling": classifier.pooling,
            "normalize": classifier.normalize,
            "hidden_size": classifier.backbone.config.hidden_size,
            "label_names": list(label_names),
            "max_length": max_length,
        }
        write_model_meta(tmp, "text", meta, card)


def base_backbone(model_dir: Path, meta: dict) -> nn.Module:
    """The pre-trained backbone a frozen or LoRA model runs on, its adapter merged in (LoRA): what the
    model computes, as one plain transformers model (the loader and the self-contained export use it)."""
    adapter = safe_adapter(model_dir) if meta["backbone_weights"] == "adapter" else None
    backbone = load_backbone(resolve_base(meta))
    if adapter:
        from peft import PeftModel

        backbone = PeftModel.from_pretrained(backbone, adapter).merge_and_unload()
    return backbone


def load_classifier(model_dir: str | Path, device: str | torch.device = "cpu") -> tuple[TextClassifier, Any, dict]:
    """Reload a saved text classifier for inference (LoRA adapters merged for speed)."""
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    meta = read_model_meta(model_dir, task="text")
    if meta["backbone_weights"] == "backbone":
        backbone = load_backbone(ResolvedModel(meta["base_model"], str(model_dir / "backbone"), "local"))
    else:
        backbone = base_backbone(model_dir, meta)
    classifier = TextClassifier(
        backbone, len(meta["label_names"]), meta["pooling"], normalize=bool(meta.get("normalize", False))
    )
    classifier.head.load_state_dict(load_file(str(model_dir / "head.safetensors")))
    tokenizer = load_tokenizer(str(model_dir))
    classifier.to(device).eval()
    return classifier, tokenizer, meta
