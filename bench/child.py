"""One configuration of figure 4 in a fresh process, so its peak memory is its own.

    python -m bench.child SPEC.json RESULT.json

Started by ``python -m bench``; not meant to be run by hand.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    spec_path, result_path = (argv if argv is not None else sys.argv[1:])[:2]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    from bench.figures import measure_in_child

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    result = measure_in_child(spec)
    Path(result_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
