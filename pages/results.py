"""Results: how well a completed run does on its held-out test split, and its model to take away."""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import streamlit as st

from engine.core.predictions import read_predictions as read_run_predictions
from engine.core.rundir import RunDir
from engine.core.tasks import get_task
from engine.core.words import markdown_text as md
from ui import charts
from ui.downloads import zip_folder
from ui.gallery import show_pictures
from ui.memo import memo
from ui.router import ensure_router
from ui.widgets import completed_runs, metric_cards, run_picker

MISCLASSIFIED_SHOWN = 200
GALLERY_SHOWN = 24  # misclassified test pictures shown as thumbnails
GALLERY_SIDE = 160

ensure_router()


@memo()
def read_predictions(path: str, mtime: float) -> pd.DataFrame:
    return read_run_predictions(path)


def mistakes_gallery(wrong: pd.DataFrame) -> None:
    """The most confident wrong predictions as pictures, captioned "true → predicted (confidence)"."""
    paths, captions = [], []
    for row in wrong.itertuples(index=False):  # most confident first
        if len(paths) == GALLERY_SHOWN:
            break
        if Path(str(getattr(row, "path", ""))).is_file():  # the unpacked upload may have been cleaned up
            paths.append(row.path)
            captions.append(f"{row.true_label} → {row.predicted_label} ({row.confidence:.0%})")
    if not paths:
        st.caption("The test pictures are no longer on this computer, so only their names are listed below.")
        return
    show_pictures(paths, captions, side=GALLERY_SIDE)


def show_run(run: RunDir) -> None:
    metrics = run.metrics() or {}
    config = run.config() or {}
    task = get_task(metrics.get("task") or "text")
    unit = f"{task.unit}s"
    sizes = " / ".join(f"{metrics[k]:,} {k.split('_')[0]}" for k in ("train_examples", "test_examples") if k in metrics)
    size = f" · {metrics['image_size']}×{metrics['image_size']} pixels" if metrics.get("image_size") else ""
    st.caption(
        f"{md(config.get('model'))} · {md(config.get('strategy'))} · data {md(Path(str(config.get('data', ''))).name)} · "
        f"{sizes} {unit}{size} · {md(metrics.get('device', ''))}"
    )
    metric_cards(metrics)
    for warning in metrics.get("data_warnings") or []:
        st.caption(f"Data note: {md(warning)}")
    notes = metrics.get("notes") or []
    if notes:
        with st.expander("How this model was trained and chosen", expanded=metrics.get("validation_examples") == 0):
            for note in notes:
                st.text(f"• {note}")  # plain text: notes quote class names from the data

    left, right = st.columns(2)
    if metrics.get("confusion_matrix"):
        left.plotly_chart(
            charts.confusion_matrix_heatmap(metrics["labels"], metrics["confusion_matrix"]),
            width="stretch",
            key="confusion",
        )
    if metrics.get("per_class"):
        right.plotly_chart(charts.per_class_bars(metrics["per_class"]), width="stretch", key="per_class")

    st.subheader("Training curves")
    events = run.events()
    left, right = st.columns(2)
    left.plotly_chart(charts.loss_curve(events), width="stretch", key="loss")
    right.plotly_chart(charts.metric_curve(events), width="stretch", key="val_metrics")

    st.subheader(f"Misclassified test {unit}")
    if run.predictions_path.exists():
        predictions = read_predictions(str(run.predictions_path), run.predictions_path.stat().st_mtime)
        wrong = predictions[predictions["correct"].astype(str) != "True"].sort_values("confidence", ascending=False)
        if wrong.empty:
            st.success(f"Every test {task.unit} was classified correctly.")
        else:
            st.caption(
                f"{len(wrong):,} of {len(predictions):,} test {unit}, the most confident mistakes first "
                "(those are worth a look: sometimes the label is wrong, not the model)."
            )
            if "path" in wrong:  # pictures: the most confident mistakes as thumbnails
                mistakes_gallery(wrong)
            column = predictions.columns[0]  # what names the example: its text, or the picture's file
            st.dataframe(
                wrong.head(MISCLASSIFIED_SHOWN)[[column, "true_label", "predicted_label", "confidence"]],
                hide_index=True,
                width="stretch",
                column_config={
                    column: st.column_config.TextColumn(column, width="large"),
                    "confidence": st.column_config.ProgressColumn("confidence", min_value=0, max_value=1),
                },
            )

    st.subheader("Downloads")
    left, right = st.columns(2)
    if run.predictions_path.exists():
        left.download_button(
            "Test predictions (CSV)",
            data=run.predictions_path.read_bytes,
            file_name=f"{run.name}-predictions.csv",
            mime="text/csv",
            icon=":material/download:",
            on_click="ignore",
        )
    if run.model_dir.is_dir():
        right.download_button(
            "Model folder (ZIP)",
            # Built only when clicked: a fully fine-tuned model is hundreds of MB.
            data=functools.partial(zip_folder, run.model_dir, run.name),
            file_name=f"{run.name}-model.zip",
            mime="application/zip",
            icon=":material/download:",
            on_click="ignore",
            help="Load it with engine.predict (Predictor('folder')), or its backbone/adapter with "
            "transformers/peft. The README.md inside describes the model.",
        )
        card = run.model_dir / "README.md"
        if card.exists():
            with st.expander("Model card"):
                st.markdown(card.read_text(encoding="utf-8"))


st.title("Results")
runs = completed_runs()
if not runs:
    st.info("No completed runs yet. Train a model first; its results appear here.", icon=":material/hourglass_empty:")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/arrow_forward:")
else:
    picked = run_picker(runs, key="w_results_run")
    show_run(RunDir(picked["path"]))
