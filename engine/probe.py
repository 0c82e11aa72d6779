"""Measure an image model's shape without its weights, for the estimate shown before training.

    python -m engine.probe efficientnet-lite0 --image-size 224

Prints JSON: parameter counts (before the block stack, per block, after it), what LoRA adds per
unit of rank, the forward FLOPs of one image and the activation values one image keeps while
training. The architecture is built with random weights (no file is read beyond its config) and
measured with ``torch.utils.flop_counter``. The dashboard runs this in a subprocess (it never
imports torch) through :func:`engine.estimate.image.image_probe`, which caches the answer.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from engine.core.errors import TransferLabError
from engine.core.logs import add_verbose_flag, setup_logging


def probe(model: str, image_size: int | None) -> dict[str, Any]:
    import torch
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode

    from engine.core.resolve import resolve_model
    from engine.tasks.image.backbones import load_image_backbone
    from engine.tasks.image.preprocess import image_spec

    torch.set_num_threads(1)
    resolved = resolve_model(model)
    spec = image_spec(resolved, image_size)
    backbone = load_image_backbone(resolved, pretrained=False, image_size=spec.size).eval()
    stack = backbone.layer_stack()
    in_stack = {id(p) for block in stack for p in block.parameters()}
    order = [p for p in backbone.parameters()]
    first = next(i for i, p in enumerate(order) if id(p) in in_stack)
    last = max(i for i, p in enumerate(order) if id(p) in in_stack)
    lora_per_rank = 0
    for name in backbone.lora_targets():
        m = backbone.get_submodule(name)
        if isinstance(m, nn.Linear):
            lora_per_rank += m.in_features + m.out_features
        else:  # Conv2d: A is r filters of the layer's kernel, B a 1x1 conv back to its width
            kh, kw = m.kernel_size
            lora_per_rank += m.in_channels * kh * kw + m.out_channels

    activations = 0

    def count(_module, _inputs, output) -> None:
        nonlocal activations
        if isinstance(output, torch.Tensor):
            activations += output.numel()

    leaves = [m for m in backbone.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    x = torch.zeros(1, 3, spec.size, spec.size)
    with torch.no_grad(), FlopCounterMode(display=False) as flops:
        backbone(x)
    for h in hooks:
        h.remove()
    names = {id(m): name for name, m in backbone.named_modules()}
    counts = flops.get_flop_counts()

    def module_flops(block: nn.Module) -> int:
        # FlopCounterMode keys modules by their class-qualified path; match on the attribute path.
        name = names[id(block)]
        for key, ops in counts.items():
            if key.split(".", 1)[-1] == name or key == name:
                return int(sum(ops.values()))
        return 0

    return {
        "model": model,
        "image_size": spec.size,
        "feature_dim": backbone.feature_dim,
        "before": sum(p.numel() for p in order[:first]),
        "blocks": [sum(p.numel() for p in block.parameters()) for block in stack],
        "after": sum(p.numel() for p in order[last + 1 :]),
        "lora_per_rank": lora_per_rank,
        "forward_flops": int(flops.get_total_flops()),
        "block_flops": [module_flops(block) for block in stack],
        "activation_floats": int(activations),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.probe", description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--image-size", type=int, default=None)
    add_verbose_flag(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        print(json.dumps(probe(args.model, args.image_size)))
    except TransferLabError as exc:
        logging.getLogger("engine.probe").error("Error: %s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
