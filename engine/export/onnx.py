"""ONNX export: a run's whole classifier as one graph that onnxruntime runs without torch or TransferLab.

    python -m engine.export --run RUN_DIR --format onnx --out DIR

``DIR`` holds ``model.onnx`` (backbone, pooling, normalisation, head and softmax: inputs in, class
probabilities out), ``config.json`` (labels, input names, max length, the rules predict.py shares
with TransferLab), ``tokenizer.json`` (texts) or ``preprocessing.json`` (pictures), ``predict.py``
(:mod:`engine.export.onnx_predict`, copied), ``README.md`` and ``export.json`` (the check below).

The model is loaded as ``engine.predict`` loads it (a LoRA adapter merged into its backbone). Before
the folder is put in place, a handful of the run's own test examples go through both paths, the
engine's and the exported one (the tokenizer file or the picture preparation included), and the
export is refused when any probability differs by more than :data:`TOLERANCE`.

What differs between texts and pictures (inputs, the files beside the graph, the examples checked)
lives in one class per task, :data:`engine.export.onnx_tasks.GRAPHS`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.core.errors import ConfigError, ModelNotAvailableError, StorageError, storage_problem
from engine.core.policy import UNCERTAIN_BELOW, UNCERTAIN_MARGIN
from engine.core.rundir import RunDir
from engine.core.tasks import get_task
from engine.export import onnx_predict
from engine.export.onnx_tasks import GRAPHS, Graph
from engine.tasks.base import read_model_meta

log = logging.getLogger(__name__)

FORMAT = "transferlab-onnx-classifier"
FORMAT_VERSION = 1
OPSET = 18  # the dynamo exporter's own default; onnxruntime 1.17 and later run it
TOLERANCE = 1e-4  # largest difference in any class probability between the engine and onnxruntime
# Weights in one file up to this size; protobuf cannot hold 2 GB, larger models keep them in model.onnx.data.
INLINE_WEIGHTS_BYTES = 1_800_000_000


# --- the graph -----------------------------------------------------------------------------------------
def write_graph(graph: Graph, path: Path) -> str:
    """Trace the run's classifier (with its softmax) into ``path``; returns the exporter used."""
    module = graph.wrapper(graph.model.classifier).eval()
    return export_module(module, graph.example(), graph.dynamic_axes, path, output="probabilities")


def export_module(
    module: torch.nn.Module,
    example: dict[str, torch.Tensor],
    dynamic_axes: dict[str, dict[int, str]],
    path: Path,
    output: str,
) -> str:
    """Trace ``module`` (called with ``example``'s names as keyword arguments) into ``path`` with dynamic
    axes; returns the exporter used.

    The dynamo exporter (``torch.export``) first; the TorchScript one when it fails. Either way the
    graph's inputs must come out with named, not fixed, dynamic axes (:func:`fixed_axes` checks).
    """
    module = module.eval()
    names = list(example)
    inline = sum(p.numel() * p.element_size() for p in module.parameters()) < INLINE_WEIGHTS_BYTES
    dynamic = {name: {axis: torch.export.Dim.DYNAMIC for axis in axes} for name, axes in dynamic_axes.items()}
    with quiet_exporter(), torch.no_grad():
        try:
            torch.onnx.export(
                module,
                (),
                str(path),
                kwargs=example,
                dynamo=True,
                dynamic_shapes=dynamic,
                input_names=names,
                output_names=[output],
                opset_version=OPSET,
                external_data=not inline,
            )
            exporter = "dynamo"
        except Exception as exc:  # noqa: BLE001 - torch.export refuses some models; the older exporter may not
            log.info("The dynamo ONNX exporter failed (%s); using the TorchScript exporter.", str(exc)[:300])
            for leftover in path.parent.glob(path.name + "*"):
                leftover.unlink()
            torch.onnx.export(
                module,
                tuple(example.values()),
                str(path),
                dynamo=False,
                input_names=names,
                output_names=[output],
                dynamic_axes={**dynamic_axes, output: {0: "batch"}},
                opset_version=OPSET,
            )
            exporter = "torchscript"
    return exporter


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """The exporter's progress lines, warnings and notes at debug level: the command's stdout is its JSON answer.

    Among them, warnings about operators of packages that are not installed (torchvision's), which no
    classifier here uses.
    """
    chatter = io.StringIO()
    # The operator registry's warnings, and onnx_ir's notes on each graph pass (at INFO, like ours).
    loggers = [
        logging.getLogger(name) for name in ("torch.onnx._internal.exporter._registration", "onnx_ir", "onnxscript")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(chatter):
            warnings.simplefilter("always")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        for line in chatter.getvalue().splitlines():
            log.debug("%s", line)
        for w in caught:
            log.debug("ONNX export warning: %s", w.message)


def fixed_axes(path: Path, dynamic_axes: dict[str, dict[int, str]]) -> list[str]:
    """The graph inputs' axes that should be dynamic but were fixed to the traced example's size."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    fixed = []
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        for axis in dynamic_axes.get(value.name, {}):
            if axis >= len(dims) or dims[axis].HasField("dim_value"):
                fixed.append(f"{value.name}[{axis}]")
    return fixed


# --- the folder ----------------------------------------------------------------------------------------
README = """# {title}: ONNX export from TransferLab

Run `{run}` ({strategy} on `{base_model}`), classes: {labels}.

- `model.onnx`: the whole classifier; inputs {inputs}, output `probabilities` (one row per example, one
  column per class, in the order of `labels` in `config.json`). Opset {opset}; any ONNX runtime runs it.
- `config.json`: the labels, the input names, the batch size predict.py uses and the rule that flags a
  prediction `uncertain`.
{files}
- `predict.py`: predicts on a file, needing only `onnxruntime`, `numpy` and {needs}
  (no torch, no TransferLab, no pandas):

      pip install onnxruntime numpy {pip}
      python predict.py {example} --out predictions.csv

  It writes {columns}, then `predicted_label`, `confidence`, `uncertain` and one `prob_<label>` column per
  class, like TransferLab's `python -m engine.predict`.
- `export.json`: the check made when exporting: the largest difference between TransferLab's
  probabilities and this model's on {checked} of the run's test examples was {diff:.1e}.
"""


def export(run_dir: str | Path, out: str | Path, format_name: str = "onnx") -> dict[str, Any]:
    """Write the run's classifier as an ONNX folder ``out`` (which must not exist) and check it."""
    run = RunDir(run_dir)
    model_dir = run.trained_model()
    out = Path(out)
    if out.exists():
        raise ConfigError(f"{out} already exists. Choose a new folder name for the export, or remove that one first.")
    meta = read_model_meta(model_dir)
    graph = GRAPHS[meta["task"]](model_dir, run)
    try:
        return write_folder(graph, meta, run, out, format_name)
    except OSError as exc:
        problem = storage_problem(exc, out.parent, "export again")
        if problem is None:
            raise
        raise StorageError(problem) from exc


def write_folder(graph: Graph, meta: dict[str, Any], run: RunDir, out: Path, format_name: str) -> dict[str, Any]:
    """The folder written beside ``out`` and renamed into place only once the check has passed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        started = time.monotonic()
        exporter = write_graph(graph, tmp / onnx_predict.MODEL_FILE)
        fixed = fixed_axes(tmp / onnx_predict.MODEL_FILE, graph.dynamic_axes)
        if fixed:
            raise ModelNotAvailableError(
                f"This run's model cannot be exported as ONNX: the exporter fixed {', '.join(fixed)} to the size of "
                "its example, so other batch sizes or text lengths would fail. Export it as a model folder instead."
            )
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "task": meta["task"],
            "labels": list(graph.model.label_names),
            "inputs": list(graph.dynamic_axes),
            "output": "probabilities",
            "opset": OPSET,
            "base_model": Path(meta["base_model"]).name
            if Path(meta["base_model"]).is_absolute()
            else meta["base_model"],
            "strategy": meta["strategy"],
            "normalize": bool(meta.get("normalize", False)),
            "batch_size": graph.batch_size,
            "uncertain": {"margin": UNCERTAIN_MARGIN, "below": UNCERTAIN_BELOW},
            **graph.write_files(tmp),
        }
        (tmp / onnx_predict.CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", "utf-8")
        shutil.copyfile(onnx_predict.__file__, tmp / "predict.py")

        names, expected, got = graph.check(tmp)
        diff = float(np.abs(expected - got).max()) if len(names) else 0.0
        if not diff <= TOLERANCE:  # NaN fails too
            raise ModelNotAvailableError(
                f"The ONNX export of this run's model does not reproduce it: on {len(names)} test examples a class "
                f"probability differs by {diff:.2g} from TransferLab's (at most {TOLERANCE:g} is accepted). "
                "Export it as a model folder instead, and tell the TransferLab developers which model it was."
            )
        check = {
            "max_abs_diff": diff,
            "tolerance": TOLERANCE,
            "examples_checked": names,
            "exporter": exporter,
            "opset": OPSET,
            "torch": torch.__version__,
            "onnxruntime": _version("onnxruntime"),
            "run": run.about()["name"],
            "seconds": round(time.monotonic() - started, 1),
        }
        (tmp / "export.json").write_text(json.dumps(check, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp made it private; the export is for others to read
        words = {**config, "image_size": config.get("image_size"), "max_length": config.get("max_length")}
        (tmp / "README.md").write_text(
            README.format(
                title=get_task(meta["task"]).title + " classifier",
                run=run.about()["name"],
                strategy=meta["strategy"],
                base_model=config["base_model"],
                labels=", ".join(f"`{n}`" for n in config["labels"]),
                inputs=", ".join(f"`{n}`" for n in config["inputs"]),
                opset=OPSET,
                checked=len(names),
                diff=diff,
                **{k: v.format(**words) for k, v in graph.readme.items()},
            ),
            encoding="utf-8",
        )
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("Exported %s as ONNX to %s (largest difference %.1e on %d examples).", run.path, out, diff, len(names))
    return {
        "format": format_name,
        "out": str(out),
        "files": sorted(p.name for p in out.iterdir()),
        "exporter": exporter,
        "max_abs_diff": diff,
        "examples_checked": len(names),
        "checked": names,
    }


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None
