"""Loading foundation models and the text classifier built on them.

A classifier is a pre-trained *backbone* (``AutoModel``: the transformer without a task head),
a pooling rule that turns its token outputs into one vector per text (the mean over tokens for
BERT-style encoders, the last real token for GPT-style decoders), and a linear *head*.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.utils import logging as hf_logging

from engine.errors import ModelNotAvailableError
from engine.resolve import ResolvedModel, not_available, resolve_model

# Per-file "Loading weights" bars would flood the run's log; progress goes to status.json instead.
hf_logging.disable_progress_bar()
# peft calls a transformers method deprecated upstream (is_gradient_checkpointing); nothing a user can act on.
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

MODEL_FORMAT = "transferlab-text-classifier"
MODEL_FORMAT_VERSION = 1


def _load_error(resolved: ResolvedModel, exc: Exception) -> ModelNotAvailableError:
    text = str(exc)
    if "safetensors" in text.lower() or "model.safetensors" in text:
        why = (
            "it has no safetensors weights. TransferLab only loads safetensors files, which cannot run "
            "code when opened; convert the model or pick another one."
        )
    else:
        why = f"loading it failed ({text.splitlines()[0] if text else type(exc).__name__})."
    return not_available(resolved.name, why)


def load_tokenizer(resolved: ResolvedModel | str):
    from transformers import AutoTokenizer

    path = resolved.path if isinstance(resolved, ResolvedModel) else str(resolved)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        if isinstance(resolved, ResolvedModel):
            raise _load_error(resolved, exc) from exc
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
        raise _load_error(resolved, exc) from exc
    return model


def pooling_for(config: Any) -> str:
    """Mean over tokens for encoders (what sentence encoders are trained for), last token for decoders."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    return "mean" if config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES else "last"


# --- the classifier -----------------------------------------------------------------------
class ClassifierHead(nn.Module):
    """Dropout and a linear layer on pooled features; trained in full by every strategy."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> SequenceClassifierOutput:
        logits = self.out(self.dropout(features))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    if pooling == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    # "last": right padding, so the last real token sits at length - 1
    last = attention_mask.sum(1).long() - 1
    return hidden[torch.arange(hidden.size(0), device=hidden.device), last.clamp(min=0)]


class TextClassifier(nn.Module):
    def __init__(self, backbone: nn.Module, num_labels: int, pooling: str, dropout: float = 0.1) -> None:
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling
        self.head = ClassifierHead(backbone.config.hidden_size, num_labels, dropout)

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
        return self.head(self.encode(input_ids, attention_mask, token_type_ids), labels)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total), counting each shared tensor once."""
    seen: dict[int, nn.Parameter] = {}
    for p in model.parameters():
        seen.setdefault(id(p), p)
    total = sum(p.numel() for p in seen.values())
    trainable = sum(p.numel() for p in seen.values() if p.requires_grad)
    return trainable, total


# --- batched inference ------------------------------------------------------------------------
def batched_forward(
    fn: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    tokenizer: Any,
    texts: Sequence[str],
    max_length: int,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    on_batch: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Run ``fn`` over ``texts`` in length-sorted batches (little padding), in the input order.

    ``on_batch(done, total)`` is called after each batch: progress reports, and a place to stop
    early by raising.
    """
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    n = len(texts)
    order = sorted(range(n), key=lambda i: len(encoded["input_ids"][i]))
    outputs: list[np.ndarray] = [None] * n  # type: ignore[list-item]
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    device = torch.device(device)
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            batch = tokenizer.pad([{k: encoded[k][i] for k in encoded.keys()} for i in idx], return_tensors="pt")
            batch = {k: v.to(device) for k, v in batch.items()}
            if dtype is not None and device.type == "cuda":
                with torch.autocast("cuda", dtype=dtype):
                    out = fn(batch)
            else:
                out = fn(batch)
            out = out.float().cpu().numpy()
            for j, i in enumerate(idx):
                outputs[i] = out[j]
            if on_batch is not None:
                on_batch(min(start + batch_size, n), n)
    if n == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack(outputs)


def predict_proba(
    classifier: TextClassifier, tokenizer: Any, texts: Sequence[str], max_length: int, **kw: Any
) -> np.ndarray:
    classifier.eval()
    return batched_forward(
        lambda b: torch.softmax(classifier(**b).logits.float(), dim=-1), tokenizer, texts, max_length, **kw
    )


def extract_features(
    classifier: TextClassifier, tokenizer: Any, texts: Sequence[str], max_length: int, **kw: Any
) -> np.ndarray:
    classifier.eval()
    return batched_forward(lambda b: classifier.encode(**b), tokenizer, texts, max_length, **kw)


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
    """Write ``model_dir`` atomically: a temp folder first, then renamed into place."""
    from peft import PeftModel
    from safetensors.torch import save_file

    with atomic_folder(Path(model_dir)) as tmp:
        if isinstance(classifier.backbone, PeftModel):
            weights = "adapter"
            classifier.backbone.save_pretrained(tmp / "adapter")
        elif strategy == "frozen":
            weights = "base"  # unchanged pre-trained weights: keep a reference, not a copy
        else:
            weights = "backbone"
            classifier.backbone.save_pretrained(tmp / "backbone")
        head_state = {k: v.detach().contiguous().cpu() for k, v in classifier.head.state_dict().items()}
        save_file(head_state, str(tmp / "head.safetensors"))
        tokenizer.save_pretrained(tmp)
        meta = {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "task": "text",
            "strategy": strategy,
            "base_model": base_model,
            "base_model_path": base_model_path,
            "backbone_weights": weights,
            "pooling": classifier.pooling,
            "hidden_size": classifier.backbone.config.hidden_size,
            "label_names": list(label_names),
            "max_length": max_length,
        }
        (tmp / "transferlab.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(card, encoding="utf-8")


@contextlib.contextmanager
def atomic_folder(model_dir: Path) -> Iterator[Path]:
    """A temp folder beside ``model_dir`` that replaces it only when the block completes."""
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=model_dir.parent, prefix=".model-"))
    try:
        yield tmp
        if model_dir.exists():
            shutil.rmtree(model_dir)
        os.replace(tmp, model_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_model_meta(model_dir: Path) -> dict[str, Any]:
    meta_path = Path(model_dir) / "transferlab.json"
    if not meta_path.exists():
        raise ModelNotAvailableError(
            f"{model_dir} is not a TransferLab model (no transferlab.json). Point to a run folder whose training completed."
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") not in (MODEL_FORMAT, "transferlab-image-classifier"):
        raise ModelNotAvailableError(f"{model_dir} holds a model of an unknown format ({meta.get('format')}).")
    return meta


def _resolve_base(meta: dict[str, Any]) -> ResolvedModel:
    try:
        return resolve_model(meta["base_model"])
    except ModelNotAvailableError:
        if Path(meta.get("base_model_path", "")).is_dir():
            return ResolvedModel(meta["base_model"], meta["base_model_path"], "local")
        raise


def load_classifier(model_dir: str | Path, device: str | torch.device = "cpu") -> tuple[TextClassifier, Any, dict]:
    """Reload a saved classifier for inference (LoRA adapters merged for speed)."""
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    meta = read_model_meta(model_dir)
    if meta.get("task", "text") != "text":
        raise ModelNotAvailableError(
            f"{model_dir} holds an image classifier; load it with engine.vision.load_image_classifier."
        )
    if meta["backbone_weights"] == "backbone":
        backbone = load_backbone(ResolvedModel(meta["base_model"], str(model_dir / "backbone"), "local"))
    else:
        backbone = load_backbone(_resolve_base(meta))
        if meta["backbone_weights"] == "adapter":
            from peft import PeftModel

            backbone = PeftModel.from_pretrained(backbone, str(model_dir / "adapter")).merge_and_unload()
    classifier = TextClassifier(backbone, len(meta["label_names"]), meta["pooling"])
    classifier.head.load_state_dict(load_file(str(model_dir / "head.safetensors")))
    tokenizer = load_tokenizer(str(model_dir))
    classifier.to(device).eval()
    return classifier, tokenizer, meta
