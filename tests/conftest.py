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
    from bench.tiny import build_tiny_bert as build

    return build(folder, _corpus(), max_length=64, vocab_size=200)


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


# --- pictures -------------------------------------------------------------------------------------
SHAPES = ("circle", "square", "stripes")


def draw_shape(shape: str, seed: int, size: int = 40):
    """A small RGB picture of a shape on a dark background: each class has its own shape and main colour
    (so even a tiny model tells them apart quickly), and every seed differs."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    background = tuple(rng.randint(0, 80) for _ in range(3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    color = [rng.randint(0, 90) for _ in range(3)]
    color[(SHAPES.index(shape) if shape in SHAPES else 0) % 3] = rng.randint(190, 255)
    color = tuple(color)
    m = rng.randint(4, 9)
    if shape == "circle":
        draw.ellipse((m, m, size - m, size - m), fill=color)
    elif shape == "square":
        draw.rectangle((m, m, size - m, size - m), fill=color)
    else:
        for x in range(rng.randint(0, 3), size, 8):
            draw.rectangle((x, 0, x + 3, size), fill=color)
    return image


def write_image_zip(path: Path, n_per_class: int = 12, shapes: tuple[str, ...] = SHAPES, seed: int = 0) -> Path:
    """A ZIP in the usual layout: one folder per class of PNG pictures."""
    import io
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        for c, shape in enumerate(shapes):
            for i in range(n_per_class):
                buf = io.BytesIO()
                draw_shape(shape, seed * 10_000 + c * 1000 + i).save(buf, format="PNG")
                zf.writestr(f"{shape}/{shape}_{i:03d}.png", buf.getvalue())
    return path


def build_tiny_image_model(folder: Path, kind: str = "resnet") -> Path:
    """A tiny image-classification model and its preprocessor config, saved like a hub model."""
    import json

    import torch
    from transformers import AutoModelForImageClassification, ResNetConfig, ViTConfig

    if kind == "resnet":
        config = ResNetConfig(
            num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", num_labels=5
        )
    else:
        config = ViTConfig(
            image_size=32,
            patch_size=8,
            num_channels=3,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            num_labels=5,
        )
    torch.manual_seed(0)
    AutoModelForImageClassification.from_config(config).save_pretrained(folder)
    processor = {
        "do_resize": True,
        "size": {"height": 32, "width": 32} if kind == "vit" else {"shortest_edge": 32},
        "crop_pct": 0.875 if kind == "resnet" else None,
        "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(processor), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def tiny_resnet(tmp_path_factory) -> Path:
    return build_tiny_image_model(tmp_path_factory.mktemp("tiny-resnet"), "resnet")


@pytest.fixture(scope="session")
def tiny_vit(tmp_path_factory) -> Path:
    return build_tiny_image_model(tmp_path_factory.mktemp("tiny-vit"), "vit")


@pytest.fixture()
def shapes_zip(tmp_path) -> Path:
    return write_image_zip(tmp_path / "shapes.zip")


def session(query: dict | None = None, page: str | None = None):
    """A new browser session of the dashboard (a reload, or the first request after a server restart) at the
    address with ``query``, on ``page`` when given; an AppTest that has run without an exception."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=60)
    at.query_params.update(query or {})
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at
