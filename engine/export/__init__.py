"""Models that leave TransferLab: a self-contained model folder (and ZIP), ONNX.

    python -m engine.export --run RUN_DIR --format folder|zip|onnx --out PATH

The formats and their words are in ``engine.core.exports``; each exporter is a module here with
``export(run_dir, out, format_name) -> dict`` (what it wrote, printed as JSON by the command).
"""
