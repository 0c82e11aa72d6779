"""The model card (README.md) of an adapted model: what it started from, what it read, what changed."""

from __future__ import annotations

from typing import Any

from engine.core.adaptation import METHODS, adapted_title


def adaptation_card(facts: dict[str, Any], metrics: dict[str, Any]) -> str:
    """Markdown for ``ADAPT_DIR/model/README.md``.

    >>> facts = {"base_model": "minilm", "data": "notes.txt", "texts": {"train": 900, "heldout": 100},
    ...          "method": "mlm", "strategy": "lora", "steps": 60, "perplexity_before": 9.5, "perplexity_after": 7.25}
    >>> adaptation_card(facts, {"train_seconds": 42.0, "notes": []}).splitlines()[0]
    '# MiniLM-L6 adapted to notes.txt'
    """
    method = METHODS[facts["method"]]
    texts = facts["texts"]
    lines = [
        f"# {adapted_title(facts)}",
        "",
        f"The text model `{facts['base_model']}`, taught the language of `{facts['data']}` by TransferLab before "
        "learning any labels (domain adaptation).",
        "",
        "| | |",
        "|---|---|",
        f"| Base model | `{facts['base_model']}` |",
        f"| Texts | {texts['train']:,} read, {texts['heldout']:,} held out to measure |",
        f"| Method | {method.title} (`{method.name}`) |",
        f"| Strategy | {facts['strategy']}{' (adapters merged into the weights)' if facts['strategy'] == 'lora' else ''} |",
        f"| Steps | {facts['steps']:,} ({metrics['train_seconds']:.0f} s) |",
        f"| Held-out perplexity | {facts['perplexity_before']:.3f} before, {facts['perplexity_after']:.3f} after |",
        "",
        f"{method.description}",
        "",
        f"The perplexity is exp of the {method.loss}: lower means the model predicts this domain's text better. It "
        "says nothing yet about a classifier's accuracy: train one on your labels from this model and compare.",
        "",
    ]
    lines += [f"- {note}" for note in metrics.get("notes", [])]
    lines += [
        "",
        "## Use it",
        "",
        "With TransferLab, name the adaptation's folder as the model:",
        "",
        "    python -m engine.train --data labeled.csv --model ADAPT_DIR --strategy lora --out runs/x",
        "",
        "Elsewhere it is a plain transformers folder (safetensors):",
        "",
        "    from transformers import AutoModel, AutoTokenizer",
        '    model = AutoModel.from_pretrained("ADAPT_DIR/model")',
        '    tokenizer = AutoTokenizer.from_pretrained("ADAPT_DIR/model")',
        "",
    ]
    return "\n".join(lines)
