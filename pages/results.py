"""Results: how well a completed run does on its held-out test split, and its model to take away."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from engine.core.adapt_jobs import model_title
from engine.core.metrics import top_confusions
from engine.core.predictions import read_mistakes as read_run_mistakes
from engine.core.reporting import split_front_matter
from engine.core.rundir import MAX_NAME_CHARS, MAX_NOTE_CHARS, RunDir
from engine.core.tasks import get_task
from engine.core.tracking import tracking_caption, tracking_record
from engine.core.words import markdown_text as md
from ui import charts
from ui.baselines import run_baselines
from ui.explain import explain_mistakes
from ui.export import model_downloads
from ui.gallery import show_pictures
from ui.memo import memo
from ui.prove_it import prove_it, with_without
from ui.report import report_downloads
from ui.router import ensure_router
from ui.studies import studies
from ui.widgets import completed_runs, evaluation_notes, metric_cards, run_picker, training_curves

MISCLASSIFIED_SHOWN = 200
GALLERY_SHOWN = 24  # misclassified test pictures shown as thumbnails
GALLERY_SIDE = 160

ensure_router()


@memo()
def read_mistakes(path: str, mtime: float) -> tuple[pd.DataFrame, int, int]:
    """The most confident mistakes (as many as are shown), how many are wrong, how many test examples."""
    return read_run_mistakes(path, MISCLASSIFIED_SHOWN)


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


def save_about(run_path: str) -> None:
    try:
        RunDir(run_path).set_about(st.session_state.w_about_name, st.session_state.w_about_note)
    except (ValueError, OSError) as exc:
        st.session_state.about_error = str(exc)
    else:
        st.session_state.about_error = None


def about_run(run: RunDir) -> None:
    """The run's note, and its name and note to edit."""
    about = run.about()
    if about["note"]:
        st.caption(f"Note: {md(about['note'])}")
    with st.expander("Name and note"):
        # The fields show this run's words (and a run picked later shows its own).
        if st.session_state.get("about_for") != str(run.path):
            st.session_state.about_for = str(run.path)
            st.session_state.w_about_name, st.session_state.w_about_note = about["name"], about["note"] or ""
        st.text_input("Name", key="w_about_name", max_chars=MAX_NAME_CHARS)
        st.text_area("Note", key="w_about_note", max_chars=MAX_NOTE_CHARS, height=80)
        st.button("Save", key="save_about", on_click=save_about, args=(str(run.path),))
        if st.session_state.get("about_error"):
            st.error(md(st.session_state.about_error), icon=":material/error:")


def show_run(run: RunDir) -> None:
    metrics = run.metrics() or {}
    config = run.config() or {}
    task = get_task(metrics.get("task") or "text")
    unit = f"{task.unit}s"
    sizes = " / ".join(f"{metrics[k]:,} {k.split('_')[0]}" for k in ("train_examples", "test_examples") if k in metrics)
    size = f" · {metrics['image_size']}×{metrics['image_size']} pixels" if metrics.get("image_size") else ""
    st.caption(
        f"{md(model_title(config.get('model', '')))} · {md(config.get('strategy'))} · data {md(Path(str(config.get('data', ''))).name)} · "
        f"{sizes} {unit}{size} · {md(metrics.get('device', ''))}"
    )
    tracked = tracking_caption(tracking_record(run.path))
    if tracked:
        st.caption(md(tracked))
    about_run(run)
    metric_cards(metrics)
    run_baselines(metrics, task.examples)
    evaluation_notes(metrics, task.unit)
    for warning in metrics.get("data_warnings") or []:
        st.caption(f"Data note: {md(warning)}")
    notes = metrics.get("notes") or []
    if notes:
        with st.expander("How this model was trained and chosen", expanded=metrics.get("validation_examples") == 0):
            for note in notes:
                st.text(f"• {note}")  # plain text: notes quote class names from the data

    # The class charts side by side while they are narrow enough to read, else one above the other.
    labels, matrix = metrics.get("labels") or [], metrics.get("confusion_matrix")
    left, right = (st.container(),) * 2 if len(labels) > charts.SIDE_BY_SIDE_MAX_CLASSES else st.columns(2)
    if matrix:
        left.plotly_chart(charts.confusion_matrix_heatmap(labels, matrix), width="stretch", key="confusion")
    if metrics.get("per_class"):
        per_class = metrics["per_class"]  # in the matrix's order (metrics.json sorts its keys)
        per_class = {k: per_class[k] for k in labels if k in per_class} | per_class
        right.plotly_chart(charts.per_class_bars(per_class), width="stretch", key="per_class")
    if matrix:
        st.markdown("##### Most frequent mistakes")
        mistakes = top_confusions(labels, matrix)
        if mistakes:
            st.caption(
                "Which class was taken for which, most often first; the share is of the true class's test examples."
            )
            st.table(  # Markdown cells: class names go through md
                pd.DataFrame(
                    {
                        "true class": [md(m["true"]) for m in mistakes],
                        "predicted as": [md(m["predicted"]) for m in mistakes],
                        "test examples": [f"{m['count']:,}" for m in mistakes],
                        "share of the true class": [f"{m['share']:.0%}" for m in mistakes],
                    }
                ),
                hide_index=True,
            )
        else:
            st.caption("No mistakes on the test split.")

    st.subheader("Training curves")
    training_curves(run.events(), metrics.get("strategy"), metrics.get("head"), finished=True, key="results")
    with_without(run, metrics)
    prove_it(run, metrics)
    studies(run, metrics)

    st.subheader(f"Misclassified test {unit}")
    if run.predictions_path.exists():
        wrong, n_wrong, n_predictions = read_mistakes(str(run.predictions_path), run.predictions_path.stat().st_mtime)
        if not n_wrong:
            st.success(f"Every test {task.unit} was classified correctly.")
        else:
            st.caption(
                f"{n_wrong:,} of {n_predictions:,} test {unit}, the most confident mistakes first "
                "(those are worth a look: sometimes the label is wrong, not the model)."
            )
            if "path" in wrong:  # pictures: the most confident mistakes as thumbnails
                mistakes_gallery(wrong)
            column = wrong.columns[0]  # what names the example: its text, or the picture's file
            st.dataframe(
                wrong.head(MISCLASSIFIED_SHOWN)[[column, "true_label", "predicted_label", "confidence"]],
                hide_index=True,
                width="stretch",
                column_config={
                    column: st.column_config.TextColumn(column, width="large"),
                    "true_label": st.column_config.TextColumn("true label"),
                    "predicted_label": st.column_config.TextColumn("predicted label"),
                    "confidence": st.column_config.ProgressColumn("confidence", min_value=0, max_value=1),
                },
            )
            explain_mistakes(run, wrong, labels, GALLERY_SIDE)

    st.subheader("Downloads")
    report_downloads(run.path, run.name)
    if run.predictions_path.exists():
        st.download_button(
            "Test predictions (CSV)",
            data=run.predictions_path.read_bytes,
            file_name=f"{run.name}-predictions.csv",
            mime="text/csv",
            icon=":material/download:",
            on_click="ignore",
        )
    if run.model_dir.is_dir():
        model_downloads(run)
        card = run.model_dir / "README.md"
        if card.exists():
            with st.expander("Model card"):
                st.markdown(split_front_matter(card.read_text(encoding="utf-8"))[1])  # the YAML is for the Hub


st.title("Results")
runs = completed_runs()
if not runs:
    st.info("No completed runs yet. Train a model first; its results appear here.", icon=":material/hourglass_empty:")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/arrow_forward:")
else:
    picked = run_picker(runs, key="w_results_run")
    show_run(RunDir(picked["path"]))
