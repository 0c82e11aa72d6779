"""What the pages hand each other in ``st.session_state``, and the run config it adds up to.

Each page calls :func:`ui.widgets.init_state` with the keys it reads, so any page renders in a
fresh session. Anything that must outlive the browser tab (uploads, runs) is on disk instead.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from engine.core import catalog
from engine.core.catalog import DEFAULT_TEXT_MODEL
from engine.core.config import TrainConfig, data_settings, other_tasks_settings
from engine.core.errors import ConfigError
from engine.core.presets import DEFAULT_PRESET, default_settings
from engine.core.strategies import STRATEGIES
from engine.core.tasks import get_task

DATA_DEFAULTS: dict[str, Any] = {
    "data_path": None,  # the stored upload (content-addressed) or the demo file
    "data_name": None,  # the file name the user knows
    "data_task": "text",  # "image" for a ZIP of pictures, else "text" (from the file name, like the engine)
    "text_column": None,
    "label_column": None,
    "image_labels": None,  # pictures: the stored CSV of file names and labels, when the ZIP has no class folders
    "image_labels_name": None,
    "data_summary": None,  # the task's data summary (engine.data.text.describe, ...) plus split sizes
}
MODEL_DEFAULTS: dict[str, Any] = {
    "model": DEFAULT_TEXT_MODEL,
    "model_task": "text",  # the data task the model was last matched to (see match_model_to_task)
    "model_note": None,  # (model, words) after the model was switched for the data's task
    "strategy": None,  # None until chosen: the recommendation is preselected
    "preset": DEFAULT_PRESET,
    "settings": {},  # TrainConfig fields from the preset and the Advanced expander
}
TRAIN_DEFAULTS: dict[str, Any] = {
    "train_run": None,  # path of the run the Train page follows in this session
    "track": "none",  # "mlflow": new runs are logged to MLflow too (engine.core.tracking)
}
# None is a choice for these ("automatic", "the model's own"), not a missing value.
_NONE_MEANS_AUTO = {"max_length", "image_size"}


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
    task = state.get("data_task") or "text"
    other = other_tasks_settings(task)
    settings = {
        k: v for k, v in current_settings(state).items() if k not in other and (v is not None or k in _NONE_MEANS_AUTO)
    }
    # The data choices this task has (text and label columns, or a labels file for pictures).
    columns = {k: state.get(k) for k in data_settings(task)}
    return TrainConfig(
        data=str(state["data_path"]),
        model=str(state["model"]).strip(),
        strategy=state.get("strategy") or "lora",
        **columns,
        **settings,
    )


def current_settings(state: Mapping[str, Any]) -> dict[str, Any]:
    """The Model page's settings, unless they were made for the other kind of data (then the preset's).

    Pictures picked after the settings were made for texts keep the preset, with the picture values.
    """
    settings = dict(state.get("settings") or {})
    made_for = state.get("settings_for")
    task = state.get("data_task") or "text"
    if made_for and made_for[0] != task:
        strategy = state.get("strategy") or "lora"
        settings = default_settings(strategy, state.get("preset") or DEFAULT_PRESET, task, training_examples(state))
    return settings


def training_examples(state: Mapping[str, Any], strategy: str | None = None) -> int | None:
    """The examples the chosen strategy trains on (the Data page's split), or None before data are chosen.
    Strategies that do not choose by a validation split learn from its examples too."""
    summary = state.get("data_summary")
    if not summary or "n_train" not in summary:
        return None
    uses_validation = STRATEGIES[strategy or state.get("strategy") or "lora"].uses_validation
    return int(summary["n_train"]) + (0 if uses_validation else int(summary.get("n_validation", 0)))


def match_model_to_task(state: MutableMapping[str, Any]) -> str | None:
    """When the data's task changes, swap a catalog model of the other task for this task's default.

    A text model cannot learn pictures (and the other way round), so MiniLM chosen before picking
    the Fashion pictures becomes EfficientNet-Lite0, and back. Models outside the catalog (a local
    folder, a hub id) are left alone: the engine says what is wrong with them. Returns the note
    for the user when it switched.
    """
    task = state.get("data_task") or "text"
    if state.get("model_task", "text") == task:
        return None
    state["model_task"] = task
    name = str(state.get("model") or "").strip()
    info = catalog.find(name)
    if name and (info is None or info.task == task):
        return None
    new = get_task(task).default_model
    state["model"] = new
    if "w_model" in state:
        state["w_model"] = new
    title = catalog.find(new).title if catalog.find(new) else new
    why = f", and {info.title} reads {get_task(info.task).examples}" if info else ""
    note = f"Your data are {get_task(task).examples}{why}: switched the model to {title}."
    state["model_note"] = (new, note)
    return note
