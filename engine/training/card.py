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
from engine.core.exports import AUTO_CLASSES, HF_FOLDER
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


# --- "Using it" in an exported folder ------------------------------------------------------------------------
_TEXT_POOLING = {
    "mean": "features = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)  # mean over the real tokens",
    "last": "features = hidden[torch.arange(len(texts)), mask.sum(1) - 1]  # the last real token",
}
_NORMALIZE = "features = torch.nn.functional.normalize(features, dim=-1)  # the classifier reads L2-normalised features"


def _classify(meta: dict[str, Any], example: str) -> list[str]:
    """The snippets' common end: the features normalised when the head was fitted on normalised ones, the
    linear head, a softmax, and a call on ``example``."""
    lines = [f"    {_NORMALIZE}"] if meta.get("normalize") else []
    return lines + [
        '    logits = features @ head["out.weight"].T + head["out.bias"]',
        "    return torch.softmax(logits, dim=-1)",
        "",
        "",
        f'probs = predict_proba(["{example}"])',
        'print(dict(zip(meta["label_names"], probs[0].tolist())))',
    ]


def _text_snippet(meta: dict[str, Any], folder: str) -> str:
    lines = [
        "import json",
        "",
        "import torch",
        "from safetensors.torch import load_file",
        "from transformers import AutoModel, AutoTokenizer",
        "",
        f"folder = {json.dumps(folder)}  # this folder",
        'meta = json.load(open(f"{folder}/transferlab.json", encoding="utf-8"))',
        "tokenizer = AutoTokenizer.from_pretrained(folder)",
        'tokenizer.padding_side = "right"  # the pooling below expects the real tokens first',
        "tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token",
        'backbone = AutoModel.from_pretrained(f"{folder}/backbone").eval()',
        'head = load_file(f"{folder}/head.safetensors")  # the linear classifier: out.weight, out.bias',
        "",
        "",
        "def predict_proba(texts):",
        '    batch = tokenizer(texts, padding=True, truncation=True, max_length=meta["max_length"], return_tensors="pt")',
        "    with torch.no_grad():",
        "        hidden = backbone(**batch).last_hidden_state",
        '    mask = batch["attention_mask"]',
        f"    {_TEXT_POOLING[meta.get('pooling', 'mean')]}",
    ]
    lines += _classify(meta, "a text to classify")
    return "\n".join(lines)


def _image_snippet(meta: dict[str, Any], folder: str) -> str:
    hf = (meta.get("arch") or {}).get("kind") == "hf"
    lines = [
        "import json",
        "",
        "import numpy as np",
        "import torch",
        "from PIL import Image, ImageOps",
        "from safetensors.torch import load_file",
    ]
    lines += (
        ["from transformers import AutoConfig, AutoModelForImageClassification"]
        if hf
        else ["from efficientnet_lite_pytorch import EfficientNet  # pip install efficientnet-lite-pytorch"]
    )
    lines += [
        "",
        f"folder = {json.dumps(folder)}  # this folder",
        'meta = json.load(open(f"{folder}/transferlab.json", encoding="utf-8"))',
        'spec = meta["image_spec"]  # shorter side resized to spec["resize"], centre crop spec["size"], normalised',
        'weights = {k.removeprefix("model."): v for k, v in load_file(f"{folder}/backbone.safetensors").items()}',
    ]
    if hf:
        lines += [
            'settings = dict(meta["arch"]["config"])',
            'model = AutoModelForImageClassification.from_config(AutoConfig.for_model(settings.pop("model_type"), **settings))',
            "# The model's own (ImageNet) classifier, its last linear layer, gives way: the head below reads its input.",
            "name = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)][-1]",
            'parent, _, child = name.rpartition(".")',
            "setattr(model.get_submodule(parent), child, torch.nn.Identity())",
        ]
    else:
        lines += [
            'model = EfficientNet.from_name("efficientnet-lite0", image_size=meta["arch"]["image_size"])',
            "model._fc = model._dropout = torch.nn.Identity()  # its ImageNet classifier; the head below replaces it",
        ]
    lines += [
        "model.load_state_dict(weights)",
        "model.eval()",
        'head = load_file(f"{folder}/head.safetensors")  # the linear classifier: out.weight, out.bias',
        "",
        "",
        "def prepare(path):",
        '    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")',
        '    scale = spec["resize"] / min(image.size)',
        "    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))",
        "    image = image.resize(size, Image.Resampling.BICUBIC)",
        '    left, top = (image.width - spec["size"]) // 2, (image.height - spec["size"]) // 2',
        '    image = image.crop((left, top, left + spec["size"], top + spec["size"]))',
        '    array = (np.asarray(image, dtype=np.float32) / 255 - np.float32(spec["mean"])) / np.float32(spec["std"])',
        "    return torch.from_numpy(array.transpose(2, 0, 1).copy())",
        "",
        "",
        "def predict_proba(paths):",
        "    pixels = torch.stack([prepare(p) for p in paths])",
        "    with torch.no_grad():",
        "        features = model(pixel_values=pixels).logits"
        if hf
        else "        features = model.extract_features(pixels).mean(dim=(2, 3))",
    ]
    lines += _classify(meta, "photo.jpg")
    return "\n".join(lines)


_SNIPPETS = {"text": _text_snippet, "image": _image_snippet}
_EXAMPLES = {"text": '["a text to classify"]', "image": '["photo.jpg"]'}
_HOLDS = {
    "text": "`backbone/` (a transformers model: `AutoModel`), the tokenizer",
    "image": "`backbone.safetensors` (the backbone's weights; `arch` in `transferlab.json` names its architecture)",
}


def exported_usage(meta: dict[str, Any], folder: str, hf_note: str | None) -> str:
    """The "Using it" section of an exported (self-contained) folder named ``folder``: with TransferLab, then
    with plain transformers/safetensors/torch (a snippet the export tests run where TransferLab is not
    importable), then the transformers Auto class where the model maps onto one (``hf_note`` None)."""
    task = str(meta.get("task", "text"))
    snippet = _SNIPPETS[task](meta, folder)
    adapter = (
        "\n`adapter/` holds the LoRA adapter alone (peft `PeftModel.from_pretrained` on top of the base model "
        f"{markdown_text(meta.get('base_model'))}); the backbone above is that adapter already merged into the base model.\n"
        if meta.get("strategy") == "lora"
        else ""
    )
    if hf_note is None:
        hf = (
            f"\n### With a transformers class\n\n`{HF_FOLDER}/` loads with "
            f"`transformers.{AUTO_CLASSES[task]}.from_pretrained` and gives the same probabilities (the softmax of "
            "its logits) on inputs prepared as above.\n"
        )
    else:
        hf = f"\n### transformers classes\n\n{markdown_text(hf_note)}\n"
    return f"""This folder is self-contained: {_HOLDS[task]}, `head.safetensors` (the linear classifier on the
backbone's features), the labels and the settings in `transferlab.json`. It needs no other download.
{adapter}
### With TransferLab

```python
from engine.predict import Predictor

predictor = Predictor({json.dumps(folder)})
print(predictor.predict({_EXAMPLES[task]}))
```

### Without TransferLab

```python
{snippet}
```
{hf}"""
