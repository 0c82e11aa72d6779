"""Make sure every page runs through app.py's ``st.navigation``, whatever Streamlit's first request was.

Streamlit 1.67 treats a folder named ``pages/`` next to the entry point as a legacy (v1)
multipage app until ``st.navigation`` has run once in the server process. If the first request
after a start is a deep link (a tab left open on /train while the server restarted), Streamlit
runs ``pages/train.py`` directly: no sidebar, the legacy page list, and the process stays in that
mode. AppTest re-detects the folder on every run, so page tests hit the same path. Each page
calls :func:`ensure_router` first: in that mode it switches Streamlit to ``st.navigation`` and
reruns, so app.py (router and sidebar) runs as usual. Otherwise it does nothing.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def ensure_router() -> None:
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
