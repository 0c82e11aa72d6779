"""What a report and a model card say about a run, in plain words, and how the report is made.

Torch-free: the report (``engine.report``), the model card (``engine.training.card``) and the dashboard's
download buttons read their sentences and rules here, so the three cannot drift apart.

>>> print(reuse_words("lora", 74_498, 22_787_714))
The pre-trained weights were reused unchanged; small adapter matrices added beside them and the classifier on top were trained: 74.5 K of 22.8 M parameters (0.33%).
>>> interval_words([0.912, 0.951])
'95% interval 0.912–0.951'
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.core.catalog import find
from engine.core.compare import interval_bounds
from engine.core.metrics import CONFIDENCE, MIN_EVAL_PER_CLASS
from engine.core.strategies import STRATEGIES
from engine.core.words import format_params, percent

# --- making the report -----------------------------------------------------------------------------------
CHROMIUM_ENV = "TRANSFERLAB_CHROMIUM"  # a browser to print the PDF with, when it is not where we look
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_MISSING = (
    "Making the PDF needs Chromium (or Google Chrome), and none was found (looked for {looked}). Install it "
    "(Debian/Ubuntu: sudo apt-get install chromium) or set {env} to the browser's path; or open the HTML report "
    "in any browser and print it to PDF from there."
)
REPORT_TIMEOUT_S = 900  # the dashboard gives up on building a report after this long
EXAMPLES_SHOWN = 4  # correct and wrong test predictions shown (each), with explanations when available


def find_chromium() -> str | None:
    """The browser that prints the report to PDF: $TRANSFERLAB_CHROMIUM, else the first of CHROMIUM_CANDIDATES found."""
    given = os.environ.get(CHROMIUM_ENV)
    if given:
        return given if Path(given).is_file() else None
    for name in CHROMIUM_CANDIDATES:
        found = name if Path(name).is_file() else shutil.which(name)
        if found:
            return found
    return None


def chromium_missing() -> str:
    return CHROMIUM_MISSING.format(looked=", ".join(CHROMIUM_CANDIDATES), env=f"${CHROMIUM_ENV}")


def report_command(runs: Sequence[str | Path], out: str | Path, pdf: str | Path | None = None) -> list[str]:
    """The ``python -m engine.report`` command line that writes the report of ``runs`` (the dashboard runs it).

    >>> report_command(["runs/a"], "r.html", "r.pdf")[1:]
    ['-m', 'engine.report', '--run', 'runs/a', '--out', 'r.html', '--pdf', 'r.pdf']
    """
    argv = [sys.executable, "-m", "engine.report"]
    for run in runs:
        argv += ["--run", str(run)]
    argv += ["--out", str(out)]
    if pdf is not None:
        argv += ["--pdf", str(pdf)]
    return argv


# --- the facts in words ----------------------------------------------------------------------------------
_TRAINED = {
    "head": "only the small classifier on top was trained",
    "top": "its bottom layers were kept as they were; the top layers and the classifier on top were retrained",
    "adapters": "small adapter matrices added beside them and the classifier on top were trained",
    "all": "every weight was retrained, together with the classifier on top",
}


def reuse_words(strategy: str, trainable: Any = None, total: Any = None) -> str:
    """What the strategy reused of the pre-trained model and what it retrained, with the trainable share."""
    info = STRATEGIES.get(str(strategy))
    if info is None:
        what = f"Strategy '{strategy}'."
    elif not info.pretrained:
        what = "Nothing was reused: the same architecture started from random weights and was trained in full."
    elif info.trains in ("head", "adapters"):
        what = f"The pre-trained weights were reused unchanged; {_TRAINED[info.trains]}."
    else:
        what = f"The pre-trained model was the starting point; {_TRAINED.get(info.trains, 'it was retrained')}."
    if isinstance(trainable, int | float) and isinstance(total, int | float) and total:
        share = trainable / total
        shown = f"{share:.2%}" if share < 0.1 else f"{share:.1%}"
        what = f"{what[:-1]}: {format_params(trainable)} of {format_params(total)} parameters ({shown})."
    return what


def interval_words(interval: Any) -> str:
    low, high = interval_bounds(interval)
    return "no interval" if low is None else f"{CONFIDENCE:.0%} interval {low:.3f}–{high:.3f}"


def score_words(metrics: Mapping[str, Any]) -> str:
    """Accuracy and macro-F1 with their intervals, in one line.

    >>> score_words({"accuracy": 0.9, "accuracy_ci": [0.8, 0.95], "macro_f1": 0.85, "macro_f1_ci": None})
    'accuracy 0.900 (95% interval 0.800–0.950), macro-F1 0.850 (no interval)'
    """
    parts = []
    for key, name in (("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
        value = metrics.get(key)
        if isinstance(value, int | float):
            parts.append(f"{name} {value:.3f} ({interval_words(metrics.get(key + '_ci'))})")
    return ", ".join(parts) or "no scores"


def pretrained_on(model: str | None) -> str | None:
    """What the pre-trained model learned from, when the catalog knows it."""
    info = find(str(model)) if model else None
    return info.pretrained_on if info is not None else None


def limitations(metrics: Mapping[str, Any], config: Mapping[str, Any], unit: str = "example") -> list[str]:
    """What a reader should keep in mind, in plain sentences: test set size, small classes, cut texts, the
    pre-training data, and that the test examples came from the same source as the training ones.

    >>> limitations({"test_examples": 30, "per_class": {"a": {"support": 4}, "b": {"support": 26}},
    ...     "accuracy_ci": [0.7, 0.9]}, {})[0]
    'The test set is small (30 examples): the accuracy could be anywhere in 0.700–0.900 (95% interval, 20 points wide).'
    """
    lines = []
    n = metrics.get("test_examples")
    low, high = interval_bounds(metrics.get("accuracy_ci"))
    if isinstance(n, int) and low is not None:
        width = round((high - low) * 100)
        small = "small" if n < 200 else "of moderate size" if n < 1000 else "large"
        lines.append(
            f"The test set is {small} ({n:,} {unit}s): the accuracy could be anywhere in {low:.3f}–{high:.3f} "
            f"({CONFIDENCE:.0%} interval, {width} points wide)."
        )
    per_class = metrics.get("per_class") or {}
    few = {
        name: int(v.get("support") or 0)
        for name, v in per_class.items()
        if (v.get("support") or 0) < MIN_EVAL_PER_CLASS
    }
    if few:
        names = ", ".join(f"'{name}' ({count})" for name, count in list(few.items())[:5])
        more = f" and {len(few) - 5} more" if len(few) > 5 else ""
        lines.append(
            f"Classes with fewer than {MIN_EVAL_PER_CLASS} test {unit}s: {names}{more}. Their per-class scores rest "
            "on a handful of examples; collect more of them before relying on those numbers."
        )
    cut, max_length = metrics.get("inputs_cut"), metrics.get("max_length")
    if isinstance(cut, int | float) and cut > 0 and max_length:
        lines.append(
            f"{percent(cut)} of the training texts were longer than {max_length} tokens and were cut there: the model "
            "never read their ends."
        )
    source = pretrained_on(metrics.get("model") or config.get("model"))
    if source:
        lines.append(
            f"The pre-trained model learned from {source}. Data far from that (another language, specialised "
            "jargon, medical or technical images) gains less from it; the scores above say how it did on this data."
        )
    elif metrics.get("model") or config.get("model"):
        lines.append(
            "What the pre-trained model learned from is not recorded here; see its own model card for its training "
            "data and known biases."
        )
    lines.append(
        f"The test {unit}s were held out from the same data as the training ones. {unit.capitalize()}s from another "
        "source, time or place may score lower: check the model on a sample of them (Try it scores a labelled file)."
    )
    return lines


# --- the model card's front matter -----------------------------------------------------------------------
def base_model_id(model: str | None) -> str | None:
    """The pre-trained model's Hugging Face id for a model card's ``base_model`` (None for a local folder).

    >>> base_model_id("minilm"), base_model_id("microsoft/resnet-50"), base_model_id("/models/mine")
    ('sentence-transformers/all-MiniLM-L6-v2', 'microsoft/resnet-50', None)
    """
    if not model:
        return None
    info = find(model)
    if info is not None:
        return info.hub_id or (info.name if info.package is None else None)
    parts = model.split("/")
    looks_like_id = len(parts) == 2 and all(parts) and not model.startswith((".", "~"))
    return model if looks_like_id and not Path(model).exists() else None


def licence_id(model: str | None) -> str:
    """The pre-trained model's licence as a Hugging Face licence id ("unknown" outside the catalog)."""
    info = find(str(model)) if model else None
    return info.licence.lower() if info is not None else "unknown"


def split_front_matter(card: str) -> tuple[str, str]:
    """A model card's YAML front matter (between the opening ``---`` lines) and the Markdown after it.

    >>> split_front_matter("---\\nlicense: mit\\n---\\n# Title\\n")
    ('license: mit', '# Title\\n')
    >>> split_front_matter("# No front matter")
    ('', '# No front matter')
    """
    if card.startswith("---\n"):
        end = card.find("\n---\n", 4)
        if end != -1:
            return card[4:end], card[end + 5 :].lstrip("\n")
    return "", card
