"""Before training: how many training texts the max length cuts, counted with the model's own tokenizer.

Training cuts every text at the max length (``engine.core.policy.choose_max_length`` picks it when
it is automatic). A cut text loses its end, which can hold what decides its label, and nothing on
screen said so. :func:`cut_report` counts the tokens of (a sample of) the training texts with the
model's ``tokenizer.json`` through the ``tokenizers`` library (no torch, so the dashboard can call
it) and applies the same rule as training. Without a ``tokenizer.json`` it guesses the counts
from the characters, and says so.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.core.policy import AUTO_PERCENTILE, choose_max_length
from engine.core.resolve import resolve_model
from engine.core.words import percent
from engine.estimate.text import CHARS_PER_TOKEN

SAMPLE = 1000  # texts counted: a share to within about 3 points, in a second or two
SUGGESTED_LENGTHS = (64, 128, 256, 512)
CUT_WORTH_SAYING = 0.05  # no suggestion below this share (the automatic length lets 5 in 100 be cut)


@dataclass(frozen=True)
class CutReport:
    max_length: int  # what training will use (the chosen one, or the automatic choice for these texts)
    automatic: bool
    share_cut: float  # of the training texts, longer than max_length
    median_tokens: int
    p95_tokens: int  # AUTO_PERCENTILE
    counted: int  # texts counted (a sample when there are more than SAMPLE)
    exact: bool  # counted with the model's tokenizer (False: guessed from characters)
    suggestion: int | None  # a max length that keeps 95% of the texts whole, when that is a change
    total: int = 0  # training texts (more than ``counted`` when a sample was counted)

    @property
    def sampled(self) -> bool:
        return self.total > self.counted

    def sentence(self) -> str:
        """In words, e.g. "93% of your texts are longer than 64 tokens and will be cut there ..."."""
        about = "" if self.exact and not self.sampled else "about "
        chosen = f"{self.max_length} tokens" + (" (chosen automatically)" if self.automatic else "")
        if self.share_cut == 0 and self.sampled:
            return (
                f"None of {self.counted:,} texts sampled from your {self.total:,} training texts is longer than the "
                f"max length of {chosen}: few if any will be cut."
            )
        if self.share_cut == 0:
            return f"Every text fits in the max length of {chosen}: none is cut."
        text = (
            f"{about}{percent(self.share_cut)} of your training texts are longer than {chosen} and will be cut there "
            f"(the median text has {about}{self.median_tokens:,} tokens, 95 in 100 have at most "
            f"{self.p95_tokens:,})."
        )
        if self.suggestion is not None and self.share_cut >= CUT_WORTH_SAYING and self.suggestion > self.max_length:
            keeps = "keeps 95 in 100 whole" if self.suggestion >= self.p95_tokens else "is the most this model reads"
            text += (
                f" A longer max length keeps more of each text but takes longer: {self.suggestion} {keeps}, at "
                f"about {self.suggestion / self.max_length:.1f}× the time per text. The start of a text is often "
                "enough; compare the two if the results disappoint."
            )
        if not self.exact:
            text += " (Counted from the characters: this model has no tokenizer.json to count with.)"
        return text[0].upper() + text[1:]


def _tokenizer_file(model: str) -> Path | None:
    resolved = resolve_model(model)
    if resolved.kind != "hub":
        path = Path(resolved.path)
        folder = path if path.is_dir() else path.parent
        found = folder / "tokenizer.json"
        return found if found.is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(resolved.path, "tokenizer.json")
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return None
    return Path(cached) if isinstance(cached, str) else None


def _model_limit(tokenizer_file: Path | None, model_limit: int) -> int:
    """The model's position limit, lowered to the tokenizer's own when it declares one (as training does)."""
    if tokenizer_file is None:
        return model_limit
    try:
        declared = json.loads((tokenizer_file.parent / "tokenizer_config.json").read_text()).get("model_max_length")
    except (OSError, ValueError, AttributeError):
        return model_limit
    return min(model_limit, int(declared)) if isinstance(declared, int) and 0 < declared < 1_000_000 else model_limit


def token_counts(model: str, texts: Sequence[str]) -> tuple[list[int], bool]:
    """Untruncated token counts (special tokens included, as training counts them), and whether they
    were counted with the model's tokenizer (else guessed from the characters)."""
    path = _tokenizer_file(model)
    if path is not None:
        try:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(path))
            tokenizer.no_truncation()
            tokenizer.no_padding()
            return [len(e.ids) for e in tokenizer.encode_batch(list(texts))], True
        except Exception:  # noqa: BLE001 - a tokenizer.json this version cannot read: guess instead
            pass
    return [max(1, math.ceil(len(t) / CHARS_PER_TOKEN)) + 2 for t in texts], False


def cut_report(
    model: str, texts: Sequence[str], max_length: int | None, model_limit: int, device_kind: str = "cpu", seed: int = 0
) -> CutReport:
    """What the max length (None: automatic) does to ``texts``, the training texts."""
    # By index: the same sample as random.sample(texts, ...), without copying millions of texts first.
    total = len(texts)
    picked = random.Random(seed).sample(range(total), SAMPLE) if total > SAMPLE else range(total)
    texts = [texts[i] for i in picked]
    path = _tokenizer_file(model)
    counts, exact = token_counts(model, texts)
    limit = _model_limit(path, model_limit)
    chosen, _ = choose_max_length(max_length, counts, limit, device_kind)
    ordered = sorted(counts) or [0]
    p95 = ordered[min(len(ordered) - 1, math.ceil(len(ordered) * AUTO_PERCENTILE / 100) - 1)]
    fitting = [n for n in SUGGESTED_LENGTHS if n >= p95 and n <= limit]
    suggestion = fitting[0] if fitting else min(limit, SUGGESTED_LENGTHS[-1])
    return CutReport(
        max_length=chosen,
        automatic=max_length is None,
        share_cut=sum(n > chosen for n in counts) / max(1, len(counts)),
        median_tokens=ordered[len(ordered) // 2],
        p95_tokens=p95,
        counted=len(counts),
        exact=exact,
        suggestion=suggestion if suggestion != chosen else None,
        total=total,
    )


def input_notes(config, dataset) -> list[str]:
    """The text task's notes before training: what the max length does to the training texts."""
    from engine.core.errors import TransferLabError
    from engine.core.hardware import trains_on_gpu
    from engine.estimate.shapes import model_shape

    try:
        limit = model_shape(config.model).max_positions or 512
    except TransferLabError:
        return []  # a model not downloaded yet: training will say it
    device = "cuda" if trains_on_gpu(config.device) else "cpu"
    return [cut_report(config.model, dataset.texts, config.max_length, limit, device, config.seed).sentence()]
