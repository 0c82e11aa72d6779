"""Shared fixtures: tiny models built in the test (nothing is downloaded) and tiny datasets."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

# Tests never touch the network, and torch gets the cores deliberately.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TOPICS = {
    "billing": ["invoice", "payment", "refund", "charge", "receipt", "price", "bank", "card"],
    "shipping": ["parcel", "delivery", "courier", "tracking", "box", "truck", "address", "late"],
    "tech": ["password", "login", "screen", "crash", "update", "error", "app", "browser"],
}
FILLER = ["the", "my", "is", "was", "please", "help", "with", "a", "today", "again", "and", "not"]


def make_rows(n_per_class: int = 30, seed: int = 0, classes: tuple[str, ...] = tuple(TOPICS)) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for label in classes:
        for _ in range(n_per_class):
            words = rng.sample(TOPICS[label], 3) + rng.sample(FILLER, rng.randint(2, 8))
            rng.shuffle(words)
            rows.append((" ".join(words), label))
    rng.shuffle(rows)
    return rows


def write_csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("text", "label")) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _corpus() -> list[str]:
    return [text for text, _ in make_rows(40, seed=123)] + [" ".join(FILLER)]


def build_tiny_bert(folder: Path) -> Path:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(_corpus(), trainers.WordPieceTrainer(vocab_size=200, special_tokens=special))
    from tokenizers.processors import TemplateProcessing

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
    )
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=tok.token_to_id("[PAD]"),
    )
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_llama(folder: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(_corpus(), trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"]))
    # No pad token on purpose: GPT-style tokenizers usually have none and the engine must cope.
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=True,
        bos_token_id=tok.token_to_id("<s>"),
        eos_token_id=tok.token_to_id("</s>"),
    )
    import torch

    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_models(tiny_bert, tiny_llama) -> dict[str, Path]:
    return {"bert": tiny_bert, "llama": tiny_llama}


@pytest.fixture()
def workspace(tmp_path, monkeypatch) -> Path:
    """A private TRANSFERLAB_HOME so caches and runs never leak between tests."""
    home = tmp_path / "workspace"
    monkeypatch.setenv("TRANSFERLAB_HOME", str(home))
    return home


@pytest.fixture()
def topic_csv(tmp_path) -> Path:
    return write_csv(tmp_path / "topics.csv", make_rows(30))
