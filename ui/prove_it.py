"""Prove it, on Results: train the same model from scratch with the same budget, then show both side by side.
And for a run on an adapted model, the same classifier without the adaptation (:func:`with_without`).

The twin is started and found by ``engine.core.prove_it``; it trains in a worker like any run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from engine.core import jobs
from engine.core.adapt_compare import adaptation_gain, adaptation_of_run, rows, start_without, without_twin
from engine.core.errors import TransferLabError
from engine.core.prove_it import can_prove, side_by_side, start_prove_it, transfer_gain, twin_of
from engine.core.rundir import RunDir
from engine.core.words import markdown_text as md

POLL_EVERY_S = 5.0  # while the twin trains, how often its line is redrawn
ERROR = "prove_it_error"
BASE_ERROR = "with_without_error"


def start(path: str) -> None:
    try:
        twin = start_prove_it(RunDir(path))
    except TransferLabError as exc:
        st.session_state[ERROR] = str(exc)
        return
    st.session_state[ERROR] = None
    st.session_state.train_run = str(twin.path)  # the Train page follows it


def prove_it(run: RunDir, metrics: Mapping[str, Any]) -> None:
    """The Prove it button, the twin in training, or both runs side by side; nothing for a scratch run."""
    if not can_prove(metrics.get("strategy") or (run.config() or {}).get("strategy")):
        return
    st.subheader("Transfer vs scratch")
    twin = twin_of(run)
    state = jobs.refresh_status(twin).get("state") if twin is not None else None
    if twin is None or state not in ("completed", *jobs.ACTIVE):
        if twin is not None:
            st.warning(
                f"The scratch run '{md(twin.about()['name'])}' did not finish ({md(state)}: "
                f"{md(twin.status().get('message', ''))}). Start it again:",
                icon=":material/warning:",
            )
        st.caption(
            "Does the pre-trained knowledge matter here? Train the same architecture with random weights on the same "
            "data, split and seed, for the same number of epochs: the difference is what transfer bought."
        )
        st.button(
            "Prove it: train the same model from scratch",
            icon=":material/science:",
            on_click=start,
            args=(str(run.path),),
            key="prove_it",
        )
        if st.session_state.get(ERROR):
            st.error(md(st.session_state[ERROR]), icon=":material/error:")
        return
    if state in jobs.ACTIVE:
        st.fragment(run_every=POLL_EVERY_S)(twin_progress)(str(twin.path), state)
        return
    twin_metrics = twin.metrics() or {}
    st.table(pd.DataFrame(side_by_side(metrics, twin_metrics)), hide_index=True)  # numbers and strategy names only
    gain = transfer_gain(metrics, twin_metrics)
    if gain:
        st.markdown(md(gain))
    st.caption(f"The scratch run is '{md(twin.about()['name'])}' ({md(twin.name)}) on Runs.")


def twin_progress(path: str, shown_state: str, doing: str = "Training the same model from scratch") -> None:
    """The twin's state while it trains; the page redraws when it ends."""
    twin = RunDir(path)
    status = jobs.refresh_status(twin)
    if status.get("state") != shown_state and status.get("state") not in jobs.ACTIVE:
        st.rerun()
    st.info(
        f"{doing} ('{md(twin.about()['name'])}'): {md(status.get('message', ''))}. "
        "The two appear side by side here when it is done.",
        icon=":material/hourglass_top:",
    )
    st.page_link("pages/train.py", label="Follow it on Train", icon=":material/arrow_forward:")


def start_base(path: str) -> None:
    try:
        twin = start_without(RunDir(path))
    except TransferLabError as exc:
        st.session_state[BASE_ERROR] = str(exc)
        return
    st.session_state[BASE_ERROR] = None
    st.session_state.train_run = str(twin.path)


def with_without(run: RunDir, metrics: Mapping[str, Any]) -> None:
    """For a run on an adapted model: the button that trains the same classifier from the base model, that run
    in training, or both side by side; nothing for a run on any other model."""
    adaptation = adaptation_of_run(run.config())
    if adaptation is None:
        return
    st.subheader("With vs without adaptation")
    twin = without_twin(run)
    state = jobs.refresh_status(twin).get("state") if twin is not None else None
    if twin is None or state not in ("completed", *jobs.ACTIVE):
        if twin is not None:
            st.warning(
                f"The run without adaptation '{md(twin.about()['name'])}' did not finish ({md(state)}: "
                f"{md(twin.status().get('message', ''))}). Start it again:",
                icon=":material/warning:",
            )
        st.caption(
            f"This classifier trained from {md(adaptation['title'])}. Did the adaptation help? Train the same "
            f"classifier from {md(adaptation.get('base_model'))} itself, with the same data, split, seed and settings."
        )
        st.button(
            "Compare: train it without the adaptation",
            icon=":material/compare_arrows:",
            on_click=start_base,
            args=(str(run.path),),
            key="with_without",
        )
        if st.session_state.get(BASE_ERROR):
            st.error(md(st.session_state[BASE_ERROR]), icon=":material/error:")
        return
    if state in jobs.ACTIVE:
        st.fragment(run_every=POLL_EVERY_S)(twin_progress)(
            str(twin.path), state, "Training the same classifier without the adaptation"
        )
        return
    twin_metrics = twin.metrics() or {}
    st.table(pd.DataFrame(rows(metrics, twin_metrics)), hide_index=True)
    gain = adaptation_gain(metrics, twin_metrics)
    if gain:
        st.markdown(md(gain))
    st.caption(f"The run without adaptation is '{md(twin.about()['name'])}' ({md(twin.name)}) on Runs.")
