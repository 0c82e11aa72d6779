"""The text task: what a training run and a saved model need that is particular to texts."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.core.catalog import find
from engine.core.policy import MAX_LENGTH_SAMPLE, TEXT_INFERENCE_BATCH, TEXTS_TOKENISED_AT_ONCE, choose_max_length
from engine.core.resolve import ResolvedModel
from engine.core.strategies import lora_targets
from engine.core.workspace import fingerprint
from engine.data.large import ArrowTexts
from engine.tasks.base import Datasets, ListDataset, LoadedModel, Task, hf_model_type
from engine.tasks.text.model import (
    TextClassifier,
    extract_features,
    load_backbone,
    load_classifier,
    load_tokenizer,
    pooling_for,
    predict_proba,
    save_classifier,
    transformer_layers,
)
from engine.tasks.text.tokens import encode_to_arrow

USAGE = """With TransferLab:

    python -m engine.predict --run RUN_DIR --data new_texts.csv --out predictions.csv

In Python:

    from engine.predict import Predictor
    predictor = Predictor("RUN_DIR/model")
    probs = predictor.predict_proba(["some text"])

The folder is plain transformers/peft: `backbone/` (if present) loads with
`transformers.AutoModel.from_pretrained`, `adapter/` (LoRA) with `peft.PeftModel.from_pretrained` on top
of the base model, `head.safetensors` holds the linear classifier (`out.weight`, `out.bias`) applied to
the pooled backbone output described in `transferlab.json`
(`pooling`: `mean` = mean over non-padding tokens, `last` = last non-padding token).

A frozen or LoRA model refers here to the pre-trained model where it lies on this computer. To take it elsewhere,
`python -m engine.export --run RUN_DIR --format zip --out model.zip` writes it self-contained (the pre-trained
weights included), with a model card that shows how to load it with or without TransferLab.
"""


def model_token_limit(model_config: Any, tokenizer: Any) -> int:
    """The most tokens the model takes: its position table, or the tokenizer's limit, or 512."""
    limits = [getattr(model_config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    usable = [int(n) for n in limits if isinstance(n, int) and 0 < n < 1_000_000]
    return min(usable) if usable else 512


def token_lengths(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Untruncated token counts (special tokens included) of the texts, tokenised a lot at a time."""
    lengths: list[int] = []
    for start in range(0, len(texts), TEXTS_TOKENISED_AT_ONCE):
        lot = list(texts[start : start + TEXTS_TOKENISED_AT_ONCE])
        lengths += [len(ids) for ids in tokenizer(lot, truncation=False, verbose=False)["input_ids"]]
    return lengths


def length_sample(texts: Sequence[str], seed: int) -> Sequence[str]:
    """The training texts whose token counts choose the max length: all, or a seeded sample of
    ``MAX_LENGTH_SAMPLE`` of them (in their order).

    >>> length_sample(["a", "b", "c"], seed=0)
    ['a', 'b', 'c']
    """
    if len(texts) <= MAX_LENGTH_SAMPLE:
        return texts
    picked = np.sort(np.random.default_rng(seed).choice(len(texts), MAX_LENGTH_SAMPLE, replace=False))
    return texts.take(picked) if isinstance(texts, ArrowTexts) else [texts[i] for i in picked]


def encode(tokenizer: Any, texts: Sequence[str], labels: Sequence[int], max_length: int) -> ListDataset:
    # No padding here: DataCollatorWithPadding pads each batch to its own longest text.
    if not texts:
        return ListDataset([])  # no validation split (small data)
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    return ListDataset([{**{k: enc[k][i] for k in keys}, "labels": labels[i]} for i in range(len(texts))])


def feature_key(model_path: str, pooling: str, max_length: int, texts: Sequence[str]) -> str:
    """The features cache key of ``texts``: the model's weights, the pooling, the max length and the texts."""
    h = hashlib.sha256()
    for part in (fingerprint(model_path), pooling, str(max_length), str(len(texts))):
        h.update(part.encode() + b"\0")
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    return h.hexdigest()


class TextTask(Task):
    name = "text"
    usage = USAGE

    def __init__(self, config, run, resolved: ResolvedModel, strategy, splits, device) -> None:
        self.config, self.run, self.resolved, self.splits, self.device = config, run, resolved, splits, device
        self.tokenizer = load_tokenizer(resolved)
        backbone = load_backbone(resolved, pretrained=strategy.pretrained)
        limit = model_token_limit(backbone.config, self.tokenizer)
        lengths = token_lengths(self.tokenizer, length_sample(splits.train.texts, config.seed))
        self.max_length, note = choose_max_length(config.max_length, lengths, limit, device.kind)
        self.notes = [note] if note else []
        backbone = strategy.prepare(backbone, config, self)
        self.classifier = TextClassifier(backbone, len(splits.label_names), pooling_for(backbone.config))
        cut = sum(n > self.max_length for n in lengths) / max(1, len(lengths))
        self.info = {"max_length": self.max_length, "inputs_cut": cut}

    @classmethod
    def accepts(cls, resolved: ResolvedModel) -> bool:
        info = find(resolved.name) if resolved.kind == "package" else None
        if info is not None:
            return info.task == cls.name
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

        return hf_model_type(resolved) not in MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

    @staticmethod
    def layer_stack(backbone) -> list:
        return transformer_layers(backbone)

    @staticmethod
    def lora_targets(backbone) -> list[str]:
        return lora_targets(backbone.config.model_type, [name for name, _ in backbone.named_modules()])

    def feature_key(self, part) -> str:
        return feature_key(self.resolved.path, self.classifier.pooling, self.max_length, part.texts)

    def extract_features(self, part, on_batch: Callable[[int, int], None] | None = None) -> np.ndarray:
        return extract_features(
            self.classifier, self.tokenizer, part.texts, self.max_length, **self._inference(), on_batch=on_batch
        )

    def datasets(self) -> Datasets:
        from transformers import DataCollatorWithPadding

        train, val = self.splits.train, self.splits.validation
        # Texts in Arrow (a large file) are tokenised into Arrow on disk, the others into lists.
        tokenise = encode_to_arrow if isinstance(train.texts, ArrowTexts) else encode
        return Datasets(
            train=tokenise(self.tokenizer, train.texts, train.labels, self.max_length),
            validation=tokenise(self.tokenizer, val.texts, val.labels, self.max_length),
            collator=DataCollatorWithPadding(self.tokenizer),
            processing_class=self.tokenizer,
            sampling="group_by_length",  # batches of similar length pad little
        )

    def predict_proba(self, part) -> np.ndarray:
        return predict_proba(self.classifier, self.tokenizer, part.texts, self.max_length, **self._inference())

    def save(self, model_dir: Path, label_names: list[str], card: str) -> None:
        save_classifier(
            self.classifier,
            self.tokenizer,
            model_dir,
            strategy=self.config.strategy,
            base_model=self.config.model,
            base_model_path=self.resolved.path,
            label_names=label_names,
            max_length=self.max_length,
            card=card,
        )

    @staticmethod
    def example_columns(part) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
        # Texts in Arrow stay there: predictions.csv is written a lot of rows at a time.
        return {"text": part.texts if isinstance(part.texts, ArrowTexts) else list(part.texts)}, {}

    @staticmethod
    def load(model_dir: Path, device: str | torch.device = "cpu", precision: str = "fp32") -> TextModel:
        return TextModel(model_dir, device, precision)

    def _inference(self) -> dict[str, Any]:
        return {"device": self.device.kind, "precision": self.device.precision}


class TextModel(LoadedModel):
    """A saved text classifier, loaded for prediction."""

    def __init__(self, model_dir: Path, device: str | torch.device = "cpu", precision: str = "fp32") -> None:
        self.classifier, self.tokenizer, self.meta = load_classifier(model_dir, device)
        self.label_names = list(self.meta["label_names"])
        self.max_length = int(self.meta["max_length"])
        self.device, self.precision = device, precision

    def predict_proba(self, inputs: Sequence[Any], batch_size: int | None = None) -> np.ndarray:
        return predict_proba(
            self.classifier,
            self.tokenizer,
            [str(t) for t in inputs],
            self.max_length,
            batch_size=batch_size or TEXT_INFERENCE_BATCH,
            device=self.device,
            precision=self.precision,
        )
