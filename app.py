"""TransferLab dashboard entry point.

Until the full dashboard lands, this page shows the model catalog and the runs found in the
workspace, read-only. It never imports torch: everything comes from torch-free engine modules.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine import catalog, workspace
from engine.rundir import list_runs
from engine.strategies import STRATEGIES

st.set_page_config(page_title="TransferLab", page_icon=":material/model_training:", layout="wide")

st.title("TransferLab")
st.caption(
    "Recycle a pre-trained foundation model for your own labeled data. "
    "Training runs from the command line for now: "
    "`python -m engine.train --data data/spam_emails.csv --model minilm --strategy lora --out workspace/runs/demo`"
)

st.header("Models")
models = pd.DataFrame(
    [
        {
            "name": m.name,
            "model": m.title,
            "family": m.family,
            "parameters (M)": m.params_millions,
            "licence": m.licence,
            "works offline": "yes" if m.offline else "no: needs the Hugging Face Hub",
            "about": m.description,
        }
        for m in catalog.catalog()
    ]
)
st.dataframe(models, hide_index=True, width="stretch")
st.caption("Any Hugging Face model id or a local model folder also works when it is available.")

st.header("Strategies")
for strategy in STRATEGIES.values():
    st.markdown(f"**{strategy.title}** (`{strategy.name}`): {strategy.explanation}")

st.header("Runs")
runs_root = workspace.runs_dir()
runs = list_runs(runs_root)
if not runs:
    st.info(f"No runs yet in {runs_root}. Start one with `python -m engine.train ... --out {runs_root}/my-run`.")
else:
    table = pd.DataFrame(runs).drop(columns=["path", "created_at"])
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "accuracy": st.column_config.NumberColumn("accuracy", format="%.3f"),
            "macro_f1": st.column_config.NumberColumn("macro-F1", format="%.3f"),
            "train_seconds": st.column_config.NumberColumn("train time (s)", format="%.0f"),
            "trainable_params": st.column_config.NumberColumn("trainable parameters", format="localized"),
        },
    )
