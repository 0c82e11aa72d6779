"""Data: upload a labeled file (or take the demo data), pick the columns, see what the engine makes of it."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from engine import data as engine_data
from engine.config import TrainConfig
from engine.errors import TransferLabError
from engine.uploads import list_uploads, save_upload
from engine.workspace import PROJECT_ROOT
from ui import charts
from ui import format as fmt
from ui.router import ensure_router
from ui.state import DATA_DEFAULTS
from ui.widgets import init_state, show_error

DEMO = PROJECT_ROOT / "data" / "spam_emails.csv"
UPLOAD_TYPES = ["csv", "tsv", "txt", "json", "jsonl", "ndjson", "parquet", "pq", "xlsx", "xls"]
IMBALANCE_WARNING = 3.0  # largest class over smallest
SOURCES = {
    "upload": "Upload a file",
    "demo": "Use the demo data (spam e-mails)",
    "earlier": "An earlier upload",
}
_DEFAULTS = TrainConfig(data="-")

ensure_router()
init_state({**DATA_DEFAULTS, "data_source": "upload"})


# Uploads are stored by content hash, so a path always means the same bytes and is a safe cache key.
@st.cache_data(show_spinner="Reading the file…", max_entries=8)
def read_table(path: str):
    return engine_data.read_table(path)


@st.cache_data(show_spinner="Checking the data…", max_entries=16)
def load_dataset(path: str, text_column: str, label_column: str) -> engine_data.TextDataset:
    return engine_data.load_text_dataset(path, text_column, label_column)


def choose_file() -> str | None:
    """The source radio and its widget; returns the chosen file's path."""
    uploads = list_uploads()
    sources = [s for s in SOURCES if s != "earlier" or uploads]
    if st.session_state.data_source not in sources:
        st.session_state.data_source = "upload"
    source = st.radio(
        "Where is your data?",
        sources,
        index=sources.index(st.session_state.data_source),
        format_func=SOURCES.get,
        horizontal=True,
        key="w_data_source",
    )
    st.session_state.data_source = source
    if source == "demo":
        st.caption(
            "5,882 e-mails from the SpamAssassin public corpus, labelled ham or spam (see data/README.md). "
            "A good first run: MiniLM with the frozen or LoRA strategy."
        )
        return str(DEMO)
    if source == "earlier":
        by_path = {u["path"]: u for u in uploads}
        paths = list(by_path)
        current = st.session_state.data_path
        return st.selectbox(
            "Earlier uploads",
            paths,
            index=paths.index(current) if current in paths else 0,
            key="w_earlier_upload",
            format_func=lambda p: (
                f"{by_path[p]['name']} ({fmt.size(by_path[p]['size'])}, uploaded {fmt.when(by_path[p]['uploaded_at'])})"
            ),
        )
    uploaded = st.file_uploader(
        "A file with one column of texts and one of labels",
        type=UPLOAD_TYPES,
        help=f"CSV, TSV, JSON, JSON Lines, Parquet or Excel, up to {engine_data.MAX_FILE_BYTES // 1024**2} MB.",
    )
    if uploaded is None:
        # Keep the file chosen earlier in this session (the uploader forgets it when the page changes).
        if st.session_state.data_path and st.session_state.data_path != str(DEMO):
            st.caption(f"Using {st.session_state.data_name}. Upload another file to replace it.")
            return st.session_state.data_path
        return None
    saved = st.session_state.setdefault("saved_uploads", {})
    if uploaded.file_id not in saved:  # store each upload once, not on every rerun
        try:
            saved[uploaded.file_id] = str(save_upload(uploaded.getvalue(), uploaded.name))
        except TransferLabError as exc:
            show_error(exc)
            return None
    return saved[uploaded.file_id]


def pick_columns(path: str, columns: list[str], guessed: tuple[str | None, str | None]) -> tuple[str, str]:
    if st.session_state.get("columns_for") != path:
        # A new file: start from the engine's guess.
        st.session_state.columns_for = path
        st.session_state.text_column, st.session_state.label_column = guessed
    text_default = st.session_state.text_column if st.session_state.text_column in columns else columns[0]
    label_default = st.session_state.label_column if st.session_state.label_column in columns else columns[-1]
    left, right = st.columns(2)
    text = left.selectbox("Text column", columns, index=columns.index(text_default), key=f"text_col:{path}")
    label = right.selectbox("Label column", columns, index=columns.index(label_default), key=f"label_col:{path}")
    st.session_state.text_column, st.session_state.label_column = text, label
    return text, label


def show_dataset(path: str) -> None:
    st.session_state.data_summary = None
    try:
        df, read_warnings = read_table(path)
    except TransferLabError as exc:
        show_error(exc)
        return
    for warning in read_warnings:
        st.warning(warning)

    columns = [str(c) for c in df.columns]
    try:
        guessed: tuple[str | None, str | None] = engine_data.guess_columns(df, source=Path(path).name)
    except TransferLabError as exc:
        if len(columns) < 2:
            show_error(exc)
            return
        st.info(f"{exc} Pick the columns below.")
        guessed = (None, None)

    st.subheader("Columns")
    text_column, label_column = pick_columns(path, columns, guessed)

    st.subheader("Preview")
    st.caption(f"{len(df):,} rows, {len(columns)} columns (the first 50 rows; row numbers as in your file).")
    st.dataframe(df.head(50), width="stretch", height=240)

    try:
        dataset = load_dataset(path, text_column, label_column)
    except TransferLabError as exc:
        show_error(exc)
        return
    for warning in dataset.warnings:
        if warning not in read_warnings:
            st.warning(warning)

    summary = engine_data.describe(dataset)
    counts = summary["class_counts"]
    st.subheader("Classes")
    st.plotly_chart(charts.class_counts_bar(counts), width="stretch", key="class_counts")
    ratio = charts.imbalance_ratio(counts)
    if ratio >= IMBALANCE_WARNING:
        smallest = min(counts, key=counts.get)
        largest = max(counts, key=counts.get)
        st.warning(
            f"The classes are imbalanced: '{largest}' has {counts[largest]:,} examples, '{smallest}' only "
            f"{counts[smallest]:,} ({ratio:.0f} to 1). Accuracy can look good while '{smallest}' is mostly missed: "
            "watch macro-F1 and the per-class scores on the Results page, or add examples of the small classes."
        )

    try:
        splits = engine_data.make_splits(
            dataset,
            validation_fraction=_DEFAULTS.validation_fraction,
            test_fraction=_DEFAULTS.test_fraction,
            seed=_DEFAULTS.seed,
        )
    except TransferLabError as exc:
        show_error(exc)
        return
    st.subheader("Split")
    cols = st.columns(4)
    cols[0].metric("Examples", f"{len(dataset):,}")
    cols[1].metric("Training", f"{len(splits.train):,}")
    cols[2].metric("Validation", f"{len(splits.validation):,}", help="Checked after every epoch to keep the best.")
    cols[3].metric("Test", f"{len(splits.test):,}", help="Held out until the end: the Results page scores on it.")
    lengths = summary["text_length"]
    st.caption(
        f"Split per class with seed {_DEFAULTS.seed}. Text length in characters: median {lengths['median']:,}, "
        f"95% are under {lengths['p95']:,}, the longest {lengths['max']:,}."
    )

    st.session_state.data_summary = {
        **summary,
        "n_train": len(splits.train),
        "n_validation": len(splits.validation),
        "n_test": len(splits.test),
    }
    st.success(f"Ready: {len(dataset):,} examples in {len(counts)} classes.", icon=":material/check_circle:")
    st.page_link("pages/model.py", label="Next: choose a model and a strategy", icon=":material/arrow_forward:")


st.title("Data")
st.caption("Give TransferLab a file of texts with their labels. Nothing in your file is changed.")
chosen = choose_file()
if chosen != st.session_state.data_path:
    st.session_state.data_path = chosen
    st.session_state.data_summary = None
if chosen is None:
    st.session_state.data_name = None
    st.info("Upload a file, or use the demo data to try TransferLab first.", icon=":material/upload_file:")
else:
    st.session_state.data_name = Path(chosen).name
    show_dataset(chosen)
