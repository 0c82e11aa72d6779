"""What a model learns from during adaptation, built around the loaded model: one ``nn.Module`` per
method whose ``forward(**batch)`` returns the loss, and ``trained_model()`` gives back the plain model
to save (LoRA merged in, the helper head or decoder left out).

- ``mlm``: masked-LM continued pre-training of a BERT-style encoder. A bundled sentence encoder such
  as MiniLM ships without its masked-LM head, so a head is built: a new transform layer (dense,
  activation, layer norm) and an output layer tied to the encoder's word embeddings.
- ``tsdae``: the denoising auto-encoder of Wang et al. (2021), as sentence-transformers'
  ``DenoisingAutoEncoderLoss``: the encoder reads the damaged text, its output pooled the way the
  model pools (mean for MiniLM), and a decoder whose only view of the text is that one vector
  rebuilds it. The decoder is the encoder's own layers (weights tied) made causal, with new
  cross-attention layers.
- ``clm``: causal-LM continued pre-training of a GPT-style decoder, with its own LM head.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch
from torch import nn
from transformers.modeling_outputs import ModelOutput

from engine.core.errors import ConfigError
from engine.core.resolve import ResolvedModel
from engine.tasks.base import hf_model_type, load_error
from engine.tasks.text.model import load_backbone, pool, pooling_for
from engine.tasks.text.task import TextTask

log = logging.getLogger(__name__)


def model_kind(resolved: ResolvedModel) -> str:
    """ "encoder" (BERT-style: has a masked-LM form) or "decoder" (GPT-style), else a ConfigError in words."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    model_type = hf_model_type(resolved) if TextTask.accepts(resolved) else None
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:  # before causal: BERT has both forms
        return "encoder"
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "decoder"
    what = f"a '{model_type}' model" if model_type else "not a text model TransferLab can read"
    raise ConfigError(
        f"'{resolved.name}' is {what}: adaptation teaches a text model (a BERT-style encoder such as minilm, or a "
        "GPT-style decoder such as smollm2) the language of your texts. Pick a text model."
    )


def _output(loss: torch.Tensor) -> ModelOutput:
    return ModelOutput(loss=loss)


def _trainable_beside(module: nn.Module, frozen_side: nn.Module) -> None:
    """Make every parameter of ``module`` that ``frozen_side`` does not share trainable (what is new)."""
    shared = {id(p) for p in frozen_side.parameters()}
    for p in module.parameters():
        if id(p) not in shared:
            p.requires_grad_(True)


def _plain(model: nn.Module) -> nn.Module:
    """The model without LoRA: the adapters merged into its weights (a plain transformers model)."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def _encoder_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    keys = ("input_ids", "attention_mask", "token_type_ids")
    return {k: batch[k] for k in keys if batch.get(k) is not None}


# --- masked words ----------------------------------------------------------------------------------
class MaskedLMHead(nn.Module):
    """BERT's masked-LM head: a transform layer, then scores over the vocabulary from the word embeddings
    (tied: they stay the encoder's, and are saved once, with it)."""

    def __init__(self, config: Any, embeddings: nn.Embedding) -> None:
        from transformers.activations import ACT2FN

        super().__init__()
        hidden = config.hidden_size
        self.dense = nn.Linear(hidden, hidden)
        self.activation = ACT2FN[getattr(config, "hidden_act", "gelu")]
        self.norm = nn.LayerNorm(hidden, eps=getattr(config, "layer_norm_eps", 1e-12))
        self.bias = nn.Parameter(torch.zeros(embeddings.num_embeddings))
        self._embeddings = [embeddings]  # a list, so they are not registered (and saved) twice
        nn.init.normal_(self.dense.weight, std=getattr(config, "initializer_range", 0.02))
        nn.init.zeros_(self.dense.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        words = self._embeddings[0].weight
        return nn.functional.linear(self.norm(self.activation(self.dense(hidden))), words, self.bias)


class MaskedLM(nn.Module):
    method = "mlm"

    def __init__(self, encoder: nn.Module, head: MaskedLMHead) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> ModelOutput:
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        hidden = self.encoder(**_encoder_inputs(batch)).last_hidden_state
        masked = labels != -100  # only the masked positions need the vocabulary-sized projection
        logits = self.head(hidden[masked])
        return _output(nn.functional.cross_entropy(logits.float(), labels[masked]))

    def warm_up(self, batches, steps: int, learning_rate: float, should_stop) -> None:
        """Fit the new head alone (the encoder unchanged) so that the first loss measures the encoder,
        not a random head. ``should_stop()`` is asked between steps."""
        optimizer = torch.optim.AdamW(self.head.parameters(), lr=learning_rate)
        self.encoder.eval()
        self.head.train()
        for step, batch in zip(range(steps), batches, strict=False):
            if should_stop():
                return
            with torch.no_grad():
                hidden = self.encoder(**_encoder_inputs(batch)).last_hidden_state
            masked = batch["labels"] != -100
            loss = nn.functional.cross_entropy(self.head(hidden[masked]).float(), batch["labels"][masked])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % 20 == 0:
                log.info("head warm-up step %d/%d  loss %.4f", step, steps, loss.item())

    @staticmethod
    def targets(batch: dict[str, torch.Tensor]) -> int:
        return int((batch["labels"] != -100).sum())

    def trained_model(self) -> nn.Module:
        return _plain(self.encoder)


# --- TSDAE -------------------------------------------------------------------------------------------
def tied_decoder(encoder: nn.Module) -> nn.Module:
    """A causal decoder with cross-attention whose other weights are the encoder's own (shared, as
    sentence-transformers' ``tie_encoder_decoder``), its output layer tied to the word embeddings."""
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(encoder.config)
    config.is_decoder, config.add_cross_attention = True, True
    try:
        decoder = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    except ValueError:
        raise ConfigError(
            f"TSDAE needs a decoder form of a '{config.model_type}' model, which transformers does not have. "
            "Choose --method mlm."
        ) from None
    base = getattr(decoder, decoder.base_model_prefix)
    shared = dict(encoder.named_parameters())
    for name, param in list(base.named_parameters()):
        if name in shared and shared[name].shape == param.shape:
            parent, _, leaf = name.rpartition(".")
            setattr(base.get_submodule(parent) if parent else base, leaf, shared[name])
    decoder.get_output_embeddings().weight = encoder.get_input_embeddings().weight
    return decoder


class Tsdae(nn.Module):
    method = "tsdae"

    def __init__(self, encoder: nn.Module, decoder: nn.Module, pooling: str) -> None:
        super().__init__()
        self.encoder, self.decoder, self.pooling = encoder, decoder, pooling

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        decoder_input_ids: torch.Tensor,
        decoder_attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> ModelOutput:
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        hidden = self.encoder(**_encoder_inputs(batch)).last_hidden_state
        sentence = pool(hidden, attention_mask, self.pooling)[:, None]  # all the decoder sees of the text
        logits = self.decoder(
            input_ids=decoder_input_ids,
            attention_mask=decoder_attention_mask,
            encoder_hidden_states=sentence,
            encoder_attention_mask=torch.ones(sentence.shape[:2], dtype=attention_mask.dtype, device=sentence.device),
            use_cache=False,
        ).logits
        labels = decoder_input_ids[:, 1:].masked_fill(decoder_attention_mask[:, 1:] == 0, -100)
        loss = nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)).float(), labels.reshape(-1))
        return _output(loss)

    @staticmethod
    def targets(batch: dict[str, torch.Tensor]) -> int:
        return int(batch["decoder_attention_mask"][:, 1:].sum())

    def trained_model(self) -> nn.Module:
        return _plain(self.encoder)


# --- next word ---------------------------------------------------------------------------------------
class CausalLM(nn.Module):
    method = "clm"

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> ModelOutput:
        return _output(self.lm(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss)

    @staticmethod
    def targets(batch: dict[str, torch.Tensor]) -> int:
        return int((batch["labels"][:, 1:] != -100).sum())

    def trained_model(self) -> nn.Module:
        return _plain(self.lm)


def build_objective(method: str, resolved: ResolvedModel, strategy: Any, config: Any) -> tuple[nn.Module, list[str]]:
    """The method's module around the model ``resolved``, prepared by ``strategy`` (LoRA adapters, or every
    weight trainable), and notes in words on what was built."""
    notes: list[str] = []
    if method == "clm":
        from transformers import AutoModelForCausalLM

        try:
            lm = AutoModelForCausalLM.from_pretrained(
                resolved.path, trust_remote_code=False, use_safetensors=True, dtype=torch.float32
            )
        except (OSError, ValueError, KeyError) as exc:
            raise load_error(resolved, exc) from exc
        return CausalLM(strategy.prepare(lm, config, TextTask)), notes

    encoder = load_backbone(resolved)
    if method == "tsdae":
        decoder = tied_decoder(encoder)
        encoder = strategy.prepare(encoder, config, TextTask)
        _trainable_beside(decoder, encoder)  # the cross-attention and the decoder's head
        notes.append(
            "TSDAE: the helper decoder is the model's own layers made causal, with new cross-attention layers and "
            "its output tied to the word embeddings; it is dropped at the end."
        )
        return Tsdae(encoder, decoder, pooling_for(encoder.config)), notes
    head = MaskedLMHead(encoder.config, encoder.get_input_embeddings())
    notes.append(
        "This model came without a masked-LM head, so one was built: a new transform layer, fitted alone for a "
        "few steps before the first measurement, and an output layer tied to the word embeddings. It is dropped "
        "at the end."
    )
    return MaskedLM(strategy.prepare(encoder, config, TextTask), head), notes
