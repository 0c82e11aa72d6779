"""Where in a picture a loaded image model looked (captum occlusion), as a heat map over the picture.

Occlusion hides one square of the model's input at a time (set to the mean colour, 0 after
normalisation) and records how much the class's probability drops: a hot square is one the
prediction relies on. It needs no gradients and no knowledge of the architecture, so
EfficientNet, ResNet, ViT and LoRA-adapted models are explained alike. The map covers the
centre crop the model sees; what the crop leaves out stays cold.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.core.errors import DataError
from engine.core.explanations import OCCLUSION_PER_PASS, OCCLUSION_STRIDE, OCCLUSION_WINDOW
from engine.data.images import open_image
from engine.tasks.image.preprocess import crop_box, preprocess

OVERLAY_ALPHA = 0.6  # how opaque the hottest place's colour is over the picture
HEATMAP_MIN_SIDE = 224  # a smaller picture's heat map is drawn enlarged, so the map is smooth over its pixels


def picture_heat(
    model: Any, path: str | Path, target: str | None = None, scale: int = 1
) -> tuple[np.ndarray, str, np.ndarray]:
    """``(probabilities, class explained, heat)`` for a loaded ``ImageModel``: heat is one value in 0..1
    per pixel of the picture (1: hiding it lowers the class's probability the most), toward ``target``
    (default: the predicted class); ``scale`` times the picture's size each way."""
    from captum.attr import Occlusion
    from PIL import Image

    names = list(model.label_names)
    if target is not None and target not in names:
        raise DataError(f"'{target}' is not one of this model's classes ({', '.join(names)}).")
    picture = open_image(path)
    classifier = model.classifier.eval()
    device = next(classifier.parameters()).device
    x = preprocess(picture, model.spec).unsqueeze(0).to(device)

    side = x.shape[-1]
    window, stride = max(1, round(side * OCCLUSION_WINDOW)), max(1, round(side * OCCLUSION_STRIDE))
    runner = model.onnx_runner(((side - window) // stride + 1) ** 2) if device.type == "cpu" else None

    def forward(pixels: torch.Tensor) -> torch.Tensor:
        if runner is not None:  # onnxruntime: the same probabilities, several times faster
            return runner(pixels)
        return torch.softmax(classifier(pixels).logits.float(), dim=-1)

    with torch.no_grad():
        probs = forward(x)[0].cpu().numpy()
    chosen = target if target is not None else names[int(probs.argmax())]
    with torch.no_grad():
        attribution = Occlusion(forward).attribute(
            x,
            sliding_window_shapes=(3, window, window),
            strides=(3, stride, stride),
            baselines=0.0,
            target=names.index(chosen),
            perturbations_per_eval=OCCLUSION_PER_PASS,
        )
    heat = attribution[0].sum(0).clamp(min=0).float().cpu().numpy()
    peak = float(heat.max())
    heat = heat / peak if peak > 0 else np.zeros_like(heat)
    # Back onto the picture: the crop's place in it, the rest cold.
    width, height = picture.size
    left, top, right, bottom = (scale * v for v in crop_box(width, height, model.spec))
    width, height = width * scale, height * scale
    covered = Image.fromarray(heat.astype(np.float32)).resize(
        (max(1, round(right - left)), max(1, round(bottom - top))), Image.Resampling.BILINEAR
    )
    canvas = Image.new("F", (width, height), 0.0)
    canvas.paste(covered, (round(left), round(top)))
    return probs, chosen, np.clip(np.asarray(canvas, dtype=np.float32), 0.0, 1.0)


def heat_overlay(picture, heat: np.ndarray):
    """The picture with the heat laid over it in colour (yellow to red, transparent where cold)."""
    from PIL import Image

    base = np.asarray(picture.convert("RGB"), dtype=np.float32)
    colour = np.stack([np.full_like(heat, 255.0), 255.0 * (1.0 - heat), np.zeros_like(heat)], axis=-1)
    alpha = (OVERLAY_ALPHA * heat)[..., None]
    return Image.fromarray(np.uint8(np.clip(base * (1 - alpha) + colour * alpha, 0, 255)))


def explain_image(model: Any, path: str | Path, out_png: str | Path, target: str | None = None) -> dict[str, Any]:
    """The heat map of one picture written to ``out_png`` (the picture's shape; a small picture enlarged a whole
    number of times to at least ``HEATMAP_MIN_SIDE`` on its long side), and the prediction."""
    from PIL import Image

    picture = open_image(path)
    scale = max(1, math.ceil(HEATMAP_MIN_SIDE / max(picture.size)))
    probs, chosen, heat = picture_heat(model, path, target, scale)
    if scale > 1:  # the picture's pixels kept sharp under a smooth heat map
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    names = list(model.label_names)
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    heat_overlay(picture, heat).save(out, format="PNG")
    return {
        "file": Path(path).name,
        "label": names[int(probs.argmax())],
        "probabilities": {name: float(p) for name, p in zip(names, probs, strict=True)},
        "heatmap": str(out),
        "target": chosen,
    }
