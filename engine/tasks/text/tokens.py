"""Token ids in a memory-mapped Arrow file: what fine-tuning reads when the texts are too many for lists.

The whole-file path tokenises every training text into Python lists up front (``encode`` in
``engine.tasks.text.task``): about 100 bytes a token, gigabytes for a few million texts. For texts in Arrow
(``engine.data.large.ArrowTexts``), :func:`encode_to_arrow` tokenises ``READ_BATCH`` texts at a time into an
Arrow file of ``list<int32>`` (4 bytes a token, on disk), and :class:`TokenDataset` serves each example as
numpy views on the mapped file: ``len()`` of an example (what the Trainer's length-grouped sampler asks of
every one) reads no token, and the collator pads a batch from the views. Batches hold the same numbers as
the whole-file path's: the attention mask of an unpadded text is all ones, which the collator's padding
adds, and token type ids are kept only where the tokenizer gives a single text other than zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from engine.data.large import READ_BATCH, ArrowTexts, MappedFile, arrow_file, remove_file

DROP_PAGES_EVERY = 1_000  # examples read between giving the token file's pages back (see MappedFile)


class TokenDataset:
    """A map-style dataset of tokenised examples (``input_ids`` and ``labels``, and ``token_type_ids`` where
    they matter) whose ids stay in a memory-mapped Arrow file."""

    def __init__(self, mapped: MappedFile, labels: np.ndarray) -> None:
        self.mapped, self.reads = mapped, 0
        table = mapped.table
        self.keys = table.column_names
        self.labels = np.asarray(labels, dtype=np.int32)
        self.parts: list[dict[str, tuple[np.ndarray, np.ndarray]]] = []
        sizes = []
        for b in table.to_batches():
            self.parts.append({k: (_numpy(b.column(k).offsets), _numpy(b.column(k).values)) for k in self.keys})
            sizes.append(b.num_rows)
        self.starts = np.cumsum([0, *sizes], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(i)
        part = int(np.searchsorted(self.starts, i, side="right")) - 1
        j = i - int(self.starts[part])
        item: dict[str, Any] = {}
        for key, (offsets, values) in self.parts[part].items():
            item[key] = values[offsets[j] : offsets[j + 1]]
        item["labels"] = int(self.labels[i])
        self.reads += 1
        if self.reads % DROP_PAGES_EVERY == 0:
            self.mapped.drop_pages()
        return item


def _numpy(array: pa.Array) -> np.ndarray:
    return array.to_numpy(zero_copy_only=True)


def encode_to_arrow(tokenizer: Any, texts: ArrowTexts, labels: Sequence[int], max_length: int) -> TokenDataset:
    """The texts tokenised (cut at ``max_length``, unpadded) into a memory-mapped Arrow file, as a dataset."""
    path = arrow_file("tokens")
    writer = None
    keys: list[str] = ["input_ids"]
    try:
        for batch in texts.batches(READ_BATCH):
            enc = tokenizer(batch, truncation=True, max_length=max_length)
            if writer is None:
                types = enc.get("token_type_ids")
                if types is not None and any(any(row) for row in types):
                    keys.append("token_type_ids")
                schema = pa.schema([(k, pa.list_(pa.int32())) for k in keys])
                writer = pa.ipc.new_file(str(path), schema)
            writer.write_batch(pa.record_batch([pa.array(enc[k], type=pa.list_(pa.int32())) for k in keys], schema))
        if writer is None:  # no texts: an empty file of the right shape
            writer = pa.ipc.new_file(str(path), pa.schema([(k, pa.list_(pa.int32())) for k in keys]))
        writer.close()
        writer = None
        mapped = MappedFile(path)
    finally:
        if writer is not None:
            writer.close()
        remove_file(path)  # the mapping keeps the file's pages until the dataset is let go
    return TokenDataset(mapped, np.asarray(labels))
