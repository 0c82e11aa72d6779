"""The user's setup survives a browser reload and a server restart (a new session of the same address)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import make_rows, session, write_csv
from streamlit.testing.v1 import AppTest

from ui import setup

ROOT = Path(__file__).resolve().parent.parent


def make_a_setup(csv: Path) -> AppTest:
    at = session()
    at.radio(key="w_data_source").set_value("upload").run()
    at.file_uploader[0].set_value((csv.name, csv.read_bytes(), "text/csv")).run()
    assert at.session_state.data_summary is not None
    at.switch_page("pages/model.py").run()
    at.radio(key="w_strategy").set_value("full").run()
    at.segmented_control(key="w_preset").set_value("Best quality").run()
    at.number_input(key="w_epochs").set_value(7).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_reload_finds_the_data_model_strategy_preset_and_settings(workspace, tmp_path):
    before = make_a_setup(write_csv(tmp_path / "tickets.csv", make_rows(30)))
    setup_id = before.session_state[setup.ID_KEY]
    assert before.query_params[setup.QUERY_KEY] == setup_id  # the address names the setup

    at = session({setup.QUERY_KEY: setup_id}, page="pages/model.py")
    assert at.session_state.data_name == "tickets.csv"
    assert at.session_state.strategy == "full" and at.radio(key="w_strategy").value == "full"
    assert at.session_state.preset == "Best quality"
    assert at.number_input(key="w_epochs").value == 7  # the Advanced settings, not the preset's again

    at.switch_page("pages/train.py").run()
    table = at.dataframe[0].value
    shown = dict(zip(table["setting"], table["value"], strict=True))
    assert shown["data"].startswith("tickets.csv") and shown["strategy"] == "full" and shown["epochs"] == "7"
    assert not [i for i in at.info if "Choose your data first" in i.value]

    at.switch_page("pages/data.py").run()
    assert at.selectbox(key="text_col:" + at.session_state.data_path).value == "text"
    assert [c.value for c in at.caption if c.value.startswith("Using tickets")]


def test_a_new_tab_on_this_computer_finds_the_newest_setup(workspace, tmp_path):
    make_a_setup(write_csv(tmp_path / "tickets.csv", make_rows(30)))
    at = session(page="pages/model.py")  # no setup in the address
    assert at.session_state.strategy == "full"


def test_a_new_tab_takes_a_copy_of_the_newest_setup_so_the_tabs_do_not_overwrite_each_other(workspace, tmp_path):
    """The bug: a second tab took the first tab's setup id, so both wrote one file, and the first tab, once its
    session started again (a reload, a reconnect), showed and trained the second tab's data and strategy."""
    first = make_a_setup(write_csv(tmp_path / "tickets.csv", make_rows(30)))
    first_id = first.session_state[setup.ID_KEY]
    second = session(page="pages/model.py")  # no setup in the address: a copy of the newest
    second_id = second.session_state[setup.ID_KEY]
    assert second.session_state.strategy == "full" and second_id != first_id
    assert second.query_params[setup.QUERY_KEY] == second_id
    second.radio(key="w_strategy").set_value("frozen").run()

    assert session({setup.QUERY_KEY: first_id}, page="pages/model.py").session_state.strategy == "full"
    assert session({setup.QUERY_KEY: second_id}, page="pages/model.py").session_state.strategy == "frozen"


def test_a_reload_keeps_a_file_given_by_its_path(workspace, tmp_path):
    """The bug: after a reload the path field was empty, so the Data page dropped the file given by its path and
    Train said "Choose your data first"."""
    csv = write_csv(tmp_path / "tickets.csv", make_rows(30))
    before = session()
    before.radio(key="w_data_source").set_value("path").run()
    before.text_input(key="w_data_file_path").set_value(str(csv)).run()
    assert before.session_state.data_path == str(csv.resolve())

    at = session({setup.QUERY_KEY: before.session_state[setup.ID_KEY]}, page="pages/data.py")
    assert at.text_input(key="w_data_file_path").value == str(csv)
    assert at.session_state.data_path == str(csv.resolve()) and at.session_state.data_summary is not None
    at.switch_page("pages/train.py").run()
    assert not [i for i in at.info if "Choose your data first" in i.value]


def test_a_shared_dashboard_never_hands_one_persons_setup_to_another(workspace, tmp_path, monkeypatch):
    before = make_a_setup(write_csv(tmp_path / "tickets.csv", make_rows(30)))
    monkeypatch.setattr("ui.gate.needs_login", lambda address: True)
    monkeypatch.setattr("ui.gate.require_access", lambda: None)
    stranger = session(page="pages/model.py")
    assert stranger.session_state.data_path is None and stranger.session_state.strategy != "full"
    same_person = session({setup.QUERY_KEY: before.session_state[setup.ID_KEY]}, page="pages/model.py")
    assert same_person.session_state.strategy == "full"


def test_a_setup_whose_file_is_gone_says_so_and_keeps_the_rest(workspace, tmp_path):
    before = make_a_setup(write_csv(tmp_path / "tickets.csv", make_rows(30)))
    Path(before.session_state.data_path).unlink()  # cleaned up since
    at = session({setup.QUERY_KEY: before.session_state[setup.ID_KEY]})
    assert at.session_state.data_path is None
    assert [i for i in at.info if "is no longer on this computer" in i.value]
    at.switch_page("pages/model.py").run()
    assert at.session_state.model == "minilm"


def test_a_damaged_or_foreign_setup_id_starts_fresh(workspace):
    (setup.setups_dir() / "abcdefgh12.json").write_text("{not json", encoding="utf-8")
    for wanted in ("abcdefgh12", "../../etc/passwd", "x"):
        at = session({setup.QUERY_KEY: wanted})
        assert at.session_state.data_path is None
        assert at.session_state[setup.ID_KEY] != wanted


def test_an_unchanged_setup_is_not_rewritten(workspace, tmp_path):
    before = make_a_setup(write_csv(tmp_path / "tickets.csv", make_rows(30)))
    path = setup.setups_dir() / f"{before.session_state[setup.ID_KEY]}.json"
    stored = json.loads(path.read_text())
    assert stored["strategy"] == "full" and stored["settings_for"][:3] == ["text", "full", "Best quality"]
    mtime = path.stat().st_mtime_ns
    before.switch_page("pages/runs.py").run()
    assert path.stat().st_mtime_ns == mtime


def test_a_choice_made_just_before_opening_another_page_is_kept(workspace, tmp_path):
    """The bug (found in Chromium): picking Frozen and at once opening Train trained LoRA. The click's rerun
    of the Model page was cut short by the page switch before the page copied the choice into the setup."""
    at = make_a_setup(write_csv(tmp_path / "tickets.csv", make_rows(30)))
    at.radio(key="w_strategy").set_value("frozen")  # no run of the Model page in between
    at.switch_page("pages/train.py").run()
    assert at.session_state.strategy == "frozen"
    at.switch_page("pages/model.py").run()
    at.radio(key="w_strategy").set_value("lora").run()
    at.select_slider(key="w_max_length").set_value(256)
    at.switch_page("pages/train.py").run()
    assert at.session_state.settings["max_length"] == 256
    assert at.session_state.strategy == "lora"


def test_the_model_page_advice_and_quick_look_follow_the_data(workspace, tmp_path):
    """600 texts: frozen is recommended with every preset, and LoRA with Quick look gets 3 epochs, not 1."""
    at = session()
    at.radio(key="w_data_source").set_value("upload").run()
    csv = write_csv(tmp_path / "six_hundred.csv", make_rows(200))  # 600 rows, 3 classes of 200
    at.file_uploader[0].set_value((csv.name, csv.read_bytes(), "text/csv")).run()
    assert at.session_state.data_summary["rows"] == 600
    at.switch_page("pages/model.py").run()
    for preset in ("Quick look", "Balanced", "Best quality"):
        at.segmented_control(key="w_preset").set_value(preset).run()
        [advice] = [i.value for i in at.info if i.value.startswith("Recommended for your data")]
        assert "**Frozen" in advice and f"{preset} preset" in advice
    at.radio(key="w_strategy").set_value("lora").run()
    at.segmented_control(key="w_preset").set_value("Quick look").run()
    assert at.number_input(key="w_epochs").value == 3 and at.session_state.settings["epochs"] == 3


def test_clicking_the_selected_preset_keeps_it_selected(workspace, tmp_path):
    """Found by a new user: a second click on the highlighted preset un-highlighted it, while its settings stayed."""
    at = make_a_setup(write_csv(tmp_path / "tickets.csv", make_rows(30)))
    at.segmented_control(key="w_preset").set_value(None).run()
    assert at.segmented_control(key="w_preset").value == "Best quality" == at.session_state.preset
