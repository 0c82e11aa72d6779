"""Numbers the estimate and training must agree on: max length, batch sizes.

Torch-free, so the dashboard's estimate reads the same rule the worker trains with.

>>> choose_max_length(None, [10, 12, 40], 512, "cuda")
(40, None)
>>> max_length_cap(512, on_gpu=False)
128
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# Automatic max length: long enough for 95 texts in 100, but no longer than the model allows and,
# on a CPU where every token costs, no longer than this.
AUTO_MAX_LENGTH_CPU = 128
AUTO_PERCENTILE = 95
CUT_NOTE_SHARE = 0.10  # say so when more than this share of the training texts is cut
TEXT_INFERENCE_BATCH = 64  # texts per batch without gradients (features, evaluation, prediction)
IMAGE_INFERENCE_BATCH = 32  # pictures per batch without gradients


def eval_batch_size(train_batch_size: int) -> int:
    """Evaluation needs no gradients, so it takes larger batches."""
    return max(train_batch_size * 2, 32)


def max_length_cap(model_limit: int, on_gpu: bool) -> int:
    """The longest automatic max length: the model's limit, and on a CPU at most 128 tokens."""
    return model_limit if on_gpu else min(model_limit, AUTO_MAX_LENGTH_CPU)


def choose_max_length(
    requested: int | None, lengths: Sequence[int], limit: int, device_kind: str
) -> tuple[int, str | None]:
    """The max length to train with, and a note for the user when texts will be cut.

    ``lengths`` are the training texts' untruncated token counts, ``limit`` the model's.
    """
    if requested is not None:
        chosen = min(requested, limit)
        if chosen < requested:
            return chosen, f"max_length lowered to the model's limit of {limit} tokens."
    else:
        ordered = sorted(lengths) or [limit]
        percentile = ordered[min(len(ordered) - 1, math.ceil(len(ordered) * AUTO_PERCENTILE / 100) - 1)]
        cap = max_length_cap(limit, on_gpu=device_kind != "cpu")
        chosen = max(8, min(-(-percentile // 8) * 8, cap))  # a multiple of 8 suits the matmul kernels
    cut = sum(n > chosen for n in lengths)
    if lengths and cut / len(lengths) > CUT_NOTE_SHARE:
        return chosen, (
            f"{cut / len(lengths):.0%} of the training texts are longer than {chosen} tokens and are cut there. "
            "A larger max length keeps more of each text but trains slower."
        )
    return chosen, None
