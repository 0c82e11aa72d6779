"""The torch-free core of the engine: what the dashboard may import.

Errors, the workspace, accepted file formats and limits, the run config and presets, the model
catalog and model resolution, the strategy registry, the task registry, hardware facts, the run
directory contract, locks and jobs. Nothing here imports torch, transformers or peft at import
time (``tests/test_architecture.py`` checks it); the few functions that need torch import it
inside, and only the worker process calls them.
"""
