"""A run's scores beside its baselines (the largest class, a classical model), on Results and Compare.

The sentences come from ``engine.core.baselines``; class names in them go through ``md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from engine.core.baselines import ORDER, baseline_rows, baseline_summary, baseline_warning, classical_note
from engine.core.compare import interval_text
from engine.core.words import markdown_text as md


def run_baselines(metrics: Mapping[str, Any], examples: str = "examples") -> None:
    """One line: points over each baseline; a warning when the model does not beat one clearly; the
    numbers with their intervals in an expander. Nothing for a run from before baselines were kept."""
    summary = baseline_summary(metrics)
    if summary is None:
        return
    warning = baseline_warning(metrics)
    if warning:
        st.warning(md(warning), icon=":material/warning:")
    else:
        st.markdown(f":material/check_circle: {md(summary)}")
    with st.expander("Baselines: the same test split, without pre-training"):
        if warning:
            st.markdown(md(summary))
        rows = [{column: md(value) for column, value in row.items()} for row in baseline_rows(metrics)]
        st.table(pd.DataFrame(rows), hide_index=True)  # Markdown cells: the largest class's name made inert
        note = classical_note(metrics, examples)
        st.caption(
            "Always answering the largest training class is the floor any model must clear; the classical model "
            f"is what a statistician would fit first, with no pre-trained knowledge. {md(note or '')}"
        )


def compare_baselines(metrics_by_run: Mapping[str, Mapping[str, Any]], same_split: bool) -> None:
    """The baselines of the compared runs: once when the runs share data and split (their baselines are
    the same), else one row per run and baseline."""
    rows = []
    for run, metrics in metrics_by_run.items():
        found = metrics.get("baselines") if isinstance(metrics.get("baselines"), Mapping) else {}
        for kind in ORDER:
            baseline = found.get(kind)
            if isinstance(baseline, Mapping) and isinstance(baseline.get("accuracy"), (int, float)):
                rows.append(
                    {
                        "run": run,
                        "baseline": str(baseline.get("name") or kind),
                        "accuracy": f"{baseline['accuracy']:.3f}",
                        "accuracy 95% interval": interval_text(baseline.get("accuracy_ci")),
                        "macro-F1": f"{baseline['macro_f1']:.3f}" if "macro_f1" in baseline else "n/a",
                        "macro-F1 95% interval": interval_text(baseline.get("macro_f1_ci")),
                    }
                )
    if not rows:
        return
    table = pd.DataFrame(rows)
    st.markdown("##### Baselines")
    scores = [c for c in table.columns if c not in ("run", "baseline")]
    distinct = table.drop_duplicates(subset=["baseline", *scores])
    every_run = set(table["run"]) == set(metrics_by_run)
    if same_split and every_run and len(distinct) == table["baseline"].nunique():
        shared = distinct.drop(columns="run")
        st.caption(
            "These runs share their data and split, so they share their baselines (fitted on the training split, "
            "scored on the same test split): a run should clear both, by more than the intervals."
        )
        st.dataframe(shared, hide_index=True, width="stretch")
    else:
        missing = [run for run in metrics_by_run if run not in set(table["run"])]
        st.caption(
            "Each run's baselines on its own test split"
            + (f" ({len(missing)} of these runs were trained before baselines were kept)." if missing else ".")
        )
        st.dataframe(table, hide_index=True, width="stretch")
