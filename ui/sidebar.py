"""The sidebar every page shares: the device, and the run (or adaptation) in progress with its progress."""

from __future__ import annotations

import streamlit as st

from engine.core import jobs
from engine.core.hardware import describe_hardware
from engine.core.rundir import RunDir
from engine.core.words import markdown_text as md
from engine.core.workspace import adaptations_dir
from ui import live

# Poll quickly while a run is going, slowly otherwise (to notice a run started elsewhere).
ACTIVE_EVERY_S = 5.0
IDLE_EVERY_S = 10.0


@st.cache_data(ttl=300, show_spinner=False)
def device_line() -> str:
    return describe_hardware()


def _active_jobs() -> tuple[list[RunDir], list[RunDir]]:
    """(training runs, adaptations) queued or running."""
    return jobs.active_runs(), jobs.active_runs(adaptations_dir())


def _active_runs_view(was_active: bool) -> None:
    active, adapting = _active_jobs()
    if not active and not adapting:
        st.caption("No run in progress.")
        if was_active:
            # A run just ended: redraw the page (the Train page shows the result, polling slows down).
            st.rerun()
        return
    if not was_active:
        st.rerun()  # a run started elsewhere: poll at the faster rate
    for run in adapting:
        fraction, words = live.progress(run.status())
        st.markdown(f"**Adapting**: {md(run.name)}")
        st.progress(fraction, text=md(words))
    if adapting:
        st.page_link("pages/model.py", label="Watch it on Model & strategy", icon=":material/school:")
    for run in active:
        status = run.status()
        fraction, words = live.progress(status)
        st.markdown(f"**{md(str(status.get('state', '')).capitalize())}**: {md(run.about()['name'])}")
        st.progress(fraction, text=md(words))
        message = str(status.get("message", ""))
        if status.get("state") == "queued" and message != words:
            st.caption(md(message))  # e.g. which run it waits for
    if active:
        st.page_link("pages/train.py", label="Watch it on the Train page", icon=":material/monitoring:")


def show() -> None:
    with st.sidebar:
        st.caption("Device")
        st.text(device_line())
        st.caption("Training")
        active = any(_active_jobs())
        st.fragment(run_every=ACTIVE_EVERY_S if active else IDLE_EVERY_S)(_active_runs_view)(active)
