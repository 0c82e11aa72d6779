"""What the pages hand each other in ``st.session_state``, and the run config it adds up to.

Each page calls :func:`ui.widgets.init_state` with the keys it reads, so any page renders in a
fresh session. Anything that must outlive the browser tab (uploads, runs) is on disk instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.catalog import DEFAULT_TEXT_MODEL
from engine.config import TrainConfig, preset_settings
from engine.errors import ConfigError
from engine.strategies import STRATEGIES

DATA_DEFAULTS: dict[str, Any] = {
    "data_path": None,  # the stored upload (content-addressed) or the demo file
    "data_name": None,  # the file name the user knows
    "text_column": None,
    "label_column": None,
    "data_summary": None,  # engine.data.describe() plus split sizes, once the data is valid
}
MODEL_DEFAULTS: dict[str, Any] = {
    "model": DEFAULT_TEXT_MODEL,
    "strategy": None,  # None until chosen: the recommendation is preselected
    "preset": "Balanced",
    "settings": {},  # TrainConfig fields from the preset and the Advanced expander
}
TRAIN_DEFAULTS: dict[str, Any] = {
    "train_run": None,  # path of the run the Train page follows in this session
}


def build_config(state: Mapping[str, Any]) -> TrainConfig:
    """The TrainConfig the Train page starts, from the Data and Model pages' choices.

    >>> state = {"data_path": "data/spam_emails.csv", "data_summary": {}, "model": "minilm", "strategy": "lora"}
    >>> build_config(state).strategy
    'lora'
    """
    if not state.get("data_path"):
        raise ConfigError("No data chosen yet. Upload a file or pick the demo data on the Data page.")
    if state.get("data_summary") is None:
        raise ConfigError("The chosen data has a problem (see the Data page); fix it before training.")
    if not str(state.get("model") or "").strip():
        raise ConfigError("No model chosen yet. Pick one on the Model & strategy page.")
    settings = {k: v for k, v in (state.get("settings") or {}).items() if v is not None or k == "max_length"}
    return TrainConfig(
        data=str(state["data_path"]),
        text_column=state.get("text_column"),
        label_column=state.get("label_column"),
        model=str(state["model"]).strip(),
        strategy=state.get("strategy") or "lora",
        **settings,
    )


def default_settings(strategy: str, preset: str) -> dict[str, Any]:
    """The settings a preset gives a strategy; the Advanced expander starts from these.

    >>> default_settings("lora", "Quick look")["epochs"], default_settings("lora", "Balanced")["max_length"]
    (1, None)
    """
    defaults = TrainConfig(data="-")
    return {
        "batch_size": defaults.batch_size,
        "learning_rate": STRATEGIES[strategy].default_learning_rate,
        "freeze_layers": None,
        "lora_r": defaults.lora_r,
        **preset_settings(preset, strategy),
    }
