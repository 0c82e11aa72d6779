"""The performance benchmark: ``python -m bench`` (``make bench``).

Measures, in one run on one machine, on the bundled MiniLM and the demo spam e-mails:

1. the engine's training throughput against a bare PyTorch loop on the same model, batches and
   optimizer (the engine's overhead);
2. the engine (dynamic padding, length-grouped batches) against the standard recipe (every text
   padded to 128, random batches): samples/s and test accuracy after the same epochs;
3. ``frozen`` with cached features against running the backbone every epoch, 5 epochs;
4. ``lora`` against ``full``: throughput and peak memory, each in a fresh process;
5. achieved training FLOP/s of full fine-tuning as a share of the machine's own matmul peak;
6. inference samples/s of ``engine.predict.Predictor``;

and, on a GPU, the model FLOPs utilisation of a BERT-base-sized full fine-tuning. Every figure is
a median of repeats after a warm-up, with min and max. It prints a table and writes
``bench/results.json``; ``--quick`` runs the whole thing on a tiny model in well under two minutes.
``--data FILE`` measures on a user's labeled file instead of the e-mails, and ``--only padding,...``
a subset of the figures (``bench/selection.py``); ``python -m bench.short_texts`` writes a CSV of short
public reviews, where figure 2's dynamic padding has something to save.
"""
