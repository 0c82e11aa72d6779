"""Try it: classify a text typed here or a picture, or a whole file or ZIP, with a completed run's model.

A file that also holds the true labels (the run's label column, a ``label`` column, or pictures in
folders named after the classes) is scored as well: evaluation on new data.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.core.csvsafe import table_csv_bytes
from engine.core.errors import TransferLabError
from engine.core.evaluation import evaluate_table
from engine.core.formats import archive_upload_types, image_upload_types, table_upload_types
from engine.core.predictions import UNCERTAIN_RULE, skipped_summary, uncertain_summary, uncertainty
from engine.core.predictor import PredictorProcess
from engine.core.rundir import RunDir
from engine.core.words import listed
from engine.core.words import markdown_text as md
from engine.data.uploads import save_upload
from ui import charts
from ui.evaluation import show_evaluation
from ui.explain import HOW_PICTURE, heatmap_path, load_predictor, show_picture, show_text_explanation
from ui.router import ensure_router
from ui.widgets import completed_runs, init_state, run_picker, show_error

PICTURE_SIDE = 256  # the longest side of the picture shown; narrower where its column is narrower

ensure_router()
init_state({"try_result": None, "try_table": None, "try_image": None, "try_images": None})


def predict_text(run_path: str, predictor: PredictorProcess) -> None:
    # A callback, so the click is handled before the page reruns.
    text = st.session_state.try_text
    if not text.strip():
        st.session_state.try_result = (run_path, text, None, None)
        return
    # The explanation is asked for once the prediction is on screen (a long text takes seconds).
    st.session_state.try_result = (run_path, text, predictor.predict([text])[0], None)


def single_text(run_path: str, predictor: PredictorProcess) -> None:
    st.subheader("Type a text")
    with st.form("try_form", border=False):
        st.text_area("Text", height=140, placeholder="Paste or type an example here…", key="try_text")
        st.form_submit_button("Predict", type="primary", on_click=predict_text, args=(run_path, predictor))
    result = st.session_state.try_result
    if not result or result[0] != run_path:
        return
    _, text, prediction, explanation = result
    if prediction is None:
        st.warning("Type a text first.")
        return
    left, right = st.columns([1, 2], gap="medium")
    with left:
        prediction_summary(prediction)
    right.plotly_chart(charts.probability_bars(prediction["probabilities"]), width="stretch", key="probs")
    st.markdown("##### Why")
    if explanation is None:
        with st.spinner("Finding the words behind it…"):
            try:
                explanation = predictor.explain_texts([text])[0]
            except TransferLabError as exc:  # the prediction stands without its explanation
                explanation = str(exc)
        st.session_state.try_result = (run_path, text, prediction, explanation)
    if isinstance(explanation, dict):
        show_text_explanation(explanation, predictor.label_names, key="w_try_why", default=prediction["label"])
    elif explanation:
        st.caption(f"No explanation: {md(explanation)}")


def prediction_summary(prediction: dict) -> None:
    """The label, its probability and, for a close call, which classes it was between."""
    st.metric("Predicted label", md(prediction["label"]))  # a metric's value is Markdown
    st.metric("Confidence", f"{prediction['confidence']:.1%}")
    note = uncertainty(prediction["probabilities"])
    if note:
        st.warning(md(note), icon=":material/help:")


def scored_file(run_path: str, predictor: PredictorProcess, uploaded, state_key: str):
    """The upload with its predictions and the scores on it, computed once per file: ``(name, table, skipped,
    evaluation)``, or None after showing why it could not be read."""
    key = (run_path, uploaded.file_id)
    if st.session_state[state_key] is None or st.session_state[state_key][0] != key:
        try:
            path = save_upload(uploaded.getvalue(), uploaded.name)
            with st.spinner("Predicting…"):
                table, skipped = predictor.predict_file(path)
        except TransferLabError as exc:
            show_error(exc)
            return None
        label_column = (RunDir(run_path).config() or {}).get("label_column")
        evaluation = evaluate_table(table, predictor.label_names, label_column)
        st.session_state[state_key] = (key, uploaded.name, table, skipped, evaluation)
    return st.session_state[state_key][1:]


def last_scored(run_path: str, state_key: str):
    """The file scored last with this run, kept when the user visits another page and comes back (the
    upload widget forgets its file then), with a line saying so; None when there is none."""
    last = st.session_state[state_key]
    if last is None or last[0][0] != run_path:
        return None
    st.caption(f"The file scored last: {md(last[1])}. Upload another to replace it.")
    return last[1:]


def predictions_table(table: pd.DataFrame, name: str, unit: str, download: str) -> None:
    """How many were labelled and how many of them are uncertain, the first 100, and the whole table as a CSV."""
    count = table.shape[0]
    st.caption(f"{count:,} {unit}s labelled" + (". The first 100:" if count > 100 else ":"))
    st.dataframe(
        table.head(100),
        width="stretch",
        hide_index=True,
        column_config={
            "confidence": st.column_config.ProgressColumn("confidence", min_value=0, max_value=1),
            "uncertain": st.column_config.CheckboxColumn("uncertain", help=f"Uncertain when {UNCERTAIN_RULE}."),
            # Probabilities as 0.000 to 1.000, not 9e-07.
            **{c: st.column_config.NumberColumn(c, format="%.3f") for c in table.columns if str(c).startswith("prob_")},
        },
    )
    flagged = int(table["uncertain"].sum())
    summary = uncertain_summary(table["uncertain"].tolist(), unit)
    if flagged:
        st.warning(summary, icon=":material/help:")
    else:
        st.caption(summary)
    st.download_button(
        download,
        data=table_csv_bytes(table),
        file_name=f"{name.rsplit('.', 1)[0]}-predictions.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )


def whole_file(run_path: str, predictor: PredictorProcess) -> None:
    st.subheader("Label a file")
    uploaded = st.file_uploader(
        "A table with a column of texts, or a .txt file with one text per line. If the table also has the "
        "run's label column (or one named 'label'), the predictions are scored against it.",
        type=table_upload_types(),
        key="w_try_upload",
    )
    scored = scored_file(run_path, predictor, uploaded, "try_table") if uploaded else last_scored(run_path, "try_table")
    if scored is None:
        return
    name, table, skipped, evaluation = scored
    note = skipped_summary(skipped)
    if note:
        st.caption(md(note))
    predictions_table(table, name, "row", "Download with predictions (CSV)")
    if evaluation is not None:
        show_evaluation(evaluation, key="file_scores")


def single_picture(run_path: str, predictor: PredictorProcess) -> None:
    st.subheader("Upload a picture")
    uploaded = st.file_uploader("A picture", type=image_upload_types(), key="w_try_image")
    if uploaded is None:
        return
    key = (run_path, uploaded.file_id)
    if st.session_state.try_image is None or st.session_state.try_image[0] != key:
        try:
            path = str(save_upload(uploaded.getvalue(), uploaded.name))
            with st.spinner("Predicting…"):
                prediction = predictor.predict([path])[0]
        except TransferLabError as exc:
            show_error(exc)
            return
        with st.spinner("Finding where it looked…"):
            try:
                heat: dict | str = predictor.explain_image(path, heatmap_path(run_path, path, None))
            except TransferLabError as exc:  # the prediction stands without its heat map
                heat = str(exc)
        st.session_state.try_image = (key, path, prediction, heat)
    _, path, prediction, heat = st.session_state.try_image
    # Side by side, no columns inside columns: each picture takes at most its column's width, so it never
    # runs over the numbers beside it; on a phone the columns stack.
    picture_column, heat_column, right = st.columns([1, 1, 2], gap="medium")
    show_picture(picture_column, path, uploaded.name, PICTURE_SIDE)
    if isinstance(heat, dict):
        show_picture(heat_column, heat["heatmap"], f"Where it saw '{heat['target']}'", PICTURE_SIDE)
    elif heat:
        heat_column.caption(f"No heat map: {md(heat)}")
    with right:
        prediction_summary(prediction)
        st.plotly_chart(charts.probability_bars(prediction["probabilities"]), width="stretch", key="picture_probs")
    if isinstance(heat, dict):
        st.caption(HOW_PICTURE)


def whole_zip(run_path: str, predictor: PredictorProcess) -> None:
    st.subheader("Label a ZIP of pictures")
    uploaded = st.file_uploader("A ZIP of pictures, in folders or not", type=archive_upload_types(), key="w_try_zip")
    st.caption(
        md(
            f"A picture in a folder named after one of the model's classes ({listed(predictor.label_names)}) is "
            "taken to be of that class, and the predictions are scored against the folder names."
        )
    )
    scored = (
        scored_file(run_path, predictor, uploaded, "try_images") if uploaded else last_scored(run_path, "try_images")
    )
    if scored is None:
        return
    name, table, skipped, evaluation = scored
    predictions_table(table, name, "picture", "Download the predictions (CSV)")
    if skipped:
        st.warning(f"Skipped {len(skipped):,} files that could not be read as pictures:")
        st.dataframe(pd.DataFrame(skipped, columns=["file", "reason"]), hide_index=True, width="stretch")
    if evaluation is not None:
        show_evaluation(evaluation, key="zip_scores")


# What the page offers for each kind of data a model reads.
SECTIONS = {"text": (single_text, whole_file), "image": (single_picture, whole_zip)}

st.title("Try it")
runs = completed_runs()
if not runs:
    st.info("No completed runs yet. Train a model first, then try it here.", icon=":material/hourglass_empty:")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/arrow_forward:")
else:
    picked = run_picker(runs, key="w_try_run")
    try:
        # created_at tells apart a run deleted and re-created under the same name.
        predictor = load_predictor(picked["path"], picked.get("created_at"))
    except TransferLabError as exc:
        show_error(exc)
    else:
        for section in SECTIONS[predictor.task]:
            section(picked["path"], predictor)
