"""Pictures through onnxruntime on the CPU: the same numbers as torch, several times faster.

On two CPU cores onnxruntime runs EfficientNet-Lite0 about six times faster than torch does
(``bench/onnx_speed.py``, README "ONNX"), and pictures spend nearly all their time in the network. So a
module that turns ``pixel_values`` into an output (the frozen backbone's features, or a whole classifier's
probabilities) is exported once to ONNX into the workspace cache (``cache/onnx``), keyed by its weights
and the picture size, and checked against torch on a few random pictures before it is used: any output
more than :data:`TOLERANCE` (relative to the output's scale) away, and the cached file is thrown away and
torch runs the module. The same happens when the exporter refuses a model or onnxruntime is missing:
slower, never different.

``TRANSFERLAB_ONNXRUNTIME=0`` turns it off (torch everywhere).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from engine.core.hardware import pictures_through_onnxruntime
from engine.core.housekeeping import evict, touch
from engine.core.workspace import cache_dir

log = logging.getLogger(__name__)

TOLERANCE = 1e-4  # largest difference allowed, relative to the largest output (1 for probabilities)
CHECK_PICTURES = 3
GRAPH_VERSION = 1  # bump when the export changes, so older cached graphs are not reused
# A graph takes about as long to make as torch takes for this many pictures (EfficientNet-Lite0, 2 cores):
# a prediction on fewer runs in torch unless the graph is already cached.
BUILD_FOR_PICTURES = 200

Runner = Callable[[torch.Tensor], torch.Tensor]


def enabled(device: str | torch.device) -> bool:
    """onnxruntime serves CPU inference unless turned off (GPUs keep torch, in bf16 or fp16 there)."""
    return pictures_through_onnxruntime(torch.device(device).type)


def graph_key(*parts: str) -> str:
    """A cache name from what determines the graph (weights' fingerprints, picture size, what it returns).

    >>> graph_key("a", "224") == graph_key("a", "224") != graph_key("a", "160")
    True
    """
    h = hashlib.sha256(f"v{GRAPH_VERSION}\0{torch.__version__}".encode())
    for part in parts:
        h.update(str(part).encode() + b"\0")
    return h.hexdigest()[:32]


def onnx_runner(
    module: torch.nn.Module, size: int, key: str, threads: int | None = None, build: bool = True
) -> Runner | None:
    """``module`` (pixel_values -> tensor) run by onnxruntime from the cached graph ``key``, built and checked
    on first use (unless not ``build``); None when there is none (then the caller runs ``module`` with torch)."""
    path = cache_dir("onnx") / key / "model.onnx"
    try:
        if path.is_file():
            touch(path.parent)
            session = _session(path, threads)
        elif build:
            session = _build(module, size, path, threads)
        else:
            return None
    except Exception as exc:  # noqa: BLE001 - any failure here only costs speed: torch runs the module instead
        log.info("Pictures run through torch: the ONNX graph could not be made or checked (%s).", str(exc)[:300])
        shutil.rmtree(path.parent, ignore_errors=True)
        return None

    def run(pixel_values: torch.Tensor) -> torch.Tensor:
        (out,) = session.run(None, {"pixel_values": pixel_values.detach().float().cpu().numpy()})
        return torch.from_numpy(out)

    return run


def _session(path: Path, threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _build(module: torch.nn.Module, size: int, path: Path, threads: int | None):
    """Export ``module`` next to ``path``, check it against torch, and move it into place."""
    from engine.export.onnx import export_module, fixed_axes

    axes = {"pixel_values": {0: "batch"}}
    example = {"pixel_values": torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))}
    tmp = Path(tempfile.mkdtemp(dir=path.parent.parent, prefix=f".{path.parent.name}-"))
    try:
        export_module(module, example, axes, tmp / path.name, output="output")
        fixed = fixed_axes(tmp / path.name, axes)
        if fixed:
            raise ValueError(f"the exporter fixed {', '.join(fixed)}")
        session = _session(tmp / path.name, threads)
        pictures = torch.randn(CHECK_PICTURES, 3, size, size, generator=torch.Generator().manual_seed(1))
        with torch.inference_mode():
            expected = module.eval()(pictures).float().numpy()
        (got,) = session.run(None, {"pixel_values": pictures.numpy()})
        diff = float(np.abs(expected - got).max()) / max(1.0, float(np.abs(expected).max()))
        if not diff <= TOLERANCE:  # NaN fails too
            raise ValueError(f"onnxruntime differs from torch by {diff:.2g} (at most {TOLERANCE:g})")
        os.replace(tmp, path.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    evict("onnx", keep=path.parent)
    log.info("Pictures run through onnxruntime from now on (graph %s, checked to %.1e).", path.parent.name, diff)
    return _session(path, threads)
