"""One package per kind of data behind the Task interface (``engine.tasks.base``): ``text``, ``image``.

The registry that finds them is torch-free: ``engine.core.tasks``.
"""
