"""Image classifiers in batches (prediction, frozen features) and their model folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.core.policy import IMAGE_INFERENCE_BATCH
from engine.core.strategies import STRATEGIES
from engine.data.images import open_image
from engine.tasks.base import atomic_folder, batched, read_model_meta, resolve_base, safe_adapter, write_model_meta
from engine.tasks.image.backbones import ImageBackbone, ImageClassifier, load_image_backbone, rebuild_backbone
from engine.tasks.image.preprocess import ImageSpec, preprocess
from engine.tasks.image.runtime import Runner


def batched_images(fn, images: Sequence[Any], spec: ImageSpec, **kw: Any) -> np.ndarray:
    """``fn`` over image paths (or PIL images) in batches, without gradients; rows in the input order."""
    kw.setdefault("batch_size", IMAGE_INFERENCE_BATCH)

    def make_batch(idx: list[int]) -> dict[str, torch.Tensor]:
        pictures = [open_image(images[i]) if isinstance(images[i], (str, Path)) else images[i] for i in idx]
        return {"pixel_values": torch.stack([preprocess(img, spec) for img in pictures])}

    return batched(lambda b: fn(b["pixel_values"]), len(images), make_batch, **kw)


def predict_image_proba(
    classifier: ImageClassifier, images: Sequence[Any], spec: ImageSpec, runner: Runner | None = None, **kw: Any
) -> np.ndarray:
    """Class probabilities for image paths or PIL images; ``runner`` computes them in place of torch
    (onnxruntime, :mod:`engine.tasks.image.runtime`)."""
    classifier.eval()
    return batched_images(runner or (lambda x: torch.softmax(classifier(x).logits.float(), -1)), images, spec, **kw)


def extract_image_features(
    classifier: ImageClassifier, paths: Sequence[str], spec: ImageSpec, runner: Runner | None = None, **kw: Any
) -> np.ndarray:
    """The backbone's feature vectors; ``runner`` computes them in place of torch."""
    classifier.eval()
    return batched_images(runner or classifier.encode, paths, spec, **kw)


# --- saving and reloading ----------------------------------------------------------------------
def save_image_classifier(
    classifier: ImageClassifier,
    model_dir: Path,
    *,
    strategy: str,
    base_model: str,
    base_model_path: str,
    label_names: Sequence[str],
    spec: ImageSpec,
    card: str,
) -> None:
    """Write ``model_dir`` atomically, like the text task's ``save_classifier``.

    ``arch`` records what rebuilds the architecture without the base model; the weights are a
    reference to the unchanged base (frozen), a peft adapter (LoRA) or the retrained backbone.
    """
    from safetensors.torch import save_file, save_model

    weights = STRATEGIES[strategy].saves
    backbone = classifier.backbone
    with atomic_folder(Path(model_dir)) as tmp:
        if weights == "adapter":
            arch = backbone.get_base_model().arch
            backbone.save_pretrained(tmp / "adapter")
        else:
            arch = backbone.arch
            if weights == "backbone":
                save_model(backbone, str(tmp / "backbone.safetensors"))
        head_state = {k: v.detach().contiguous().cpu() for k, v in classifier.head.state_dict().items()}
        save_file(head_state, str(tmp / "head.safetensors"))
        meta = {
            "strategy": strategy,
            "base_model": base_model,
            "base_model_path": base_model_path,
            "backbone_weights": weights,
            "arch": arch,
            "feature_dim": classifier.feature_dim,
            "normalize": classifier.normalize,
            "label_names": list(label_names),
            "image_spec": spec.to_dict(),
        }
        write_model_meta(tmp, "image", meta, card)


def base_image_backbone(model_dir: Path, meta: dict) -> ImageBackbone:
    """The pre-trained backbone a frozen or LoRA model runs on, its adapter merged in (LoRA): what the
    model computes, without peft (the loader and the self-contained export use it)."""
    adapter = safe_adapter(model_dir) if meta["backbone_weights"] == "adapter" else None
    backbone = load_image_backbone(resolve_base(meta), image_size=int(meta["arch"].get("image_size", 224)))
    if adapter:
        from peft import PeftModel

        backbone = PeftModel.from_pretrained(backbone, adapter).merge_and_unload()
    return backbone


def load_image_classifier(model_dir: str | Path, device: str | torch.device = "cpu") -> tuple[ImageClassifier, dict]:
    """Reload a saved image classifier for inference (LoRA adapters merged for speed)."""
    from safetensors.torch import load_file, load_model

    model_dir = Path(model_dir)
    meta = read_model_meta(model_dir, task="image")
    if meta["backbone_weights"] == "backbone":
        backbone = rebuild_backbone(meta["arch"])
        load_model(backbone, str(model_dir / "backbone.safetensors"))
    else:
        backbone = base_image_backbone(model_dir, meta)
    classifier = ImageClassifier(
        backbone, len(meta["label_names"]), int(meta["feature_dim"]), normalize=bool(meta.get("normalize", False))
    )
    classifier.head.load_state_dict(load_file(str(model_dir / "head.safetensors")))
    classifier.to(device).eval()
    return classifier, meta
