"""The self-contained model folder (format "folder") and the same folder as one ZIP file (format "zip").

A run's own model folder (``RUN/model``) leans on the computer that trained it: a frozen model refers to
its pre-trained backbone by name and by the absolute path it was found at, and a LoRA model keeps only
its adapter. The export makes a folder that loads anywhere, with ``engine.predict.Predictor(folder)`` or
with plain transformers/safetensors/torch as its model card shows:

```
NAME/
  transferlab.json    what loads it: backbone_weights "backbone", no path, exported_from
  head.safetensors    the linear classifier on the backbone's features
  backbone/           texts: the backbone as a transformers model (for LoRA, the adapter merged in)
  backbone.safetensors  pictures: the backbone's weights (transferlab.json's arch names the architecture)
  adapter/            LoRA only: the adapter alone, for peft users
  hf/                 where the model maps onto a transformers Auto class (engine.core.exports.hf_classes_note)
  tokenizer files     texts
  README.md           the model card, with how to load it
```
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from engine.core.config import TrainConfig
from engine.core.errors import ModelNotAvailableError, StorageError, TransferLabError, storage_problem
from engine.core.exports import HF_FOLDER, hf_classes_note, portable_name, write_zip
from engine.core.rundir import RunDir
from engine.core.workspace import PROJECT_ROOT
from engine.tasks.base import META_FILE, atomic_folder, read_model_meta, write_model_meta
from engine.training.card import exported_usage, model_card

log = logging.getLogger("engine.export")

HF_CHECK_TOLERANCE = 1e-5  # an hf/ folder is written only when it gives the model's probabilities within this


def export(run_dir: str | Path, out: str | Path, format_name: str) -> dict[str, Any]:
    """Write the run's model as a self-contained folder at ``out`` ("folder") or as one ZIP file ("zip") whose
    single top folder is named after the run. ``out`` must not exist yet."""
    run = RunDir(run_dir)
    if not run.config_path.is_file():
        raise ModelNotAvailableError(
            f"{run.path} is not a run directory (no config.json there). Give the folder of a completed run, "
            "e.g. workspace/runs/NAME."
        )
    model_dir = run.trained_model()
    out = Path(out)
    if out.exists() or out.is_symlink():
        raise StorageError(f"{out} already exists. Choose a path that does not exist yet; an export never overwrites.")
    try:
        if format_name == "folder":
            with atomic_folder(out) as tmp:
                hf = build_folder(run, model_dir, tmp, out.name)
        elif format_name == "zip":
            out.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as tmp:
                hf = build_folder(run, model_dir, Path(tmp), run.name)
                write_zip(tmp, out, run.name)
        else:
            raise ValueError(f"engine.export.folder writes 'folder' or 'zip', not {format_name!r}")
    except OSError as exc:
        said = storage_problem(exc, out, then="export again")
        if said is None:
            raise
        raise StorageError(said) from exc
    files = [p for p in out.rglob("*") if p.is_file()] if out.is_dir() else [out]
    return {
        "format": format_name,
        "out": str(out),
        "bytes": sum(p.stat().st_size for p in files),
        "hf_folder": hf,
    }


def build_folder(run: RunDir, model_dir: Path, dest: Path, name: str) -> bool:
    """Fill the empty folder ``dest`` with the self-contained model; ``name`` is what its card calls the folder.
    Returns whether it holds an ``hf/`` folder."""
    meta = read_model_meta(model_dir)
    config, metrics = run.config(), run.metrics()
    if config is None or metrics is None:
        raise ModelNotAvailableError(
            f"{run.path} has a model but its config.json or metrics.json is missing or damaged, so its model card "
            "cannot be written. Train the run again."
        )
    shutil.copytree(model_dir, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(META_FILE, "README.md"))
    if meta["backbone_weights"] != "backbone":
        _WRITE_BACKBONE[meta["task"]](model_dir, meta, dest)
    base = portable_name(str(meta["base_model"]))
    if (dest / "adapter" / "adapter_config.json").is_file():
        _point_adapter_at(dest / "adapter" / "adapter_config.json", base)
    exported = {key: value for key, value in meta.items() if key not in ("base_model_path", "format", "format_version")}
    exported.update(
        backbone_weights="backbone",
        base_model=base,
        exported_from={
            "run": run.about()["name"],
            "strategy": meta["strategy"],
            "transferlab_commit": _git_commit(),
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )
    if "arch" in exported and "config" in exported["arch"]:
        # transformers records where a config was read from: a path of the computer that trained the model.
        settings = {k: v for k, v in exported["arch"]["config"].items() if k != "_name_or_path"}
        exported["arch"] = {**exported["arch"], "config": settings}
    note = hf_classes_note(exported)
    if note is None and not _write_hf_folder(dest, exported):
        note = (
            "Not offered as a transformers folder: the transformers class for this architecture did not give this "
            "model's probabilities in the check made at export."
        )
    try:
        card_config = dataclasses.replace(TrainConfig.from_dict(config), model=base)
    except (TransferLabError, TypeError) as exc:
        raise ModelNotAvailableError(f"{run.path}'s config.json cannot be read ({exc}), so no model card.") from exc
    card = model_card(card_config, metrics, exported_usage(exported, name, note))
    write_model_meta(dest, exported["task"], exported, card)
    return note is None


# --- the backbone of a frozen or LoRA model, written into the folder --------------------------------------------
def _text_backbone(model_dir: Path, meta: dict[str, Any], dest: Path) -> None:
    from engine.tasks.text.model import base_backbone

    base_backbone(model_dir, meta).save_pretrained(dest / "backbone")


def _image_backbone(model_dir: Path, meta: dict[str, Any], dest: Path) -> None:
    from safetensors.torch import save_model

    from engine.tasks.image.model import base_image_backbone

    save_model(base_image_backbone(model_dir, meta), str(dest / "backbone.safetensors"))


_WRITE_BACKBONE = {"text": _text_backbone, "image": _image_backbone}


def _point_adapter_at(config_path: Path, base: str) -> None:
    """peft records the base model's absolute path; the adapter's users need its name (a hub id where known)."""
    settings = json.loads(config_path.read_text(encoding="utf-8"))
    settings["base_model_name_or_path"] = base
    config_path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _git_commit() -> str | None:
    """The TransferLab commit that made the export, when this is a git checkout (None otherwise)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) == 40 else None


# --- hf/: an image model as transformers' AutoModelForImageClassification ------------------------------------
def _write_hf_folder(dest: Path, meta: dict[str, Any]) -> bool:
    """An ``hf/`` folder for ``AutoModelForImageClassification``: the model's own architecture with its final
    linear layer holding TransferLab's head. Written only when it gives the model's probabilities (checked
    on random pictures); returns whether it was written."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForImageClassification

    from engine.tasks.image.model import load_image_classifier

    settings = dict(meta["arch"]["config"])
    labels = list(meta["label_names"])
    settings.update(
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    config = AutoConfig.for_model(settings.pop("model_type"), **settings)
    model = AutoModelForImageClassification.from_config(config, dtype=torch.float32).eval()
    weights = {k.removeprefix("model."): v for k, v in load_file(str(dest / "backbone.safetensors")).items()}
    final = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)][-1]
    head = load_file(str(dest / "head.safetensors"))
    weights.update({f"{final}.weight": head["out.weight"], f"{final}.bias": head["out.bias"]})
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        log.info("No hf/ folder: the weights do not fit the transformers class (%s %s).", missing, unexpected)
        return False
    # The check: the folder as TransferLab loads it (from dest, whose transferlab.json is written next).
    write_model_meta(dest, meta["task"], meta, "")
    ours, _ = load_image_classifier(dest)
    size = int(meta["image_spec"]["size"])
    pixels = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = torch.softmax(ours(pixels).logits, -1)
        got = torch.softmax(model(pixel_values=pixels).logits, -1)
    if not torch.allclose(expected, got, atol=HF_CHECK_TOLERANCE, rtol=0):
        log.info("No hf/ folder: the transformers class gives other probabilities.")
        return False
    model.save_pretrained(dest / HF_FOLDER)
    return True
