"""Which words of a text pushed a loaded text model toward each class (captum occlusion).

Each word is deleted in turn (its word pieces masked out of the attention, so a mean-pooled
encoder averages over the other tokens only, as if the word were not there; captum
``FeatureAblation`` with the word pieces grouped) and the drop of every class's probability is
the word's weight toward that class (positive: the word pushed toward it). One forward pass per
word gives all classes at once, so many classes cost no more than two. Word pieces are merged into
words by ``engine.core.explanations.pieces_to_words``.

Integrated gradients over the embeddings (captum ``LayerIntegratedGradients``) was tried first: a
backward pass per class and per step made it several seconds a text on MiniLM on 2 cores, and its
attributions are not of the deletion the faithfulness test makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from engine.core.errors import ModelNotAvailableError
from engine.core.explanations import OCCLUSION_TEXTS_PER_PASS, pieces_to_words


def explain_texts(model: Any, texts: Sequence[str], max_tokens: int) -> list[dict[str, Any]]:
    """One explanation per text for a loaded ``TextModel``: ``{"text", "label", "probabilities", "tokens"}``
    (``tokens``: the words of the text's first ``max_tokens`` tokens, with their weights toward each class)."""
    from captum.attr import FeatureAblation

    tokenizer, classifier, names = model.tokenizer, model.classifier, list(model.label_names)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelNotAvailableError(
            "This model's tokenizer cannot map its tokens back to the words of the text, so its predictions "
            "cannot be explained word by word."
        )
    classifier.eval()
    device = next(classifier.parameters()).device
    limit = max(2, min(int(max_tokens), int(model.max_length)))
    out = []
    for text in texts:
        text = str(text)
        enc = tokenizer(text, truncation=True, max_length=limit, return_offsets_mapping=True)
        ids = torch.tensor([enc["input_ids"]], device=device)
        word_ids = enc.word_ids()

        def forward(mask: torch.Tensor, ids: torch.Tensor = ids) -> torch.Tensor:
            logits = classifier(input_ids=ids.expand(mask.shape[0], -1), attention_mask=mask.long()).logits
            return torch.softmax(logits.float(), dim=-1)

        # One group per word; each special token is a group of its own (deleting it is not reported).
        words = sorted({w for w in word_ids if w is not None})
        group = {w: i for i, w in enumerate(words)}
        groups = [group[w] if w is not None else len(words) + j for j, w in enumerate(word_ids)]
        feature_mask = torch.tensor([groups], device=device)
        mask = torch.ones_like(ids, dtype=torch.float32)
        with torch.no_grad():
            probs = forward(mask)[0].cpu().numpy()
            drops = FeatureAblation(forward).attribute(
                mask, baselines=0.0, feature_mask=feature_mask, perturbations_per_eval=OCCLUSION_TEXTS_PER_PASS
            )
        # (classes, tokens): every piece of a word carries the word's drop; shared out so the pieces sum to it.
        sizes = np.bincount(groups)[groups]
        per_token = drops.reshape(len(names), -1).float().cpu().numpy().T / sizes[:, None]
        out.append(
            {
                "text": text,
                "label": names[int(np.argmax(probs))],
                "probabilities": {name: float(p) for name, p in zip(names, probs, strict=True)},
                "tokens": pieces_to_words(text, word_ids, [tuple(o) for o in enc["offset_mapping"]], per_token, names),
            }
        )
    return out
