"""The user's setup (data, columns, model, strategy, preset, settings) kept on disk, so that a browser
reload or a server restart finds it again.

Session state dies with the browser tab's connection. app.py calls :func:`restore` when a session
starts and :func:`save` after every page run: the setup is written to
``workspace/setups/<id>.json`` and its id is kept in the page's address (``?setup=<id>``), which a
reload keeps. A dashboard only this computer reaches also picks up the newest setup when the
address has none (a new tab, a bookmark without it), as a copy under a new id: the tabs' choices then stay
apart. A shared one never does, so that one person's choices are not handed to another.

>>> state = {"data_path": "data/spam_emails.csv", "settings_for": ("text", "lora", "Balanced"), "w_x": 1}
>>> sorted(setup_of(state))
['data_path', 'settings_for']
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from engine.core.rundir import read_object, write_json_atomic
from engine.core.workspace import home
from ui.state import DATA_DEFAULTS, MODEL_DEFAULTS, TRAIN_DEFAULTS
from ui.widgets import CHOSEN_RUN

QUERY_KEY = "setup"
ID_KEY = "setup_id"  # session state: this session's setup id
SAVED_KEY = "setup_saved"  # session state: the JSON last written, so an unchanged setup is not rewritten
NOTE_KEY = "setup_note"  # session state: what could not be restored, in words (the Data page shows it)
KEPT_SETUPS = 50  # older setup files are removed
# Besides the pages' defaults: where the data came from (and the path typed for it) and what the columns and
# settings were made for.
EXTRA_KEYS = ("data_source", "data_file_path", "columns_for", "settings_for", "image_labels_for", CHOSEN_RUN)
TUPLE_KEYS = ("settings_for",)  # JSON turns them into lists; the pages compare them with tuples
PATH_KEYS = ("data_path", "image_labels")  # files that must still exist to be restored
_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


def setups_dir() -> Path:
    path = home() / "setups"
    path.mkdir(parents=True, exist_ok=True)
    return path


def setup_keys() -> tuple[str, ...]:
    return (*DATA_DEFAULTS, *MODEL_DEFAULTS, *TRAIN_DEFAULTS, *EXTRA_KEYS)


def setup_of(state: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the session state that makes up the setup."""
    return {key: state[key] for key in setup_keys() if key in state}


def _path(setup_id: str) -> Path | None:
    return setups_dir() / f"{setup_id}.json" if _ID.fullmatch(setup_id or "") else None


def newest_setup_id() -> str | None:
    files = sorted(setups_dir().glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    return files[0].stem if files else None


def load_setup(setup_id: str) -> tuple[dict[str, Any], list[str]]:
    """The stored setup and, in words, what of it is gone (a deleted upload is dropped, not restored)."""
    path = _path(setup_id)
    stored = read_object(path) if path is not None else None
    if not stored:
        return {}, []
    setup = {key: value for key, value in stored.items() if key in setup_keys()}
    for key in TUPLE_KEYS:
        if isinstance(setup.get(key), list):
            setup[key] = tuple(setup[key])
    notes = []
    for key in PATH_KEYS:
        value = setup.get(key)
        if value and not Path(str(value)).is_file():
            notes.append(f"The file chosen earlier ({Path(str(value)).name}) is no longer on this computer.")
            if key == "data_path":
                for data_key in DATA_DEFAULTS:
                    setup.pop(data_key, None)
                setup.pop("data_source", None)
            else:
                setup.pop(key, None)
    return setup, notes


def restore(state: MutableMapping[str, Any], query: MutableMapping[str, Any], shared: bool) -> None:
    """Once per session: take the setup named in the address (or, unshared, the newest) into ``state``."""
    if ID_KEY in state:
        return
    wanted = str(query.get(QUERY_KEY) or "")
    setup_id = wanted if _path(wanted) is not None and _path(wanted).is_file() else None
    if setup_id is None and not shared:
        setup_id = newest_setup_id()
    setup, notes = load_setup(setup_id) if setup_id else ({}, [])
    for key, value in setup.items():
        state.setdefault(key, value)
    state[NOTE_KEY] = notes
    if setup and setup_id == wanted:
        state[ID_KEY], state[SAVED_KEY] = setup_id, json.dumps(setup, sort_keys=True, default=str)
    else:  # a damaged file is not reused; the newest setup is copied, so that two tabs never write one file
        state[ID_KEY], state[SAVED_KEY] = secrets.token_urlsafe(12), None


def save(state: MutableMapping[str, Any], query: MutableMapping[str, Any]) -> None:
    """Write the setup when it changed, and keep its id in the address."""
    setup_id = state.get(ID_KEY)
    path = _path(str(setup_id))
    if path is None:
        return
    if query.get(QUERY_KEY) != setup_id:
        query[QUERY_KEY] = setup_id
    setup = setup_of(state)
    text = json.dumps(setup, sort_keys=True, default=str)
    if text == state.get(SAVED_KEY):
        return
    try:
        write_json_atomic(path, setup)
    except OSError:
        return  # a full disk must not break the page; the setup is still in the session
    state[SAVED_KEY] = text
    for old in sorted(setups_dir().glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)[KEPT_SETUPS:]:
        old.unlink(missing_ok=True)
