"""Try it: classify a text typed here or a picture, or a whole file or ZIP, with a completed run's model."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.core.csvsafe import table_csv_bytes
from engine.core.errors import TransferLabError
from engine.core.formats import archive_upload_types, image_upload_types, table_upload_types
from engine.core.predictor import PredictorProcess
from engine.core.rundir import RunDir
from engine.core.words import markdown_text as md
from engine.data.uploads import save_upload
from ui import charts
from ui.gallery import show_pictures
from ui.router import ensure_router
from ui.widgets import completed_runs, init_state, run_picker, show_error

PICTURE_SIDE = 256

ensure_router()
init_state({"try_result": None, "try_table": None, "try_image": None, "try_images": None})


# One loaded model per run, in its own process (the server never loads torch), shared by every
# session: it is only read (st.cache_resource). An evicted one's process ends with it.
@st.cache_resource(max_entries=2, show_spinner="Loading the model…")
def load_predictor(run_path: str, created_at: float | None) -> PredictorProcess:
    return PredictorProcess(RunDir(run_path).trained_model())


def predict_text(run_path: str, predictor: PredictorProcess) -> None:
    # A callback, so the click is handled before the page reruns.
    text = st.session_state.try_text
    if not text.strip():
        st.session_state.try_result = (run_path, text, None)
        return
    st.session_state.try_result = (run_path, text, predictor.predict([text])[0])


def single_text(run_path: str, predictor: PredictorProcess) -> None:
    st.subheader("Type a text")
    with st.form("try_form", border=False):
        st.text_area("Text", height=140, placeholder="Paste or type an example here…", key="try_text")
        st.form_submit_button("Predict", type="primary", on_click=predict_text, args=(run_path, predictor))
    result = st.session_state.try_result
    if not result or result[0] != run_path:
        return
    _, text, prediction = result
    if prediction is None:
        st.warning("Type a text first.")
        return
    prediction_view(prediction, key="probs")


def whole_file(run_path: str, predictor: PredictorProcess) -> None:
    st.subheader("Label a file")
    uploaded = st.file_uploader(
        "A file with a column of texts (a label column is not needed)", type=table_upload_types(), key="w_try_upload"
    )
    if uploaded is None:
        return
    key = (run_path, uploaded.file_id)
    if st.session_state.try_table is None or st.session_state.try_table[0] != key:
        try:
            path = save_upload(uploaded.getvalue(), uploaded.name)
            with st.spinner("Predicting…"):
                table, _skipped = predictor.predict_file(path)
        except TransferLabError as exc:
            show_error(exc)
            return
        st.session_state.try_table = (key, uploaded.name, table)
    _, name, table = st.session_state.try_table
    st.caption(f"{len(table):,} rows labelled. The first 100:")
    st.dataframe(table.head(100), width="stretch", hide_index=True)
    stem = name.rsplit(".", 1)[0]
    st.download_button(
        "Download with predictions (CSV)",
        data=table_csv_bytes(table),
        file_name=f"{stem}-predictions.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )


def prediction_view(prediction: dict, key: str) -> None:
    left, right = st.columns([1, 2])
    left.metric("Predicted label", md(prediction["label"]))  # a metric's value is Markdown
    left.metric("Confidence", f"{prediction['confidence']:.1%}")
    right.plotly_chart(charts.probability_bars(prediction["probabilities"]), width="stretch", key=key)


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
        st.session_state.try_image = (key, path, prediction)
    _, path, prediction = st.session_state.try_image
    left, right = st.columns([1, 3])
    with left:
        show_pictures([path], [uploaded.name], side=PICTURE_SIDE)
    with right:
        prediction_view(prediction, key="picture_probs")


def whole_zip(run_path: str, predictor: PredictorProcess) -> None:
    st.subheader("Label a ZIP of pictures")
    uploaded = st.file_uploader(
        "A ZIP of pictures, in folders or not (the folder names are not used)",
        type=archive_upload_types(),
        key="w_try_zip",
    )
    if uploaded is None:
        return
    key = (run_path, uploaded.file_id)
    if st.session_state.try_images is None or st.session_state.try_images[0] != key:
        try:
            path = save_upload(uploaded.getvalue(), uploaded.name)
            with st.spinner("Predicting…"):
                table, skipped = predictor.predict_file(path)
        except TransferLabError as exc:
            show_error(exc)
            return
        st.session_state.try_images = (key, uploaded.name, table, skipped)
    _, name, table, skipped = st.session_state.try_images
    st.caption(f"{len(table):,} pictures labelled. The first 100:")
    st.dataframe(
        table.head(100),
        width="stretch",
        hide_index=True,
        column_config={"confidence": st.column_config.ProgressColumn("confidence", min_value=0, max_value=1)},
    )
    st.download_button(
        "Download the predictions (CSV)",
        data=table_csv_bytes(table),
        file_name=f"{name.rsplit('.', 1)[0]}-predictions.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )
    if skipped:
        st.warning(f"Skipped {len(skipped):,} files that could not be read as pictures:")
        st.dataframe(pd.DataFrame(skipped, columns=["file", "reason"]), hide_index=True, width="stretch")


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
