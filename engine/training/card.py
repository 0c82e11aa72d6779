"""The model card (README.md in the model folder): what was trained, on what, and how well.

In Hugging Face model-card form: YAML front matter (licence, base model, tags, metrics with their test
scores) above Markdown that carries the report's facts (``engine.core.reporting``): the data, the
strategy in words, scores with 95% intervals, baselines, limitations and how to load the model.
User strings (labels, file and model names) are escaped: the card is shown as Markdown on Results, and
quoted as JSON strings (valid YAML) in the front matter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.core.baselines import baseline_rows, baseline_summary, baseline_warning, classical_note
from engine.core.config import TrainConfig
from engine.core.reporting import base_model_id, interval_words, licence_id, limitations, reuse_words
from engine.core.strategies import STRATEGIES
from engine.core.tasks import get_task
from engine.core.words import markdown_text


def baselines_section(metrics: dict[str, Any], examples: str = "examples") -> str:
    """The run's baselines on the same test split as a Markdown section ("" for a run without them)."""
    rows = baseline_rows(metrics)
    if not rows:
        return ""
    table = "\n".join(
        f"| {markdown_text(r['model'])} | {r['accuracy']} ({r['accuracy 95% interval']}) | "
        f"{r['macro-F1']} ({r['macro-F1 95% interval']}) | {r['time']} |"
        for r in rows
    )
    lines = [baseline_summary(metrics), baseline_warning(metrics), classical_note(metrics, examples)]
    said = " ".join(markdown_text(line) for line in lines if line)
    return f"""
## Baselines (the same test split)

{said}

| model | accuracy (95% interval) | macro-F1 (95% interval) | time |
|---|---|---|---|
{table}
"""


def front_matter(config: TrainConfig, metrics: dict[str, Any]) -> str:
    """The card's YAML metadata, as the Hugging Face Hub reads it (strings as JSON, which YAML reads too)."""
    q = json.dumps
    pipeline = f"{metrics['task']}-classification"
    data = Path(config.data).name
    base = base_model_id(config.model)
    lines = [f"license: {licence_id(config.model)}"]
    if base:
        lines.append(f"base_model: {q(base)}")
    lines += [
        f"pipeline_tag: {pipeline}",
        "tags:",
        "- transferlab",
        f"- {pipeline}",
        f"- {q(config.strategy)}",
        "metrics:",
        "- accuracy",
        "- f1",
        "model-index:",
        f"- name: {q(f'{data} classifier ({config.strategy})')}",
        "  results:",
        "  - task:",
        f"      type: {pipeline}",
        "    dataset:",
        f"      name: {q(data)}",
        f"      type: {q(data)}",
        "      split: test",
        "    metrics:",
        "    - type: accuracy",
        f"      value: {metrics['accuracy']:.4f}",
        f"      name: {q('accuracy (' + interval_words(metrics.get('accuracy_ci')) + ')')}",
        "    - type: f1",
        f"      value: {metrics['macro_f1']:.4f}",
        f"      name: {q('macro-F1 (' + interval_words(metrics.get('macro_f1_ci')) + ')')}",
        "      args:",
        "        average: macro",
    ]
    return "---\n" + "\n".join(lines) + "\n---\n\n"


def data_section(metrics: dict[str, Any], unit: str) -> str:
    """The split sizes, cut texts and small-split warnings, as Markdown lines."""
    sizes = ", ".join(
        f"{metrics.get(key) or 0:,} {key.split('_')[0]}"
        for key in ("train_examples", "validation_examples", "test_examples")
    )
    lines = [f"- Split per class into {sizes} {unit}s; the test {unit}s were held out from training."]
    cut, max_length = metrics.get("inputs_cut"), metrics.get("max_length")
    if isinstance(cut, (int, float)) and max_length:
        lines.append(f"- Texts read up to {max_length} tokens; {cut:.1%} of the training texts were cut there.")
    lines += [
        f"- {markdown_text(w)}"
        for w in [*(metrics.get("data_warnings") or []), *(metrics.get("evaluation_warnings") or [])]
    ]
    return "\n".join(lines)


def model_card(config: TrainConfig, metrics: dict[str, Any], usage: str) -> str:
    task = get_task(metrics["task"])
    rows = "\n".join(
        f"| {markdown_text(name)} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
        for name, v in metrics["per_class"].items()
    )
    inputs = ", ".join(
        f"{key.replace('_', ' ')} {metrics[key]}" for key in ("max_length", "image_size") if metrics.get(key)
    )
    strategy = STRATEGIES[config.strategy]
    how = "trained" if strategy.trains == "head" else "fine-tuned" if strategy.pretrained else "trained from scratch"
    passes = metrics.get("passes")
    schedule = (
        "the classifier fitted to convergence"
        if not strategy.uses_optimizer
        else f"{passes:.1f} passes over the training data"
        if isinstance(passes, (int, float))
        else f"{metrics['epochs']} epochs"
    )
    return (
        front_matter(config, metrics)
        + f"""# {task.title} classifier {how} with TransferLab

- Base model: {markdown_text(config.model)}
- Strategy: `{config.strategy}` ({metrics["trainable_params"]:,} of {metrics["total_params"]:,} parameters trained)
- Training data: {markdown_text(Path(config.data).name)} ({metrics["train_examples"]:,} training examples)
- Labels: {", ".join(markdown_text(x) for x in metrics["labels"])}
- Trained on {metrics["device"]} in {metrics["train_seconds"]:.0f} s, {schedule}, {inputs}

## Data and strategy

{data_section(metrics, task.unit)}
- {markdown_text(reuse_words(config.strategy, metrics.get("trainable_params"), metrics.get("total_params")))}

## Test results ({metrics["test_examples"]:,} held-out examples)

Accuracy {metrics["accuracy"]:.4f} ({interval_words(metrics.get("accuracy_ci"))}), macro-F1 {metrics["macro_f1"]:.4f} \
({interval_words(metrics.get("macro_f1_ci"))}), weighted-F1 {metrics["weighted_f1"]:.4f}. The intervals are bootstrap \
intervals over the test examples: how far the scores could move with another test set of the same size.

| label | precision | recall | F1 | support |
|---|---|---|---|---|
{rows}
{baselines_section(metrics, task.examples)}
## Limitations

{chr(10).join(f"- {markdown_text(line)}" for line in limitations(metrics, config.to_dict(), task.unit))}

## Using it

{usage}"""
    )
