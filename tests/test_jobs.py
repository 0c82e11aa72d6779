"""Runs as background jobs: real workers (``python -m engine.worker``) train the tiny model.

The test process only starts, cancels, resumes and deletes runs and polls status.json; training
happens in the workers it spawns.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.core.config import TrainConfig
from engine.core.errors import ConfigError
from engine.core.hardware import max_concurrent_runs
from engine.core.jobs import (
    LOST_MESSAGE,
    active_runs,
    cancel_run,
    delete_run,
    latest_run,
    new_run_name,
    refresh_status,
    resume_run,
    start_run,
)
from engine.core.locks import RUN_LOCK, pid_alive, try_lock
from engine.core.rundir import RunDir, write_json_atomic

ROOT = Path(__file__).resolve().parent.parent
TINY = {"strategy": "full", "epochs": 2, "batch_size": 8, "max_length": 32, "threads": 1}
TIMEOUT = 180


@pytest.fixture()
def jobs(workspace, monkeypatch):
    """One run at a time; afterwards no worker of the test is left running."""
    monkeypatch.setenv("TRANSFERLAB_MAX_CONCURRENT_RUNS", "1")
    yield workspace
    runs = workspace / "runs"
    for path in runs.iterdir() if runs.is_dir() else []:
        pid = RunDir(path).status().get("pid")
        try:
            ours = (
                pid != os.getpid() and pid_alive(pid) and b"engine.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
            )
            if ours:
                os.killpg(pid, signal.SIGKILL)  # workers start their own session: pgid == pid
        except (OSError, TypeError):
            pass  # already gone


def config(data: Path, model: Path, **kw) -> TrainConfig:
    return TrainConfig(data=str(data), model=str(model), **{**TINY, **kw})


def wait_until(run: RunDir, check, what: str, timeout: float = TIMEOUT) -> dict:
    deadline = time.time() + timeout
    while True:
        status = refresh_status(run)
        if check(status):
            return status
        if time.time() > deadline:
            log = (run.path / "worker.log").read_text(errors="replace")[-3000:] if run.path.exists() else ""
            raise AssertionError(f"{run.name}: not {what} after {timeout} s; status {status}\n{log}")
        time.sleep(0.2)


def wait_state(run: RunDir, *states: str, timeout: float = TIMEOUT) -> dict:
    return wait_until(run, lambda s: s.get("state") in states, "/".join(states), timeout)


def event_types(run: RunDir) -> set[str]:
    return {e["type"] for e in run.events()}


# --- real workers ---------------------------------------------------------------------------------
def test_start_run_trains_in_a_detached_worker(jobs, tiny_bert, topic_csv):
    run = start_run(config(topic_csv, tiny_bert))
    first = refresh_status(run)
    assert first["state"] == "queued"  # returned before training, and not mistaken for a dead run
    assert first["pid"] != os.getpid()  # the worker's pid, recorded at once
    assert run.path.parent == jobs / "runs" and run.config_path.exists()
    assert re.fullmatch(r"\d{8}-\d{6}-tiny-bert\d*-full", run.name)
    assert [r.path for r in active_runs()] == [run.path]

    done = wait_state(run, "completed", "failed", "cancelled")
    assert done["state"] == "completed", (run.path / "worker.log").read_text()[-3000:]
    assert done["pid"] == first["pid"] != os.getpid()  # trained in the worker, not here
    assert run.metrics()["accuracy"] >= 0 and (run.model_dir / "transferlab.json").exists()
    assert f"worker {first['pid']}" in (run.path / "worker.log").read_text()
    assert active_runs() == [] and latest_run().path == run.path


def test_runs_started_back_to_back_queue_and_all_complete(jobs, tiny_bert, topic_csv):
    first = start_run(config(topic_csv, tiny_bert, epochs=4))
    second = start_run(config(topic_csv, tiny_bert))
    third = start_run(config(topic_csv, tiny_bert, seed=7))  # the same settings twice are refused
    waiting = wait_until(
        second,
        lambda s: s.get("state") == "queued" and first.name in s.get("message", ""),
        "queued behind the first run",
    )
    assert waiting["message"] == f"Waiting for the run '{first.name}' to finish"
    assert refresh_status(first)["state"] in ("queued", "running")
    assert [r.name for r in active_runs()] == [first.name, second.name, third.name]  # oldest first

    for run in (first, second, third):
        assert wait_state(run, "completed", "failed", "cancelled")["state"] == "completed"
    a, b, c = (run.status() for run in (first, second, third))
    # One at a time, in the order they were started.
    assert a["finished_at"] <= b["started_at"] and b["finished_at"] <= c["started_at"]
    assert "setup" in event_types(second) and latest_run().name == third.name


def test_two_slots_let_two_runs_train_at_once(jobs, tiny_bert, topic_csv, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_MAX_CONCURRENT_RUNS", "2")
    first = start_run(config(topic_csv, tiny_bert, epochs=4))
    second = start_run(config(topic_csv, tiny_bert, epochs=4, seed=7))
    for run in (first, second):
        assert wait_state(run, "completed", "failed", "cancelled")["state"] == "completed"
    a, b = first.status(), second.status()
    assert b["started_at"] < a["finished_at"] and a["started_at"] < b["finished_at"]  # overlapping


def test_cancel_queued_and_running_runs_then_resume_both(jobs, tiny_bert, topic_csv):
    long = start_run(config(topic_csv, tiny_bert, epochs=30))  # several seconds after its first checkpoint
    queued = start_run(config(topic_csv, tiny_bert))
    wait_until(queued, lambda s: s.get("message", "").startswith("Waiting for"), "waiting")

    cancel_run(queued)
    status = wait_state(queued, "cancelled", "completed", "failed", timeout=15)
    assert status["state"] == "cancelled" and "nothing was trained" in status["message"]
    assert not event_types(queued) & {"setup", "train"}  # never trained
    assert refresh_status(long)["state"] in ("queued", "running")

    wait_until(long, lambda s: "checkpoint" in event_types(long), "past its first checkpoint")
    with pytest.raises(ConfigError, match="cancel it first"):
        delete_run(long)
    with pytest.raises(ConfigError, match="still running"):
        resume_run(long)
    cancel_run(long)
    assert wait_state(long, "cancelled", "completed", "failed")["state"] == "cancelled"
    assert long.last_checkpoint() is not None and not long.metrics_path.exists()

    resume_run(long)
    resume_run(queued)  # queues behind the resumed run
    assert refresh_status(queued)["state"] == "queued"
    for run in (long, queued):
        assert wait_state(run, "completed", "failed", "cancelled")["state"] == "completed"
    resumed = next(e for e in long.events() if e["type"] == "resume")
    assert resumed["checkpoint"] and resumed["checkpoint"].startswith("checkpoint-")  # continued, not restarted
    assert long.metrics()["epochs"] == 30 and not long.cancel_path.exists()
    with pytest.raises(ConfigError, match="already completed"):
        resume_run(long)


def test_killed_worker_is_marked_failed_and_can_be_deleted(jobs, tiny_bert, topic_csv):
    run = start_run(config(topic_csv, tiny_bert, epochs=300))
    status = wait_until(run, lambda s: "train" in event_types(run), "training")
    assert refresh_status(run)["state"] == "running"  # alive: not marked failed
    with pytest.raises(ConfigError, match="cancel it first"):
        delete_run(run)

    os.kill(status["pid"], signal.SIGKILL)
    failed = wait_state(run, "failed", "completed", "cancelled", timeout=20)
    assert failed["state"] == "failed" and failed["message"] == LOST_MESSAGE

    delete_run(run)
    assert not run.path.exists() and latest_run() is None


# --- liveness without a worker ----------------------------------------------------------------------
def fake_run(root: Path, state: str, pid: int, updated_at: float | None = None) -> RunDir:
    run = RunDir(root / "runs" / f"fake-{pid}")
    run.path.mkdir(parents=True)
    TrainConfig(data="a.csv", model="minilm", strategy="lora").save(run.config_path)
    now = time.time()
    write_json_atomic(
        run.status_path,
        {"state": state, "message": "", "pid": pid, "created_at": now, "updated_at": updated_at or now},
    )
    return run


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_run_whose_process_is_gone_is_marked_failed(jobs):
    run = fake_run(jobs, "running", dead_pid())
    assert refresh_status(run) == run.status()
    assert run.status()["state"] == "failed" and run.status()["message"] == LOST_MESSAGE
    assert active_runs() == []


def test_a_live_process_keeps_its_run_active(jobs):
    run = fake_run(jobs, "queued", os.getpid())  # e.g. the dashboard between prepare_run and the spawn
    assert refresh_status(run)["state"] == "queued" and active_runs()[0].path == run.path


def test_a_held_run_lock_keeps_its_run_active_while_the_worker_starts(jobs):
    run = fake_run(jobs, "queued", dead_pid())
    fd = try_lock(run.path / RUN_LOCK)  # what the launcher holds while handing over to the worker
    try:
        assert refresh_status(run)["state"] == "queued"
    finally:
        os.close(fd)
    assert refresh_status(run)["state"] == "failed"


def test_a_recycled_pid_does_not_keep_a_run_alive(jobs):
    newer = subprocess.Popen(["sleep", "30"])
    try:
        run = fake_run(jobs, "running", newer.pid, updated_at=time.time() - 3600)  # written before it started
        assert refresh_status(run)["state"] == "failed"
    finally:
        newer.kill()
        newer.wait()


def test_cancel_of_a_finished_run_changes_nothing_and_delete_needs_a_run_folder(jobs, tmp_path):
    run = fake_run(jobs, "completed", dead_pid())
    cancel_run(run)
    assert not run.cancel_path.exists() and run.status()["state"] == "completed"
    (tmp_path / "notes").mkdir()
    with pytest.raises(ConfigError, match="not a run folder"):
        delete_run(RunDir(tmp_path / "notes"))
    assert (tmp_path / "notes").exists()


def worker_cli(run: RunDir, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine.worker", str(run.path), *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_worker_by_hand_refuses_a_run_someone_else_holds_and_honours_cancel(jobs, tmp_path, topic_csv):
    from engine.core.jobs import prepare_run

    run = prepare_run(TrainConfig(data=str(topic_csv), model="minilm", strategy="lora"), jobs / "runs" / "by-hand")
    fd = try_lock(run.path / RUN_LOCK)
    try:
        busy = worker_cli(run)
    finally:
        os.close(fd)
    assert busy.returncode == 2 and "already training" in busy.stderr
    assert run.status()["message"] == "Waiting to start"  # left alone

    run.request_cancel()
    cancelled = worker_cli(run)
    assert cancelled.returncode == 3, cancelled.stderr
    assert run.status()["state"] == "cancelled" and "nothing was trained" in run.status()["message"]
    assert not event_types(run)


# --- names and settings ----------------------------------------------------------------------------
def test_run_names_are_readable_unique_and_safe(tmp_path):
    hub = TrainConfig(data="a.csv", model="HuggingFaceTB/SmolLM2-360M", strategy="lora")
    name = new_run_name(hub, tmp_path)
    assert re.fullmatch(r"\d{8}-\d{6}-smollm2-360m-lora", name)
    folder = TrainConfig(data="a.csv", model="/models/My Model_v2/", strategy="frozen")
    assert new_run_name(folder, tmp_path).endswith("-my-model-v2-frozen")
    (tmp_path / name).mkdir()
    taken = new_run_name(hub, tmp_path)
    assert taken != name and (taken == f"{name}-2" or not (tmp_path / taken).exists())


def test_relative_data_paths_are_made_absolute_for_the_worker(jobs, tmp_path, monkeypatch):
    from engine.core.jobs import _absolute_paths

    (tmp_path / "mine.csv").write_text("text,label\n")
    monkeypatch.chdir(tmp_path)
    config = _absolute_paths(TrainConfig(data="mine.csv", model="minilm", strategy="lora", test_data="missing.csv"))
    assert config.data == str(tmp_path / "mine.csv")  # the worker runs in the project root, not here
    assert config.test_data == "missing.csv" and config.model == "minilm"  # unknown files and catalog names stay


def test_start_run_refuses_bad_or_taken_names(jobs, topic_csv):
    with pytest.raises(ConfigError, match="cannot be used as a run name"):
        start_run(config(topic_csv, "minilm"), folder="../escape")
    (jobs / "runs" / "taken").mkdir(parents=True)
    with pytest.raises(ConfigError, match="already exists"):
        start_run(config(topic_csv, "minilm"), folder="taken")
    assert not (jobs / "escape").exists() and not list((jobs / "runs").glob("*/config.json"))


def test_max_concurrent_runs_from_the_environment(monkeypatch):
    monkeypatch.delenv("TRANSFERLAB_MAX_CONCURRENT_RUNS", raising=False)
    assert max_concurrent_runs() == 1
    monkeypatch.setenv("TRANSFERLAB_MAX_CONCURRENT_RUNS", "3")
    assert max_concurrent_runs() == 3
    monkeypatch.setenv("TRANSFERLAB_MAX_CONCURRENT_RUNS", "0")
    with pytest.raises(ConfigError, match="TRANSFERLAB_MAX_CONCURRENT_RUNS"):
        max_concurrent_runs()


def test_worker_splits_cpu_cores_between_concurrent_runs(monkeypatch):
    import engine.core.hardware as hardware

    monkeypatch.setattr(hardware, "available_cpus", lambda: 8)
    monkeypatch.setattr(hardware, "gpu_names", lambda: [])
    cfg = TrainConfig(data="a.csv", model="minilm", strategy="lora")
    monkeypatch.setenv("TRANSFERLAB_MAX_CONCURRENT_RUNS", "1")
    assert hardware.threads_for(cfg) == 8  # one run: every core
    monkeypatch.setenv("TRANSFERLAB_MAX_CONCURRENT_RUNS", "3")
    assert hardware.threads_for(cfg) == 2
    assert hardware.threads_for(TrainConfig(data="a.csv", model="minilm", strategy="lora", threads=5)) == 5
    monkeypatch.setattr(hardware, "gpu_names", lambda: ["NVIDIA H100"])
    assert hardware.threads_for(cfg) == 8  # trains on the GPU: the cores are not shared out


def test_job_modules_do_not_load_torch():
    code = (
        "import sys; import engine.core.jobs, engine.worker, engine.data.uploads, engine.estimate; "
        "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_same_settings_are_not_started_twice_while_the_first_is_going(tmp_path):
    """The bug (issue 13): clicking Start twice silently queued an identical duplicate run."""
    import time

    from engine.core import jobs
    from engine.core.config import TrainConfig
    from engine.core.errors import ConfigError
    from engine.core.rundir import RunDir, write_json_atomic

    data = tmp_path / "d.csv"
    data.write_text("text,label\na,x\nb,y\n")
    config = TrainConfig(data=str(data), model="minilm", strategy="frozen")
    going = RunDir(tmp_path / "runs" / "going")
    going.path.mkdir(parents=True)
    config.save(going.config_path)
    write_json_atomic(going.status_path, {"state": "running", "pid": os.getpid(), "updated_at": time.time()})
    with pytest.raises(ConfigError, match="'going' with exactly these settings is already running"):
        jobs.start_run(config, root=tmp_path / "runs")
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["going"]  # nothing reserved


def test_a_run_has_a_name_and_a_note_that_lists_show(tmp_path, topic_csv):
    from engine.core.jobs import prepare_run
    from engine.core.rundir import list_runs

    named = prepare_run(config(topic_csv, "minilm"), tmp_path / "runs" / "a", "Tickets, LoRA  at 64\ntokens", "why")
    prepare_run(config(topic_csv, "minilm"), tmp_path / "runs" / "b")
    rows = {r["run"]: r for r in list_runs(tmp_path / "runs")}
    assert (rows["a"]["name"], rows["a"]["note"]) == ("Tickets, LoRA at 64 tokens", "why")  # one line
    assert (rows["b"]["name"], rows["b"]["note"]) == ("b", None)  # the folder's name when none was given
    named.set_about("Renamed", None)
    assert named.about() == {"name": "Renamed", "note": None}
    with pytest.raises(ConfigError, match="at most 100 characters"):
        prepare_run(config(topic_csv, "minilm"), tmp_path / "runs" / "c", "x" * 101)
    assert not (tmp_path / "runs" / "c").exists()  # refused before anything was written


def test_the_train_command_takes_a_name_and_a_note():
    from engine.train import build_parser

    args = build_parser().parse_args(["--out", "x", "--name", "First try", "--note", "demo data"])
    assert (args.name, args.note) == ("First try", "demo data")
