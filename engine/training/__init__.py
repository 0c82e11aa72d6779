"""The training loop that drives any Task (``engine.tasks``), and what it writes into the run directory."""
