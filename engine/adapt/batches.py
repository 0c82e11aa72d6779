"""Batches for each adaptation method, and the held-out loss.

The randomness of a method (which tokens are masked, which words deleted) comes from a generator
seeded by the run's seed. The held-out batches are made once, so the loss before and the loss after
see exactly the same masks and deletions.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import torch

from engine.core.adaptation import MLM_PROBABILITY, TSDAE_DELETION
from engine.tasks.base import ListDataset


def encode_texts(method: str, tokenizer: Any, texts: Sequence[str], max_length: int) -> ListDataset:
    """One item per text: its tokens (``input_ids`` also lets the Trainer group texts of similar length),
    the text itself for TSDAE (it is damaged batch by batch), which tokens are special for masked LM."""
    enc = tokenizer(list(texts), truncation=True, max_length=max_length, return_special_tokens_mask=method == "mlm")
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask") if k in enc]
    items = [{k: enc[k][i] for k in keys} for i in range(len(texts))]
    if method == "tsdae":
        items = [{"input_ids": item["input_ids"], "text": text} for item, text in zip(items, texts, strict=True)]
    return ListDataset(items)


def delete_words(text: str, rng: random.Random, ratio: float = TSDAE_DELETION) -> str:
    """TSDAE's noise: each word deleted with probability ``ratio``, at least one kept.

    >>> delete_words("one two three four five", random.Random(0))
    'one two'
    """
    words = text.split()
    if not words:
        return text
    kept = [w for w in words if rng.random() > ratio]
    return " ".join(kept or [rng.choice(words)])


class Collator:
    """Pads a list of items into a batch and applies the method's noise, from its own seeded generator."""

    def __init__(self, method: str, tokenizer: Any, max_length: int, seed: int) -> None:
        self.method, self.tokenizer, self.max_length = method, tokenizer, max_length
        self.generator = torch.Generator().manual_seed(seed)
        self.rng = random.Random(seed)

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if self.method == "tsdae":
            return self._tsdae([item["text"] for item in items])
        keys = ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask")
        batch = self.tokenizer.pad([{k: item[k] for k in keys if k in item} for item in items], return_tensors="pt")
        if self.method == "mlm":
            return self._mask(batch)
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "labels": labels}

    def _mask(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """BERT's masking: ``MLM_PROBABILITY`` of the real tokens are predicted; of those 80% read [MASK],
        10% a random token and 10% stay. At least one per batch, so the loss is always defined."""
        input_ids = batch["input_ids"].clone()
        special = batch.pop("special_tokens_mask").bool() | (batch["attention_mask"] == 0)
        chance = torch.full(input_ids.shape, MLM_PROBABILITY).masked_fill(special, 0.0)
        picked = torch.bernoulli(chance, generator=self.generator).bool()
        if not picked.any():
            candidates = (~special).nonzero()
            picked[tuple(candidates[torch.randint(len(candidates), (1,), generator=self.generator)][0])] = True
        labels = input_ids.masked_fill(~picked, -100)
        to_mask = torch.bernoulli(torch.full(input_ids.shape, 0.8), generator=self.generator).bool() & picked
        to_random = torch.bernoulli(torch.full(input_ids.shape, 0.5), generator=self.generator).bool()
        to_random &= picked & ~to_mask
        input_ids[to_mask] = self.tokenizer.mask_token_id
        input_ids[to_random] = torch.randint(len(self.tokenizer), input_ids.shape, generator=self.generator)[to_random]
        return {**batch, "input_ids": input_ids, "labels": labels}

    def _tsdae(self, texts: list[str]) -> dict[str, torch.Tensor]:
        damaged = [delete_words(t, self.rng) for t in texts]
        kw = {"truncation": True, "max_length": self.max_length, "padding": True, "return_tensors": "pt"}
        source, target = self.tokenizer(damaged, **kw), self.tokenizer(texts, **kw)
        batch = {k: source[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in source}
        return {**batch, "decoder_input_ids": target["input_ids"], "decoder_attention_mask": target["attention_mask"]}


def fixed_batches(dataset: ListDataset, collate: Collator, batch_size: int) -> list[dict[str, torch.Tensor]]:
    """The held-out texts in batches, made once: the same masks or deletions for every measurement."""
    items = [dataset[i] for i in range(len(dataset))]
    return [collate(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]


def heldout_loss(
    objective: Any,
    batches: list[dict[str, torch.Tensor]],
    device: str,
    on_batch: Callable[[], None] | None = None,
) -> float:
    """The objective's loss over the held-out batches, each target token weighing the same."""
    objective.eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for batch in batches:
            if on_batch is not None:
                on_batch()
            n = objective.targets(batch)
            moved = {k: v.to(device) for k, v in batch.items()}
            total += float(objective(**moved).loss) * n
            count += n
    return total / max(count, 1)
