"""A tiny BERT-style model built on the fly for ``python -m bench --quick`` and the tests' fixtures
(nothing is downloaded): a WordPiece tokenizer on the given texts and a 2-layer BERT with random
weights, saved as a local model folder. The same texts give the same model on every machine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def wordpiece_vocab(texts: Sequence[str], vocab_size: int) -> dict[str, int]:
    """A WordPiece vocabulary built in a fixed order: the special tokens, every character (alone and as a
    '##' continuation), then the most frequent words, ties by spelling. tokenizers' WordPieceTrainer breaks
    ties in whatever order its threads see them, so every build of the tiny model had other token ids and
    the tests' scores moved from machine to machine.

    >>> list(wordpiece_vocab(["ab ba ab", "c"], 13))[5:]
    ['a', 'b', 'c', '##a', '##b', '##c', 'ab', 'ba']
    """
    from tokenizers import normalizers, pre_tokenizers

    normalizer, splitter = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    words = Counter(word for text in texts for word, _ in splitter.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({c for word in words for c in word})
    tokens = SPECIAL + chars + [f"##{c}" for c in chars]
    frequent = sorted((w for w in words if len(w) > 1), key=lambda w: (-words[w], w))
    tokens += frequent[: max(0, vocab_size - len(tokens))]
    return {token: i for i, token in enumerate(tokens)}


def build_tiny_bert(folder: Path, texts: Sequence[str], max_length: int = 128, vocab_size: int = 1000) -> Path:
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import BertConfig, BertModel, BertTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    tok = Tokenizer(models.WordPiece(wordpiece_vocab(texts, vocab_size), unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    tokenizer = BertTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_length,
        pad_token_id=tok.token_to_id("[PAD]"),
    )
    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
