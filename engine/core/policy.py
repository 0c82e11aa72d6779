"""Numbers the estimate and training must agree on: max length, batch sizes.

Torch-free, so the dashboard's estimate reads the same rule the worker trains with.

>>> choose_max_length(None, [10, 12, 40], 512, "cuda")
(40, None)
>>> max_length_cap(512, on_gpu=False)
128
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

# Automatic max length: long enough for 95 texts in 100, but no longer than the model allows and,
# on a CPU where every token costs, no longer than this.
AUTO_MAX_LENGTH_CPU = 128
AUTO_PERCENTILE = 95
CUT_NOTE_SHARE = 0.10  # say so when more than this share of the training texts is cut
TEXT_INFERENCE_BATCH = 64  # texts per batch without gradients (features, evaluation, prediction)
# Inference tokenises this many texts at a time (each lot sorted by length into batches), so a split of
# millions never has all its token ids in lists at once.
TEXTS_TOKENISED_AT_ONCE = 10_000
# The automatic max length is chosen from the token counts of at most this many training texts (a seeded
# sample beyond): the 95th percentile of 20,000 is within a token or two of all of them, and counting them
# takes seconds where a few million took minutes.
MAX_LENGTH_SAMPLE = 20_000
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


# --- small data ------------------------------------------------------------------------------------
# Below this many examples in a class, no validation split is held out: every non-test example trains,
# settings are chosen by cross-validation, and the last (not the "best") model is kept.
SMALL_DATA_PER_CLASS = 20
# The fitted head (frozen, few-shot): logistic regression, its strength C chosen by k-fold CV.
HEAD_CV_FOLDS = 5
HEAD_CS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
HEAD_MAX_ITER = 3000
# The search for C cross-validates on at most this many training examples (a sample keeping each class's
# share, and at least HEAD_CV_FOLDS of each class that has them); the chosen C is then fitted on all of them.
# Its 55 fits took 32 s on one thread for 20,000 examples x 384 features x 3 classes and grow with the rows
# (tests/test_head.py, python -m bench.head_scale).
HEAD_CV_ROWS = 20_000
# The few-shot strategy (SetFit) is recommended for texts up to this many examples per class: it led the
# other strategies at 8 to 64 per class on held-out movie reviews (README "Few examples").
FEW_SHOT_MAX_PER_CLASS = 100


def holds_out_validation(class_counts: dict[str, int]) -> bool:
    """Whether a validation split is worth holding out of data with these examples per class."""
    return min(class_counts.values(), default=0) >= SMALL_DATA_PER_CLASS


# Fine-tuning (partial, LoRA, full, scratch) makes at least this many optimizer steps, however few the
# examples: small data means more passes, not fewer updates.
MIN_TRAIN_STEPS = 60
# Fine-tuning a text model paid off against the frozen model only after about this many optimizer steps.
# Measured (bench/fewshot.py, MiniLM, 600 movie reviews, 2 seeds): frozen 0.748; LoRA 0.720 after 60 steps
# (1 epoch, the minimum), 0.732 after 2 epochs, 0.756 after 3 (about 100 steps), 0.778 after 5 (170 steps).
# The recommendation suggests fine-tuning only when the preset gives it this many steps, and the Quick look
# preset gives fine-tuning enough epochs to reach them (up to the strategy's usual epochs).
FINETUNE_PAYS_STEPS = 150
# Evaluate (and checkpoint) at most this many times in a run: every epoch, or every few when epochs are short.
MAX_EVALUATIONS = 10
EARLY_STOPPING_PATIENCE = 3  # evaluations without a better validation score
# Without a validation split, a checkpoint (for resuming) is written at most this often: a short run
# spent several seconds writing checkpoints it never needed. TRANSFERLAB_CHECKPOINT_SECONDS overrides it.
CHECKPOINT_EVERY_SECONDS = 60.0


def checkpoint_every_seconds() -> float:
    return float(os.environ.get("TRANSFERLAB_CHECKPOINT_SECONDS", CHECKPOINT_EVERY_SECONDS))


# --- uncertain predictions -------------------------------------------------------------------------
# A prediction is flagged "uncertain" (Try it, engine.predict's `uncertain` column) when the two most
# likely classes are less than this far apart in probability. 0.2 is a choice, not a measurement: with
# two classes it flags every prediction under 60%, odds weaker than 3 to 2, and fine-tuned classifiers
# are more often over- than under-confident, so a call that close is worth a person's look.
UNCERTAIN_MARGIN = 0.2
# ...or when the most likely class is below this: with many classes the top two can be far apart while
# the model still gives its own answer less than even odds (40%, then 15% and many small ones).
UNCERTAIN_BELOW = 0.5
