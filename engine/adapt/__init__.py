"""Domain adaptation (torch): continued pre-training of a text model on the user's unlabeled texts.

``objectives`` builds what the model learns from (masked words, TSDAE, next word) around the loaded
model, ``batches`` makes their batches (the masks and deletions seeded), ``run`` drives one adaptation
and writes its directory, and ``__main__`` is the command line. The settings and every number are in
``engine.core.adaptation``.
"""
