"""Scores on new labeled data, as Try it shows them: the cards with their intervals, what was left out,
per-class scores and the confusion matrix. Torch-free; user text goes through ``markdown_text``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from engine.core.evaluation import Evaluation
from engine.core.words import markdown_text as md
from ui import charts


def confusion_matrix(labels: Sequence[str], matrix: Sequence[Sequence[int]], what: str) -> go.Figure:
    """The Results page's confusion matrix, titled for ``what`` it was measured on."""
    fig = charts.confusion_matrix_heatmap(labels, matrix)
    return fig.update_layout(title=f"Confusion matrix ({what})")


def per_class_table(per_class: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """One row per class: precision, recall, F1 and how many examples of it there were."""
    return pd.DataFrame(
        {
            "class": list(per_class),
            "precision": [s["precision"] for s in per_class.values()],
            "recall": [s["recall"] for s in per_class.values()],
            "F1": [s["f1"] for s in per_class.values()],
            "examples": [int(s["support"]) for s in per_class.values()],
        }
    )


def show_evaluation(evaluation: Evaluation, key: str) -> None:
    """The scores of a scored file that holds its true labels ("evaluation on new data")."""
    st.subheader("Scores on this file")
    st.caption(
        md(
            f"The true labels come from {evaluation.source}. These scores measure the model on new data as long as "
            "none of these examples was used to train it."
        )
    )
    metrics = evaluation.metrics
    if metrics is None:
        st.warning(md(evaluation.summary()), icon=":material/help:")
        for note in evaluation.notes():
            st.caption(md(note))
        return
    level = f"{metrics['confidence_level']:.0%} interval"
    cards = st.container(horizontal=True)
    for title, name in (("Accuracy", "accuracy"), ("Macro-F1", "macro_f1")):
        low, high = metrics[f"{name}_ci"]
        cards.metric(title, f"{metrics[name]:.3f}", help=f"{level}: {low:.3f} to {high:.3f}")
    cards.metric("Scored", f"{evaluation.scored:,} of {evaluation.rows:,}", help=f"{evaluation.unit}s scored")
    st.caption(md(evaluation.summary()))
    for note in evaluation.notes():
        st.warning(md(note), icon=":material/rule:")
    left, right = st.columns(2, gap="medium")
    left.plotly_chart(
        confusion_matrix(metrics["labels"], metrics["confusion_matrix"], "this file"), width="stretch", key=key
    )
    with right:
        st.markdown("**Per-class scores**")
        score = st.column_config.NumberColumn(format="%.3f")
        st.dataframe(
            per_class_table(metrics["per_class"]),
            hide_index=True,
            width="stretch",
            column_config={"precision": score, "recall": score, "F1": score},
        )
