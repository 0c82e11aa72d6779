"""Domain adaptation: teach a model the language of the user's domain from unlabeled text, before it
learns the labels ("Don't Stop Pretraining", Gururangan et al., ACL 2020).

Torch-free: the settings (:class:`AdaptConfig`), the methods and every number of the adaptation step
live here, so the dashboard's words and the worker (``engine.adapt``) cannot drift apart.

```
ADAPT_DIR/
  config.json       AdaptConfig
  status.json, events.jsonl, CANCEL, checkpoints/   as a training run's (engine.core.rundir)
  metrics.json      held-out loss and perplexity before and after, steps, time, texts
  model/            the adapted model: a plain transformers folder, adaptation.json and README.md
```

>>> AdaptConfig(data="notes.txt", model="minilm").resolved_method("encoder")
'mlm'
>>> choose_method("decoder")
'clm'
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.catalog import DEFAULT_TEXT_MODEL, find
from engine.core.config import SettingsFile, positive
from engine.core.errors import ConfigError
from engine.core.rundir import read_object
from engine.core.workspace import adaptations_dir

ADAPT_CONFIG_VERSION = 1
# config.json of an adaptation says so (``"kind": "adapt"``); a training run's has no "kind". The worker and the
# job functions tell the two apart by this alone (engine.core.adapt_jobs.job_settings).
ADAPT_KIND = "adapt"
ADAPTATION_FILE = "adaptation.json"  # in ADAPT_DIR/model/: marks a folder as an adapted model

# --- the texts ---------------------------------------------------------------------------------------
MIN_TEXTS = 50  # fewer unlabeled texts teach a model nothing about a domain's language
HELDOUT_SHARE = 0.1  # default share of the texts held out to measure the loss before and after
MIN_HELDOUT_TEXTS = 25  # a loss measured on fewer texts moves too much by chance to compare
MAX_HELDOUT_TEXTS = 1000  # enough for a stable loss; more only slows the two measurements

# --- the methods' numbers -----------------------------------------------------------------------------
MLM_PROBABILITY = 0.15  # BERT's share of tokens masked (80% [MASK], 10% a random token, 10% unchanged)
TSDAE_DELETION = 0.6  # TSDAE deletes this share of the words (Wang et al. 2021: 0.6 worked best)
HEAD_WARMUP_STEPS = 100  # a new masked-LM head is fitted alone this long before the loss is first measured
HEAD_WARMUP_LEARNING_RATE = 1e-3
DEFAULT_EPOCHS = 1
LEARNING_RATES = {  # (method, strategy): continued pre-training wants smaller steps than fine-tuning
    ("mlm", "full"): 5e-5,
    ("mlm", "lora"): 5e-4,
    ("tsdae", "full"): 3e-5,  # the TSDAE paper's
    ("tsdae", "lora"): 5e-4,
    ("clm", "full"): 2e-5,
    ("clm", "lora"): 2e-4,
}
ADAPT_STRATEGIES = ("lora", "full")


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    suits: str  # "encoder" (BERT-style) or "decoder" (GPT-style)
    description: str  # plain words for the dashboard
    loss: str  # what loss_before/loss_after measure, in words


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "mlm",
            "Masked-word practice",
            "encoder",
            "The model reads your texts with about one word in seven hidden and learns to fill the gaps: how BERT-style "
            "models learned language in the first place, now on your domain's words.",
            "masked-LM loss on the held-out texts (the same hidden words before and after)",
        ),
        Method(
            "tsdae",
            "Rebuild damaged sentences (TSDAE)",
            "encoder",
            "The model reads each text with most of its words deleted and must pack what is left into one vector from "
            "which a helper decoder rebuilds the whole text: practice at summing up a text of your domain in one vector, "
            "which is what a sentence encoder hands the classifier.",
            "reconstruction loss of the TSDAE decoder on the held-out texts (the same deletions before and after)",
        ),
        Method(
            "clm",
            "Next-word practice",
            "decoder",
            "The model reads your texts and learns to predict each next word: how GPT-style models learned language, "
            "now on your domain's words.",
            "language-model loss on the held-out texts",
        ),
    )
}
METHOD_CHOICES = ("auto", *METHODS)
# For encoders, the method that helped more in a first measurement: MiniLM, LoRA, 150 steps of 16 texts on the
# demo e-mails, then its frozen features and a classifier on 100 labels (mean of 5 draws, 1,000 test e-mails):
# macro-F1 0.855 without adaptation, 0.893 after mlm (216 s on one CPU thread), 0.877 after tsdae (456 s).
# python -m bench --adapt (README, Domain adaptation): on Rotten Tomatoes tsdae (300 steps, 470 s) was within
# 0.003 of mlm (one pass, 374 s) at 100 and 300 labels; neither changed the score measurably there.
ENCODER_METHOD = "mlm"


def choose_method(model_kind: str) -> str:
    """The method ``--method auto`` picks for a model of ``model_kind`` ("encoder" or "decoder").

    >>> choose_method("encoder")
    'mlm'
    """
    if model_kind == "decoder":
        return "clm"
    if model_kind == "encoder":
        return ENCODER_METHOD
    raise ConfigError(f"Unknown kind of model '{model_kind}': adaptation needs an encoder or a decoder.")


def methods_for(model_kind: str) -> list[str]:
    """The methods that suit a model of ``model_kind``.

    >>> methods_for("encoder")
    ['mlm', 'tsdae']
    """
    return [name for name, m in METHODS.items() if m.suits == model_kind]


def heldout_count(n_texts: int, share: float) -> int:
    """How many of ``n_texts`` are held out: ``share`` of them, at least ``MIN_HELDOUT_TEXTS``, at most
    ``MAX_HELDOUT_TEXTS`` and never more than half.

    >>> heldout_count(50, 0.1), heldout_count(2000, 0.1), heldout_count(100_000, 0.1)
    (25, 200, 1000)
    """
    wanted = max(MIN_HELDOUT_TEXTS, round(n_texts * share))
    return min(wanted, MAX_HELDOUT_TEXTS, n_texts // 2)


def split_heldout(texts: list[str], share: float, seed: int) -> tuple[list[str], list[str]]:
    """(training texts, held-out texts): a seeded shuffle, so a resumed run holds out the same texts.

    >>> train, heldout = split_heldout([f"t{i}" for i in range(60)], 0.1, seed=0)
    >>> len(train), len(heldout), sorted(train + heldout) == sorted(f"t{i}" for i in range(60))
    (35, 25, True)
    """
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    n_heldout = heldout_count(len(texts), share)
    return [texts[i] for i in sorted(order[n_heldout:])], [texts[i] for i in sorted(order[:n_heldout])]


def perplexity(loss: float) -> float:
    """exp(loss), infinite when it would overflow.

    >>> round(perplexity(1.0), 3)
    2.718
    """
    return math.exp(loss) if loss < 700 else math.inf


@dataclass
class AdaptConfig(SettingsFile):
    data: str = field(
        default="",
        metadata={
            "metavar": "FILE",
            "help": "Unlabeled texts: a column of a CSV, TSV, JSON/JSONL, Parquet or Excel file, or a .txt with one "
            "text per line.",
            "required": True,
        },
    )
    text_column: str | None = field(
        default=None,
        metadata={"metavar": "NAME", "help": "Column holding the text (guessed if unset; a .txt has none)."},
    )
    model: str = field(
        default=DEFAULT_TEXT_MODEL,
        metadata={
            "metavar": "NAME_OR_PATH",
            "help": "Text model to adapt: a catalog name (minilm, smollm2), a Hugging Face model id or a local folder.",
            "required": True,
        },
    )
    method: str = field(
        default="auto",
        metadata={
            "help": "How the model learns from the texts: mlm (masked words, BERT-style encoders), tsdae (rebuild "
            "damaged sentences, sentence encoders), clm (next word, GPT-style decoders) or auto (the one that "
            "suits the model).",
            "choices": list(METHOD_CHOICES),
        },
    )
    strategy: str = field(
        default="lora",
        metadata={
            "help": "lora: train small adapters, merged into the model at the end; full: retrain every weight.",
            "choices": list(ADAPT_STRATEGIES),
        },
    )
    epochs: int = field(default=DEFAULT_EPOCHS, metadata={"metavar": "N", "help": "Passes over the texts."})
    max_steps: int = field(
        default=0,
        metadata={
            "metavar": "N",
            "help": "Train exactly this many steps, however many passes over the texts that takes (0: --epochs passes).",
        },
    )
    max_length: int | None = field(
        default=None,
        metadata={
            "metavar": "N",
            "help": "Texts are cut to this many tokens (default: from the texts' lengths, at most 128 on a CPU).",
        },
    )
    batch_size: int = field(default=16, metadata={"metavar": "N", "help": "Texts per training step."})
    learning_rate: float | None = field(
        default=None,
        metadata={"metavar": "X", "help": "Peak learning rate (default depends on the method and the strategy)."},
    )
    heldout: float = field(
        default=HELDOUT_SHARE,
        metadata={
            "metavar": "P",
            "help": f"Share of the texts held out to measure the loss before and after (at least "
            f"{MIN_HELDOUT_TEXTS}, at most {MAX_HELDOUT_TEXTS:,} texts).",
        },
    )
    lora_r: int = field(default=8, metadata={"metavar": "N", "help": "lora: rank of the low-rank update."})
    lora_alpha: int = field(default=16, metadata={"metavar": "N", "help": "lora: scaling of the update (alpha / r)."})
    lora_dropout: float = field(default=0.1, metadata={"metavar": "P", "help": "lora: dropout on the LoRA input."})
    weight_decay: float = field(default=0.01, metadata={"metavar": "X", "help": "AdamW weight decay."})
    warmup_ratio: float = field(
        default=0.1, metadata={"metavar": "P", "help": "Share of steps spent warming up the learning rate."}
    )
    seed: int = field(
        default=42, metadata={"metavar": "N", "help": "Random seed for the held-out split, the masks and the batches."}
    )
    device: str = field(
        default="auto",
        metadata={
            "help": "Where to train: auto (GPU if any), cuda, mps or cpu.",
            "choices": ["auto", "cuda", "mps", "cpu"],
        },
    )
    threads: int | None = field(
        default=None,
        metadata={"metavar": "N", "help": "CPU threads for torch (default: the cores this process may use)."},
    )
    version: int = field(default=ADAPT_CONFIG_VERSION, metadata={"help": "config.json format version.", "cli": False})
    kind: str = field(
        default=ADAPT_KIND,
        metadata={"help": "What the settings are for: an adaptation, not a training run.", "cli": False},
    )

    def __post_init__(self) -> None:
        if self.kind != ADAPT_KIND:
            raise ConfigError(
                f"These settings are not an adaptation's (their kind is '{self.kind}', not '{ADAPT_KIND}')."
            )
        if not str(self.data).strip():
            raise ConfigError("No texts given: pass --data FILE (a .txt with one text per line, or a table's column).")
        if not str(self.model).strip():
            raise ConfigError("No model given: pass --model with a catalog name (e.g. minilm), a hub id or a folder.")
        if self.method not in METHOD_CHOICES:
            raise ConfigError(f"Unknown method '{self.method}'. Choose one of: {', '.join(METHOD_CHOICES)}.")
        if self.strategy not in ADAPT_STRATEGIES:
            raise ConfigError(
                f"Adaptation trains with the strategy lora or full, not '{self.strategy}'. Choose one of: "
                f"{', '.join(ADAPT_STRATEGIES)}."
            )
        for name in ("epochs", "batch_size", "lora_r", "lora_alpha"):
            positive(name, getattr(self, name))
        for name in ("max_length", "threads"):
            if getattr(self, name) is not None:
                positive(name, getattr(self, name))
        if not isinstance(self.max_steps, int) or isinstance(self.max_steps, bool) or self.max_steps < 0:
            raise ConfigError(f"max_steps must be 0 (train every epoch) or more (got {self.max_steps!r}).")
        if self.learning_rate is not None and not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ConfigError(f"learning_rate must be a positive number (got {self.learning_rate}); try 5e-5.")
        if not (0 < self.heldout < 0.5):
            raise ConfigError(f"heldout must be above 0 and below 0.5 (got {self.heldout}); 0.1 is typical.")
        for name in ("lora_dropout", "weight_decay", "warmup_ratio"):
            value = getattr(self, name)
            if not (0 <= value < 1):
                raise ConfigError(f"{name} must be between 0 and 1 (got {value}).")

    def resolved_method(self, model_kind: str) -> str:
        """The method used on a model of ``model_kind``: the one asked for (checked), or auto's choice."""
        if self.method == "auto":
            return choose_method(model_kind)
        if METHODS[self.method].suits != model_kind:
            fits = ", ".join(methods_for(model_kind)) or "none"
            raise ConfigError(
                f"The method '{self.method}' suits {METHODS[self.method].suits}s, and '{self.model}' is a "
                f"{model_kind}. Choose one of: {fits} (or auto)."
            )
        return self.method

    def resolved_learning_rate(self, method: str | None = None) -> float:
        """The learning rate asked for, or the default of ``method`` with this strategy.

        >>> AdaptConfig(data="notes.txt", strategy="full").resolved_learning_rate("mlm")
        5e-05
        """
        if self.learning_rate is not None:
            return self.learning_rate
        if method is None:
            raise ValueError("the default learning rate depends on the method: pass it")
        return LEARNING_RATES[(method, self.strategy)]


def adapted_model_folder(path: str | Path) -> Path | None:
    """The model folder of an adaptation directory (``ADAPT_DIR/model`` holding adaptation.json), or None.

    >>> adapted_model_folder("no/such/folder") is None
    True
    """
    folder = Path(path).expanduser() / "model"
    return folder if (folder / ADAPTATION_FILE).is_file() else None


def list_adapted_models(root: str | Path | None = None) -> list[dict[str, Any]]:
    """The completed adaptations under ``root`` (default: the workspace's), newest first, as the Model page
    lists them: ``{"path", "title", "base_model", "data", "method", "perplexity_before", ...}``. ``path`` is
    what ``--model`` takes. A folder whose adaptation.json cannot be read is left out."""
    root = Path(root) if root is not None else adaptations_dir()
    found = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        model = adapted_model_folder(folder)
        facts = read_object(model / ADAPTATION_FILE) if model else None
        if facts is not None:
            found.append({**facts, "path": str(folder), "title": adapted_title(facts), "time": model.stat().st_mtime})
    return sorted(found, key=lambda f: f["time"], reverse=True)


def adapted_title(adaptation: dict[str, Any]) -> str:
    """How lists name an adapted model: the base model's short title (a folder's name) and the texts' file.

    >>> adapted_title({"base_model": "minilm", "data": "/x/notes.csv"})
    'MiniLM-L6 adapted to notes.csv'
    >>> adapted_title({"base_model": "/models/my-bert", "data": "posts.txt"})
    'my-bert adapted to posts.txt'
    """
    base = str(adaptation.get("base_model") or "A model")
    info = find(base)
    name = info.title.split(" (")[0] if info is not None else Path(base.rstrip("/\\")).name or base
    return f"{name} adapted to {Path(str(adaptation.get('data', ''))).name}"
