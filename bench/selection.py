"""Which figures a run measures (``--only``) and how much of a user's file (``--data``) they can use.

Pure functions of names and counts: no torch, no data read here. ``python -m bench`` calls them
before it loads anything heavy, and again with the engine's split sizes once the file is read.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

# name for --only -> the keys its results take in results["figures"], in the order they are measured
FIGURES: dict[str, tuple[str, ...]] = {
    "overhead": ("overhead", "flops"),  # figure 1, and figure 5 computed from its steps
    "padding": ("padding",),  # figure 2
    "inference": ("inference",),  # figure 6: predicts with figure 2's engine model
    "frozen": ("frozen_cache",),  # figure 3
    "lora_full": ("lora_vs_full",),  # figure 4
}
NEEDS = {"inference": "padding"}  # figure 6 loads the model figure 2 trains and saves


class PlanError(ValueError):
    """The figures asked for cannot be measured: an unknown name, or a file too small for the plan."""


def parse_only(text: str | None) -> tuple[str, ...]:
    """The figures to run, in the order they are measured; ``None`` or "" means all of them.

    >>> parse_only("lora_full,padding")
    ('padding', 'lora_full')
    >>> parse_only("inference")  # it predicts with the model that padding trains
    ('padding', 'inference')
    >>> parse_only("speed")
    Traceback (most recent call last):
    ...
    bench.selection.PlanError: --only: unknown figure 'speed'; choose from overhead, padding, inference, frozen, lora_full
    """
    if not text:
        return tuple(FIGURES)
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = sorted(names - set(FIGURES))
    if unknown:
        raise PlanError(f"--only: unknown figure '{unknown[0]}'; choose from {', '.join(FIGURES)}")
    names |= {NEEDS[name] for name in names if name in NEEDS}
    return tuple(name for name in FIGURES if name in names)


def training_examples_needed(plan: Any, figures: tuple[str, ...]) -> int:
    """The fewest training examples the chosen figures can be measured on with this plan.

    Figures 1 and 4 time ``warmup + repeats x window`` whole batches of one epoch; figure 2 splits
    one epoch's steps after the warm-up into ``repeats`` windows of at least one step; figure 3's
    warm-up trains on two batches.

    >>> from bench.figures import Plan
    >>> training_examples_needed(Plan(), ("overhead", "padding")), training_examples_needed(Plan(), ("padding",))
    (416, 80)
    """
    needed = [1]
    if "overhead" in figures or "lora_full" in figures:
        needed.append(plan.batch_size * (plan.warmup + plan.repeats * plan.window))
    if "padding" in figures:
        needed.append(plan.batch_size * (plan.warmup + plan.repeats))
    if "frozen" in figures:
        needed.append(plan.batch_size * 2)
    return max(needed)


def fit_plan(plan: Any, available: dict[str, int], figures: tuple[str, ...], source: str) -> tuple[Any, list[str]]:
    """The plan with its sizes capped by what the engine's split of ``source`` holds, and notes on each cap.

    ``available`` holds the split's ``train``, ``validation`` and ``test`` counts. Raises
    :class:`PlanError`, saying what is missing and what to do, when the figures cannot be measured.

    >>> from bench.figures import Plan
    >>> plan, notes = fit_plan(Plan(), {"train": 2100, "validation": 300, "test": 600}, ("padding",), "r.csv")
    >>> plan.train_size, plan.test_size, notes
    (1200, 400, [])
    >>> plan, notes = fit_plan(Plan(), {"train": 700, "validation": 100, "test": 200}, ("padding",), "r.csv")
    >>> plan.train_size, plan.test_size, notes[0]
    (700, 200, 'train_size: 700 of the 1200 planned (all r.csv has)')
    """
    caps = {
        "train_size": available["train"],
        "validation_size": available["validation"],
        "test_size": available["test"],
        "frozen_size": available["train"],
        "frozen_validation_size": available["validation"],
    }
    fitted = replace(plan, **{k: min(getattr(plan, k), n) for k, n in caps.items()})
    notes = [
        f"{k}: {getattr(fitted, k)} of the {getattr(plan, k)} planned (all {source} has)"
        for k in caps
        if getattr(fitted, k) < getattr(plan, k)
    ]
    split = (
        f"the engine's split of {source} (seed {plan.seed}) gives {available['train']:,} training, "
        f"{available['validation']:,} validation and {available['test']:,} test examples"
    )
    needed = training_examples_needed(plan, figures)
    if available["train"] < needed:
        raise PlanError(
            f"{source} is too small for this plan: {split}, and {', '.join(figures)} need at least {needed:,} "
            f"training examples (batch {plan.batch_size}, {plan.warmup} warm-up steps, {plan.repeats} repeats). "
            "Use a larger file, fewer --repeats, or --only padding."
        )
    if available["validation"] < 1:
        raise PlanError(
            f"{source} is too small for this plan: {split}. The engine holds out no validation split when a "
            "class has too few examples to learn from, and every figure evaluates on one: use a larger file."
        )
    if available["test"] < 1 and {"padding", "inference"} & set(figures):
        raise PlanError(f"{source} is too small for this plan: {split}; figures 2 and 6 need test examples.")
    return fitted, notes
