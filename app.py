"""TransferLab dashboard: the router. Each step a user takes is one page under pages/.

Run with ``make run`` (or ``streamlit run app.py``). Never imports torch: pages talk to
torch-free engine modules, and training runs in separate worker processes.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import gate, setup, sidebar

# A local icon: a Material icon as page_icon makes the browser fetch it from fonts.gstatic.com.
st.set_page_config(page_title="TransferLab", page_icon=str(Path(__file__).parent / "ui" / "favicon.png"), layout="wide")
gate.require_access()  # the Host allowlist, and a login when the dashboard is shared

PAGES = [
    st.Page("pages/data.py", title="Data", icon=":material/table_view:", default=True),
    st.Page("pages/model.py", title="Model & strategy", icon=":material/neurology:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/results.py", title="Results", icon=":material/analytics:"),
    st.Page("pages/try_it.py", title="Try it", icon=":material/science:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
]

page = st.navigation(PAGES)
# The setup made in an earlier session of this browser (a reload, a server restart) comes back first.
setup.restore(st.session_state, st.query_params, shared=gate.needs_login(gate.server_address()))
sidebar.show()
try:
    page.run()
finally:  # also when the page reruns or stops early: the choice just made is kept
    setup.save(st.session_state, st.query_params)
