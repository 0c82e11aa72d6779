"""Teach it your domain's language first: the Model page's optional domain-adaptation step.

The user uploads unlabeled texts (or takes the loaded data's texts without their labels), sees the method and
an estimate of the time, and starts an adaptation: a job like a training run (``engine.core.adapt_jobs``) that
a worker runs. This module shows its progress, offers cancel and resume, and, once it is done, the held-out
loss before and after and a button that makes the adapted model the one the classifier trains from. Adapted
models are also listed among the models (:func:`adapted_model_cards`).
"""

from __future__ import annotations

import dataclasses
import json
import statistics

import streamlit as st

from engine.core.adapt_jobs import (
    active,
    cancel_adaptation,
    expected_kind,
    latest_adaptation,
    resume_adaptation,
    start_adaptation,
)
from engine.core.adaptation import METHODS, AdaptConfig, choose_method, list_adapted_models
from engine.core.errors import TransferLabError
from engine.core.formats import MAX_FILE_BYTES, table_upload_types
from engine.core.jobs import refresh_status
from engine.core.rundir import ACTIVE, RunDir
from engine.core.words import markdown_text as md
from engine.data.text import load_unlabeled_texts
from engine.data.uploads import save_upload
from engine.estimate.adapt import estimate_adaptation
from engine.estimate.text import mean_tokens_from_chars
from ui import format as fmt
from ui import live
from ui.memo import memo
from ui.widgets import show_error

ADAPT_DEFAULTS = {
    "adapt_run": None,  # path of the adaptation this session follows (else the newest, after a refresh)
    "adapt_source": "upload",
    "adapt_data": None,  # the stored upload of unlabeled texts
    "adapt_steps": None,  # None until chosen: DEFAULT_STEPS
    "adapt_error": None,
}
SOURCES = {"upload": "Upload unlabeled texts", "data": "The texts of my data, without their labels"}
STEPS = [50, 100, 150, 300, 600, 1000, 0]  # 0: one pass over the texts (the epochs)
DEFAULT_STEPS = 150  # enough to help in the first measurement (engine.core.adaptation.ENCODER_METHOD's note)
POLL_EVERY_S = 1.5
EXPLANATION = (
    "Before the model learns your labels, let it read your domain's texts: it practises the way it was first "
    "trained (filling in hidden words, or predicting the next one) on your notes, contracts or tickets, and picks "
    "up their vocabulary and style. It can help when you have **many unlabeled texts and few labels**, and costs "
    "minutes before training. Measured here (README, Domain adaptation): on news articles it added 3.6 points to "
    "the frozen strategy at 100 labels and about half a point at 300 and 1,000, but nothing measurable with "
    "SetFit (the recommendation at 100 labels) or on movie-review sentiment, where the domain's words are not "
    "what decides the label. "
    "So try it and look: Results can train the same classifier without it, side by side."
)


@memo("Reading the texts…")
def unlabeled(path: str, column: str | None) -> dict:
    data = load_unlabeled_texts(path, column)
    return {
        "texts": len(data.texts),
        "column": data.text_column,
        "source": data.source,
        "warnings": data.warnings,
        "median_chars": statistics.median(len(t) for t in data.texts),
    }


def use_adapted(path: str) -> None:
    st.session_state.model = path
    st.session_state.w_model = path


def start(config_json: str) -> None:
    try:
        run = start_adaptation(AdaptConfig.from_dict(json.loads(config_json)))
    except TransferLabError as exc:
        st.session_state.adapt_error = str(exc)
        return
    st.session_state.adapt_error = None
    st.session_state.adapt_run = str(run.path)


def cancel(path: str) -> None:
    cancel_adaptation(RunDir(path))


def resume(path: str) -> None:
    try:
        resume_adaptation(RunDir(path))
    except TransferLabError as exc:
        st.session_state.adapt_error = str(exc)


def followed() -> RunDir | None:
    """The adaptation this session started, else the newest one (after a browser refresh)."""
    path = st.session_state.get("adapt_run")
    if path and RunDir(path).config_path.is_file():
        return RunDir(path)
    return latest_adaptation()


def adaptation_section(task_adapts: bool) -> None:
    """The optional expander; nothing for a kind of data whose models cannot be adapted (pictures)."""
    if not task_adapts:
        return
    for key, value in ADAPT_DEFAULTS.items():
        st.session_state.setdefault(key, value)
    run = followed()
    # Open while one runs, and once this session chose texts or started one (its result shows here).
    opened = (run is not None and active(run)) or bool(st.session_state.adapt_run or st.session_state.adapt_data)
    with st.expander("Teach it your domain's language first (optional)", expanded=opened, icon=":material/school:"):
        st.markdown(EXPLANATION)
        choose_and_start()
        if st.session_state.adapt_error:
            st.error(md(st.session_state.adapt_error), icon=":material/error:")
        if run is not None:
            state = run.status().get("state")
            if state in ACTIVE:  # polled; the whole page runs again when it ends
                st.fragment(run_every=POLL_EVERY_S)(adaptation_view)(str(run.path), state)
            else:  # not in a fragment: its buttons change the model field above, which a fragment's run would not
                adaptation_view(str(run.path), state)


def texts_path() -> tuple[str | None, str | None]:
    """(the unlabeled texts' file, its text column or None to guess) from the chosen source."""
    state = st.session_state
    sources = [s for s in SOURCES if s != "data" or state.get("data_path")]
    if state.adapt_source not in sources:
        state.adapt_source = "upload"
    source = st.radio("Texts to learn from", sources, format_func=SOURCES.get, horizontal=True, key="w_adapt_source")
    state.adapt_source = source
    if source == "data":
        st.caption(f"The texts of {md(state.get('data_name') or 'your data')}; their labels are not used.")
        return state.data_path, state.get("text_column")
    uploaded = st.file_uploader(
        "Unlabeled texts: a table with a column of texts, or a .txt file with one text per line",
        type=table_upload_types(),
        key="w_adapt_upload",
        help=f"CSV, TSV, JSON, JSON Lines, Parquet, Excel, or .txt with one text per line. At least 50 different "
        f"texts; up to {MAX_FILE_BYTES // 1024**2} MB.",
    )
    if uploaded is not None:
        try:
            state.adapt_data = str(save_upload(uploaded.getvalue(), uploaded.name))
        except TransferLabError as exc:
            show_error(exc)
            return None, None
    return state.adapt_data, None


def choose_and_start() -> None:
    state = st.session_state
    path, column = texts_path()
    if not path:
        return
    try:
        texts = unlabeled(path, column)
    except TransferLabError as exc:
        show_error(exc)
        return
    where = f"column '{texts['column']}' of " if texts["column"] else ""
    st.caption(md(f"{texts['texts']:,} different texts in the {where}{texts['source']}."))
    for warning in texts["warnings"]:
        st.caption(md(warning))

    model = str(state.get("model") or "").strip()
    kind = expected_kind(model)
    if kind is not None:
        method = METHODS[choose_method(kind)]
        st.markdown(f"**Method for {md(model)}: {md(method.title)}.** {md(method.description)}")
    else:
        st.markdown(
            f"**Method:** chosen for {md(model)} when it starts: {md(METHODS['mlm'].title.lower())} for a BERT-style "
            f"encoder, {md(METHODS['clm'].title.lower())} for a GPT-style decoder."
        )
    steps = st.select_slider(
        "Training steps (16 texts each)",
        STEPS,
        value=state.adapt_steps if state.adapt_steps in STEPS else DEFAULT_STEPS,
        format_func=lambda n: f"{n:,}" if n else "one pass over the texts",
        key="w_adapt_steps",
        help="More steps read more of your texts and take longer. A few hundred already help.",
    )
    state.adapt_steps = steps
    try:
        config = AdaptConfig(data=path, text_column=column, model=model, max_steps=steps)
    except TransferLabError as exc:
        show_error(exc)
        return
    method = choose_method(kind or "encoder")
    try:
        est, n_steps = estimate_adaptation(
            config, texts["texts"], method, mean_tokens_from_chars(texts["median_chars"])
        )
        st.caption(
            f"Estimated time: about {fmt.seconds(est.seconds)} for {n_steps:,} steps on {md(est.device)}, and "
            f"{fmt.size(est.memory_bytes)} of memory; the real time can differ."
        )
        if est.warning:
            st.warning(md(est.warning))
    except TransferLabError as exc:
        st.info(f"No estimate for this model yet: {md(exc)}", icon=":material/info:")
    st.button(
        "Start adapting",
        icon=":material/play_arrow:",
        on_click=start,
        args=(json.dumps(dataclasses.asdict(config)),),
        key="adapt_start",
        disabled=not model,
    )


def adaptation_view(path: str, shown_state: str) -> None:
    """The followed adaptation: progress while it runs, what it changed once it is done."""
    run = RunDir(path)
    status = refresh_status(run)
    state = status.get("state")
    if state != shown_state and shown_state in ACTIVE and state not in ACTIVE:
        st.rerun()  # done: the whole page again, with the adapted model among the models
    config = run.config() or {}
    st.markdown(f"**Adaptation of {md(config.get('model', ''))} to {md(_name(config.get('data')))}**: {md(state)}")
    if state in ACTIVE:
        fraction, words = live.progress(status)
        st.progress(fraction, text=md(f"{status.get('message', '')} · {words}" if words else status.get("message")))
        st.button("Cancel adapting", icon=":material/stop:", on_click=cancel, args=(path,), key="adapt_cancel")
        return
    if state in ("failed", "cancelled"):
        st.warning(md(status.get("message", "")), icon=":material/warning:")
        st.button("Resume adapting", icon=":material/replay:", on_click=resume, args=(path,), key="adapt_resume")
        return
    metrics = run.metrics() or {}
    if state != "completed" or "loss_before" not in metrics:
        st.caption(md(status.get("message", "")))
        return
    cols = st.columns(3)
    cols[0].metric(
        "Held-out loss",
        f"{metrics['loss_after']:.3f}",
        delta=f"{metrics['loss_after'] - metrics['loss_before']:+.3f} from {metrics['loss_before']:.3f}",
        delta_color="inverse",
    )
    cols[1].metric(
        "Perplexity",
        f"{metrics['perplexity_after']:.2f}",
        delta=f"{metrics['perplexity_after'] - metrics['perplexity_before']:+.2f} from "
        f"{metrics['perplexity_before']:.2f}",
        delta_color="inverse",
    )
    cols[2].metric("Time", fmt.seconds(metrics.get("train_seconds")), help=f"{metrics.get('steps', 0):,} steps")
    st.caption(f"Measured as the {md(metrics.get('method_loss', 'loss'))}: lower means it reads your domain better.")
    chosen = st.session_state.get("model") == path
    st.button(
        "Selected: the classifier trains from the adapted model" if chosen else "Train the classifier from it",
        icon=":material/check:" if chosen else ":material/arrow_upward:",
        on_click=use_adapted,
        args=(path,),
        key="adapt_use",
        disabled=chosen,
        type="primary",
    )


def _name(path: object) -> str:
    return str(path or "").replace("\\", "/").rsplit("/", 1)[-1]


def adapted_model_cards() -> None:
    """The completed adaptations as cards beside the catalog's models, each with its button."""
    found = list_adapted_models()
    if not found:
        return
    st.caption("Your adapted models (taught your domain's language first):")
    for start_at in range(0, len(found), 3):
        for col, facts in zip(st.columns(3), found[start_at : start_at + 3], strict=False):
            with col.container(border=True):
                st.markdown(f"**{md(facts['title'])}**")
                st.caption(
                    f"{md(METHODS[facts['method']].title) if facts.get('method') in METHODS else ''} · "
                    f"{facts.get('steps', 0):,} steps · perplexity {facts.get('perplexity_before', 0):.2f} → "
                    f"{facts.get('perplexity_after', 0):.2f}"
                )
                chosen = st.session_state.get("model") == facts["path"]
                st.button(
                    "Selected" if chosen else "Use this model",
                    key=f"use:{facts['path']}",
                    on_click=use_adapted,
                    args=(facts["path"],),
                    disabled=chosen,
                    type="primary" if chosen else "secondary",
                )
