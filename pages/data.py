"""Data: upload a labeled file or a ZIP of pictures (or take a demo), see what the engine makes of it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from engine.core.config import TrainConfig
from engine.core.errors import TransferLabError
from engine.core.formats import (
    MAX_FILE_BYTES,
    archive_upload_types,
    is_image_data,
    label_table_upload_types,
    table_upload_types,
)
from engine.core.metrics import small_split_warning
from engine.core.tasks import get_task, task_of_data
from engine.core.words import markdown_text as md
from engine.core.workspace import PROJECT_ROOT
from engine.data import images, tables
from engine.data import text as text_data
from engine.data.columns import guess_columns
from engine.data.dataset import counted_labels, training_splits
from engine.data.large import is_large
from engine.data.uploads import list_uploads, record_training_data, save_upload
from ui import charts, gate, large_data
from ui import format as fmt
from ui.gallery import show_pictures
from ui.memo import memo
from ui.router import ensure_router
from ui.setup import NOTE_KEY as SETUP_NOTE
from ui.state import DATA_DEFAULTS, MODEL_DEFAULTS, match_model_to_task
from ui.widgets import init_state, show_error

DEMOS = {"demo": PROJECT_ROOT / "data" / "spam_emails.csv", "demo_images": PROJECT_ROOT / "data" / "fashion_demo.zip"}
THUMBS_PER_CLASS = 6
THUMBS_CLASSES = 20  # classes shown with thumbnails; more would make a very long page
SOURCES = {
    "upload": "Upload a file",
    "demo": "Use the demo data (spam e-mails)",
    "demo_images": "Use the demo pictures (Fashion)",
    "earlier": "An earlier file",
    "path": "A file on this computer (any size)",
}
_DEFAULTS = TrainConfig(data="-")

ensure_router()
init_state({**DATA_DEFAULTS, **MODEL_DEFAULTS, "data_source": "upload", "data_file_path": ""})


# Uploads are stored by content hash, so a path always means the same bytes and is a safe cache key.
@memo("Reading the file…")
def read_table(path: str):
    return tables.read_table(path)


@memo("Checking the data…")
def load_dataset(path: str, text_column: str, label_column: str) -> text_data.TextDataset:
    return text_data.load_text_dataset(path, text_column, label_column)


@memo("Unpacking and checking the pictures…")
def load_pictures(path: str, labels_file: str | None) -> images.ImageDataset:
    return images.load_image_dataset(path, labels_file)


@memo()
def describe_pictures(path: str, labels_file: str | None) -> dict:
    dataset = load_pictures(path, labels_file)
    return {
        **images.describe_images(dataset),
        "samples": images.sample_images(dataset, per_class=THUMBS_PER_CLASS),
        "root": dataset.root,
    }


def keep_choice(name: str, key: str) -> None:
    """Kept as soon as the browser reports it: opening another page right after would interrupt this
    page's run before the choice is copied further down."""
    if st.session_state.get(name) != st.session_state[key]:
        st.session_state[name] = st.session_state[key]
        st.session_state.data_summary = None  # checked again when the page runs


def store_upload(uploaded) -> str | None:
    """The stored path of an uploaded file, saved once per upload (not on every rerun)."""
    saved = st.session_state.setdefault("saved_uploads", {})
    if uploaded.file_id not in saved:
        try:
            saved[uploaded.file_id] = str(save_upload(uploaded.getvalue(), uploaded.name))
        except TransferLabError as exc:
            show_error(exc)
            return None
    return saved[uploaded.file_id]


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
        on_change=keep_choice,
        args=("data_source", "w_data_source"),
    )
    st.session_state.data_source = source
    if source == "demo":
        st.caption(
            "5,882 e-mails from the SpamAssassin public corpus, labelled ham or spam (see data/README.md). "
            "A good first run: MiniLM with the frozen or LoRA strategy."
        )
        return str(DEMOS[source])
    if source == "demo_images":
        st.caption(
            "1,000 small grayscale pictures of clothes from Fashion-MNIST, 100 in each of 10 classes "
            "(see data/README.md). A good first run: EfficientNet-Lite0 with the frozen strategy."
        )
        return str(DEMOS[source])
    if source == "earlier":
        by_path = {u["path"]: u for u in uploads}
        paths = list(by_path)
        current = st.session_state.data_path
        st.caption(
            "Files uploaded here before that were ready to train on, the one used last first. Files labelled on "
            "Try it and files that had a problem are not listed."
        )
        return st.selectbox(
            "Earlier files",
            paths,
            index=paths.index(current) if current in paths else 0,
            key="w_earlier_upload",
            format_func=lambda p: upload_label(by_path[p]),
        )
    if source == "path":
        return choose_path()
    uploaded = st.file_uploader(
        "A file with one column of texts and one of labels, or a ZIP of pictures with one folder per class",
        type=[*table_upload_types(), *archive_upload_types()],
        help=f"Texts: CSV, TSV, JSON, JSON Lines, Parquet or Excel. Pictures: a ZIP of JPEG, PNG, BMP, WebP or GIF "
        f"images in one folder per class (cat/1.jpg, dog/2.jpg, ...). Up to {MAX_FILE_BYTES // 1024**2} MB; a larger "
        "table can be given by its path on this computer (the last choice above).",
    )
    if uploaded is None:
        # Keep the file chosen earlier in this session (the uploader forgets it when the page changes).
        if st.session_state.data_path and st.session_state.data_path not in {str(p) for p in DEMOS.values()}:
            st.caption(f"Using {md(st.session_state.data_name)}. Upload another file to replace it.")
            return st.session_state.data_path
        return None
    return store_upload(uploaded)


def choose_path() -> str | None:
    """A labeled table given by its path on this machine: how files over the upload limit come in."""
    st.caption(md(large_data.UPLOAD_LIMIT_NOTE))
    typed = st.text_input(
        "Path of a labeled table on this computer",
        value=st.session_state.data_file_path,
        placeholder="/data/reviews.csv",
        key="w_data_file_path",
        on_change=keep_choice,
        args=("data_file_path", "w_data_file_path"),
    )
    st.session_state.data_file_path = typed
    if not typed.strip():
        return None
    problem = gate.data_problem_when_shared(typed)  # decided before the path is looked at
    if problem:
        st.error(md(problem), icon=":material/error:")
        return None
    try:
        return large_data.checked_path(typed)
    except TransferLabError as exc:
        show_error(exc)
        return None


def upload_label(upload: dict) -> str:
    """E.g. "tickets.csv (1,204 rows, 3 classes; 85 KB, used 2026-12-02 16:10)"."""
    unit = "pictures" if is_image_data(upload["name"]) else "rows"
    return (
        f"{upload['name']} ({upload['rows']:,} {unit}, {upload['classes']} classes; {fmt.size(upload['size'])}, "
        f"used {fmt.when(upload['validated_at'])})"
    )


def pick_columns(path: str, columns: list[str], guessed: tuple[str | None, str | None]) -> tuple[str, str]:
    if st.session_state.get("columns_for") != path:
        # A new file: start from the engine's guess.
        st.session_state.columns_for = path
        st.session_state.text_column, st.session_state.label_column = guessed
    text_default = st.session_state.text_column if st.session_state.text_column in columns else columns[0]
    label_default = st.session_state.label_column if st.session_state.label_column in columns else columns[-1]
    left, right = st.columns(2)
    text = left.selectbox(
        "Text column",
        columns,
        index=columns.index(text_default),
        key=f"text_col:{path}",
        on_change=keep_choice,
        args=("text_column", f"text_col:{path}"),
    )
    label = right.selectbox(
        "Label column",
        columns,
        index=columns.index(label_default),
        key=f"label_col:{path}",
        on_change=keep_choice,
        args=("label_column", f"label_col:{path}"),
    )
    st.session_state.text_column, st.session_state.label_column = text, label
    return text, label


def show_dataset(path: str) -> None:
    st.session_state.data_summary = None
    if is_large(path):
        show_large_dataset(path)
        return
    try:
        df, read_warnings = read_table(path)
    except TransferLabError as exc:
        show_error(exc)
        return
    for warning in read_warnings:
        st.warning(md(warning))

    columns = [str(c) for c in df.columns]
    chosen = choose_columns(path, df)
    if chosen is None:
        return
    text_column, label_column = chosen

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
            st.warning(md(warning))

    summary = text_data.describe(dataset)
    counts = summary["class_counts"]
    st.subheader("Classes")
    st.plotly_chart(charts.class_counts_bar(counts), width="stretch", key="class_counts")

    sizes = show_split(dataset, "Examples")
    if sizes is None:
        return
    lengths = summary["text_length"]
    st.caption(
        f"Split per class with seed {_DEFAULTS.seed}. Text length in characters: median {lengths['median']:,}, "
        f"95% have at most {lengths['p95']:,}, the longest {lengths['max']:,}."
    )
    st.session_state.data_summary = {**summary, **sizes}
    record_training_data(
        path, rows=len(dataset), classes=len(counts), text_column=text_column, label_column=label_column
    )
    st.success(f"Ready: {len(dataset):,} examples in {len(counts)} classes.", icon=":material/check_circle:")
    st.page_link("pages/model.py", label="Next: choose a model and a strategy", icon=":material/arrow_forward:")


def choose_columns(path: str, table) -> tuple[str, str] | None:
    """The text and label columns: guessed from ``table`` (the file, or its first rows) and offered for the user to
    change; None, with the reason shown, when the table has fewer than two columns."""
    columns = [str(c) for c in table.columns]
    try:
        guessed: tuple[str | None, str | None] = guess_columns(table, source=Path(path).name)
    except TransferLabError as exc:
        if len(columns) < 2:
            show_error(exc)
            return None
        st.info(f"{md(exc)} Pick the columns below.")
        guessed = (None, None)
    st.subheader("Columns")
    return pick_columns(path, columns, guessed)


def show_large_dataset(path: str) -> None:
    """A table too large to read whole: its first rows, and the counts of one pass over it (as training reads it)."""
    mtime = Path(path).stat().st_mtime
    try:
        sample = large_data.first_rows(path, mtime)
    except TransferLabError as exc:
        show_error(exc)
        return
    chosen = choose_columns(path, sample)
    if chosen is None:
        return
    text_column, label_column = chosen
    st.subheader("Preview")
    st.caption(
        f"The first {len(sample):,} rows of a {fmt.size(Path(path).stat().st_size)} file (row numbers as in your "
        "file). It is too large to read whole: it is counted in one pass below, and training reads it from disk."
    )
    st.dataframe(sample, width="stretch", height=240)
    try:
        summary = large_data.page_summary(large_data.summarize(path, mtime, text_column, label_column))
    except TransferLabError as exc:
        show_error(exc)
        return
    for warning in summary["warnings"]:
        st.warning(md(warning))
    counts = summary["class_counts"]
    st.subheader("Classes")
    st.plotly_chart(charts.class_counts_bar(counts), width="stretch", key="class_counts")
    sizes = show_split(counted_labels(counts, source=Path(path).name), "Examples")
    if sizes is None:
        return
    lengths = summary["text_length"]
    st.caption(
        f"Counted in one pass over every row; split per class with seed {_DEFAULTS.seed}. Text length in "
        f"characters: median {lengths['median']:,}, 95% have at most {lengths['p95']:,}, the longest {lengths['max']:,}."
    )
    st.session_state.data_summary = {**summary, **sizes}
    record_training_data(
        path, rows=summary["rows"], classes=len(counts), text_column=text_column, label_column=label_column
    )
    st.success(f"Ready: {summary['rows']:,} examples in {len(counts)} classes.", icon=":material/check_circle:")
    st.page_link("pages/model.py", label="Next: choose a model and a strategy", icon=":material/arrow_forward:")


def show_split(dataset, unit: str) -> dict[str, int] | None:
    """The train/validation/test sizes the engine will use (same fractions and seed), or None after an error."""
    try:
        splits, notes = training_splits(
            dataset,
            validation_fraction=_DEFAULTS.validation_fraction,
            test_fraction=_DEFAULTS.test_fraction,
            seed=_DEFAULTS.seed,
        )
    except TransferLabError as exc:
        show_error(exc)
        return None
    st.subheader("Split")
    cols = st.columns(4)
    cols[0].metric(unit, f"{len(dataset):,}")
    cols[1].metric("Training", f"{len(splits.train):,}")
    cols[2].metric(
        "Validation",
        f"{len(splits.validation):,}",
        help="Fine-tuning (partial, LoRA, full, from scratch) keeps the model that scores best on it. Frozen and "
        "SetFit learn from these examples too: they choose their settings by cross-validation.",
    )
    cols[3].metric("Test", f"{len(splits.test):,}", help="Held out until the end: the Results page scores on it.")
    for note in notes:
        st.caption(md(note))
    unit = get_task(st.session_state.data_task).unit
    for name, part in (("validation", splits.validation), ("test", splits.test)):
        warning = small_split_warning(part.class_counts(), name, unit) if len(part) else None
        if warning:
            st.warning(md(warning), icon=":material/warning:")
    return {"n_train": len(splits.train), "n_validation": len(splits.validation), "n_test": len(splits.test)}


def forget_labels_file() -> None:
    st.session_state.image_labels = st.session_state.image_labels_name = None
    st.session_state.labels_uploader += 1  # a fresh (empty) uploader


def choose_labels_file(path: str) -> str | None:
    """Pictures without class folders: an optional table of file names and labels, uploaded beside the ZIP."""
    st.session_state.setdefault("labels_uploader", 0)
    if st.session_state.get("image_labels_for") != path:
        # Another ZIP: a labels file belongs to the ZIP it was given with.
        st.session_state.image_labels_for = path
        st.session_state.image_labels = st.session_state.image_labels_name = None
    if path == str(DEMOS["demo_images"]):
        return None
    with st.expander(
        "Labels file (only for a ZIP without class folders)", expanded=bool(st.session_state.image_labels)
    ):
        uploaded = st.file_uploader(
            "A table with two columns: the image file name (as in the ZIP) and its label",
            type=label_table_upload_types(),
            key=f"w_image_labels:{st.session_state.labels_uploader}",
            help="Not needed when each class's pictures are in a folder named after the class.",
        )
        if uploaded is not None:
            stored = store_upload(uploaded)
            if stored is not None:
                st.session_state.image_labels, st.session_state.image_labels_name = stored, uploaded.name
        if st.session_state.image_labels:
            st.caption(f"The classes come from {md(st.session_state.image_labels_name)}.")
            st.button("Use the class folders instead", key="w_drop_image_labels", on_click=forget_labels_file)
    return st.session_state.image_labels


def show_pictures_dataset(path: str) -> None:
    st.session_state.data_summary = None
    labels_file = choose_labels_file(path)
    try:
        summary = describe_pictures(path, labels_file)
        dataset = load_pictures(path, labels_file)
    except TransferLabError as exc:
        show_error(exc)
        return
    for warning in summary["warnings"]:
        st.warning(md(warning))
    if summary["skipped"]:
        with st.expander(f"Skipped pictures ({len(summary['skipped']):,})"):
            st.dataframe(pd.DataFrame(summary["skipped"]), hide_index=True, width="stretch")

    counts = summary["class_counts"]
    sizes = summary["image_size"]
    st.subheader("Pictures")
    st.caption(
        f"{summary['rows']:,} pictures in {len(counts)} classes; typical size "
        f"{sizes['median_width']}×{sizes['median_height']} pixels (from {sizes['sampled']:,} of them). "
        "A few of each class:"
    )
    samples = summary["samples"]
    for label in list(samples)[:THUMBS_CLASSES]:
        paths = samples[label]
        st.markdown(f"**{md(label)}** · {counts.get(label, 0):,} pictures")
        show_pictures(paths, [Path(p).name for p in paths])
    if len(samples) > THUMBS_CLASSES:
        st.caption(f"Thumbnails of the first {THUMBS_CLASSES} classes of {len(samples)}.")

    st.subheader("Classes")
    st.plotly_chart(charts.class_counts_bar(counts, title="Pictures per class"), width="stretch", key="class_counts")
    split = show_split(dataset, "Pictures")
    if split is None:
        return
    st.caption(f"Split per class with seed {_DEFAULTS.seed}.")
    st.session_state.data_summary = {**summary, **split}
    record_training_data(path, rows=summary["rows"], classes=len(counts))
    st.success(f"Ready: {summary['rows']:,} pictures in {len(counts)} classes.", icon=":material/check_circle:")
    st.page_link("pages/model.py", label="Next: choose a model and a strategy", icon=":material/arrow_forward:")


# What the page shows for each kind of data.
VIEWS = {"text": show_dataset, "image": show_pictures_dataset}

st.title("Data")
st.caption(
    "Give TransferLab a file of texts with their labels, or a ZIP of pictures in one folder per class. "
    "Nothing in your files is changed."
)
for note in st.session_state.pop(SETUP_NOTE, None) or []:
    st.info(md(note), icon=":material/info:")  # what an earlier session chose and is gone
chosen = choose_file()
if chosen != st.session_state.data_path:
    st.session_state.data_path = chosen
    st.session_state.data_summary = None
if chosen is None:
    st.session_state.data_name = None
    if st.session_state.data_source != "path":
        st.info("Upload a file, or use the demo data to try TransferLab first.", icon=":material/upload_file:")
    elif not st.session_state.data_file_path.strip():  # a path typed and refused: its error says what to do
        st.info("Type the path of your labeled table above, then press Enter.", icon=":material/folder_open:")
else:
    st.session_state.data_name = Path(chosen).name
    st.session_state.data_task = task_of_data(chosen).name
    match_model_to_task(st.session_state)
    VIEWS[st.session_state.data_task](chosen)
