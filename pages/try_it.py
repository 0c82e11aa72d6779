"""Try it: classify a text typed here, or a whole file, with a completed run's model."""

from __future__ import annotations

import streamlit as st

from engine.errors import TransferLabError
from engine.predict import Predictor
from engine.uploads import save_upload
from ui import charts
from ui.router import ensure_router
from ui.widgets import completed_runs, init_state, run_picker, show_error

UPLOAD_TYPES = ["csv", "tsv", "txt", "json", "jsonl", "ndjson", "parquet", "pq", "xlsx", "xls"]

ensure_router()
init_state({"try_result": None, "try_table": None})


# One loaded model per run, shared by every session: it is only read (st.cache_resource).
@st.cache_resource(max_entries=2, show_spinner="Loading the model…")
def load_predictor(run_path: str, created_at: float | None) -> Predictor:
    return Predictor.from_run(run_path)


def predict_text(run_path: str, predictor: Predictor) -> None:
    # A callback, so the click is handled before the page reruns.
    text = st.session_state.try_text
    if not text.strip():
        st.session_state.try_result = (run_path, text, None)
        return
    st.session_state.try_result = (run_path, text, predictor.predict([text])[0])


def single_text(run_path: str, predictor: Predictor) -> None:
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
    left, right = st.columns([1, 2])
    left.metric("Predicted label", str(prediction["label"]))
    left.metric("Confidence", f"{prediction['confidence']:.1%}")
    right.plotly_chart(charts.probability_bars(prediction["probabilities"]), width="stretch", key="probs")


def whole_file(run_path: str, predictor: Predictor) -> None:
    st.subheader("Label a file")
    uploaded = st.file_uploader(
        "A file with a column of texts (a label column is not needed)", type=UPLOAD_TYPES, key="w_try_upload"
    )
    if uploaded is None:
        return
    key = (run_path, uploaded.file_id)
    if st.session_state.try_table is None or st.session_state.try_table[0] != key:
        try:
            path = save_upload(uploaded.getvalue(), uploaded.name)
            with st.spinner("Predicting…"):
                table = predictor.predict_table(path)
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
        data=table.to_csv(index=False).encode("utf-8"),
        file_name=f"{stem}-predictions.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )


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
        single_text(picked["path"], predictor)
        whole_file(picked["path"], predictor)
