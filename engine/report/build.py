"""The whole report: a title, a comparison when there are several runs, then one chapter per run."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from plotly.offline import get_plotlyjs

from engine.core.compare import (
    data_description,
    display_names,
    interval_bounds,
    shared_majority_share,
    split_differences,
)
from engine.core.reporting import interval_words
from engine.core.words import format_params, format_seconds
from engine.report.document import Charts, esc, page, table, warning
from engine.report.facts import RunFacts, read_run
from engine.report.figures import sized
from engine.report.sections import SECTIONS, chapter
from ui import charts as ui_charts


def contents(facts: Sequence[RunFacts], names: Sequence[str]) -> str:
    """A table of contents: the sections, for each run when there are several."""
    if len(facts) == 1:
        items = "".join(f'<li><a href="#{key}">{esc(title)}</a></li>' for key, title in SECTIONS)
        return f"<nav><ol>{items}</ol></nav>"
    items = "".join(f'<li><a href="#compare">Comparison of the {len(facts)} runs</a></li>')
    for i, name in enumerate(names):
        items += f'<li><a href="#run{i + 1}-data">{esc(name)}</a></li>'
    return f"<nav><ol>{items}</ol></nav>"


def comparison(facts: Sequence[RunFacts], names: Sequence[str], chart: Charts) -> str:
    """The runs side by side; a warning naming what differs when they were not trained and tested alike."""
    out = ['<h2 id="compare">Comparison</h2>']
    differences = split_differences({name: f.config for name, f in zip(names, facts, strict=True)})
    if differences:
        out.append(
            warning(
                "These runs were not trained and tested on the same data and split, so their scores are not "
                "comparable: they learned from, or were scored on, different examples. What differs: "
                + "; ".join(differences)
                + "."
            )
        )
    else:
        out.append(
            "<p>These runs share their data and split (data file, columns, seed, validation and test fractions), so "
            "their test scores compare; a difference inside the 95% intervals may still be chance.</p>"
        )
    rows, frame = [], []
    for name, f in zip(names, facts, strict=True):
        m = f.metrics
        rows.append(
            [
                name,
                m.get("model") or f.config.get("model"),
                m.get("strategy"),
                data_description(f.config),
                f"{m['accuracy']:.3f} ({interval_words(m.get('accuracy_ci')).replace('95% interval ', '')})",
                f"{m['macro_f1']:.3f} ({interval_words(m.get('macro_f1_ci')).replace('95% interval ', '')})",
                format_seconds(m.get("train_seconds")),
                format_params(m.get("trainable_params")),
            ]
        )
        low, high = interval_bounds(m.get("accuracy_ci"))
        frame.append(
            {
                "name": name,
                "accuracy": m.get("accuracy"),
                "accuracy_low": low,
                "accuracy_high": high,
                "train_seconds": m.get("train_seconds"),
                "trainable_params": m.get("trainable_params"),
            }
        )
    out.append(
        table(
            [
                "run",
                "model",
                "strategy",
                "data",
                "accuracy (95% interval)",
                "macro-F1 (95% interval)",
                "time",
                "trained",
            ],
            rows,
        )
    )
    baseline = None if differences else shared_majority_share([f.metrics for f in facts])
    out.append(chart(sized(ui_charts.runs_scatter(pd.DataFrame(frame), baseline=baseline))))
    out.append(chart(sized(ui_charts.validation_overlay({n: f.events for n, f in zip(names, facts, strict=True)}))))
    return "".join(out)


def build_report(runs: Sequence[str | Path], explain: bool = True) -> str:
    """The report of one or more completed runs as one self-contained HTML document."""
    facts = [read_run(path) for path in runs]
    names = display_names([{"run": f.run.name, "name": f.name} for f in facts])
    chart = Charts()
    made = time.strftime("%Y-%m-%d %H:%M")
    if len(facts) == 1:
        title = f"Report: {names[0]}"
        body = chapter(facts[0], chart, "", explain)
    else:
        title = f"Report: {len(facts)} runs compared"
        body = comparison(facts, names, chart) + "".join(
            f'<section class="chapter"><h1>{esc(name)}</h1>{chapter(f, chart, f"run{i + 1}-", explain)}</section>'
            for i, (name, f) in enumerate(zip(names, facts, strict=True))
        )
    head = (
        f"<h1>{esc(title)}</h1><p class='muted'>Made by TransferLab on {esc(made)} from "
        f"{esc(', '.join(str(f.run.path) for f in facts))}. Everything in this file works offline.</p>"
    )
    return page(title, head + contents(facts, names) + body, get_plotlyjs() if chart.count else None)
