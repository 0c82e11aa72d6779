"""The examples in the torch-free modules' docstrings run, so they stay true (STYLE.md point 15)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine/core", "engine/data", "engine/estimate")
MODULES = sorted(
    str(p.relative_to(ROOT).with_suffix("")).replace("/", ".")
    for package in PACKAGES
    for p in (ROOT / package).glob("*.py")
    if p.name != "__init__.py"
) + [
    "engine.estimate",
    "ui.format",
    "ui.setup",
    "engine.report.document",
    "engine.report.examples",
    "engine.adapt.batches",
    "engine.adapt.card",
    "bench.floors",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name, workspace):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (run it with -v)"
