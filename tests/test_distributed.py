"""Training on several processes (torchrun, DDP over gloo on the CPU): the same run config gives the same
results as one process, rank 0 alone writes one run directory, a killed process fails the run with its
reason, and the run resumes on another number of processes (``engine.core.distributed``)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.core.distributed import failure_reason, root_failure

ROOT = Path(__file__).resolve().parent.parent
# Full fine-tuning that learns the tiny topics within seconds (1.0 on both counts when written), 16 steps a pass.
SETTINGS = {"strategy": "full", "learning_rate": 0.002, "epochs": 8, "batch_size": 8, "max_length": 32, "threads": 2}
FLAGS = {name.replace("_", "-"): str(value) for name, value in SETTINGS.items()}


def train(*args: str, torchrun: int = 0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={torchrun}"] if torchrun else []
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRANSFERLAB_KILL")}
    return subprocess.run(
        [sys.executable, *launcher, "-m", "engine.train", *args],
        cwd=ROOT,
        env={**clean, "TRANSFERLAB_CHECKPOINT_SECONDS": "0", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def flags(data: Path, model: Path, out: Path, **more: str) -> list[str]:
    values = {"data": str(data), "model": str(model), "out": str(out), **FLAGS, **more}
    return [item for k, v in values.items() for item in (f"--{k}", v)]


def events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]


def probabilities(run: Path) -> list[tuple[str, float]]:
    """Each test example's predicted class and its probability (predictions.csv)."""
    with (run / "predictions.csv").open(newline="", encoding="utf-8") as f:
        return [(row["predicted_label"], float(row["confidence"])) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def topics(tmp_path_factory, tiny_bert):
    from conftest import make_rows, write_csv

    folder = tmp_path_factory.mktemp("distributed")
    os.environ.setdefault("TRANSFERLAB_HOME", str(folder / "home"))
    return folder, write_csv(folder / "topics.csv", make_rows(40, seed=5)), tiny_bert


@pytest.fixture(scope="module")
def one_process(topics):
    folder, data, model = topics
    done = train(*flags(data, model, folder / "one"))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((folder / "one" / "metrics.json").read_text())


def test_two_processes_under_torchrun_give_one_process_results_in_one_run_directory(topics, one_process):
    folder, data, model = topics
    run = folder / "two"
    done = train(*flags(data, model, run), torchrun=2)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert one_process["accuracy"] > 0.8  # it learned, so the comparison means something
    assert abs(metrics["accuracy"] - one_process["accuracy"]) <= 0.05
    assert abs(metrics["macro_f1"] - one_process["macro_f1"]) <= 0.05
    # The same steps: the batch size is the whole step's, shared between the processes.
    assert metrics["steps"] == one_process["steps"]
    assert metrics["test_examples"] == one_process["test_examples"] == len(probabilities(run))
    assert metrics["device"].endswith("2 processes") and json.loads((run / "config.json").read_text())["devices"] == 2
    # One account of the run: one start and one setup event, every step once, one line per test example.
    kinds = [e["type"] for e in events(run)]
    assert kinds.count("start") == 1 and kinds.count("setup") == 1
    steps = [e["step"] for e in events(run) if e["type"] == "train"]
    assert steps == sorted(set(steps))
    assert done.stdout.count("Done: test accuracy") == 1
    assert done.stderr.count("validation: accuracy") == len([e for e in events(run) if e["type"] == "eval"])


def test_a_file_read_through_arrow_trains_on_two_processes_like_the_whole_file_on_one(topics, one_process):
    """Past TRANSFERLAB_LARGE_TABLE_BYTES a file is read into memory-mapped Arrow (engine.data.large) and its
    token ids too: each process reads and tokenises it, and the run is the whole-file run of one process."""
    folder, data, model = topics
    run = folder / "arrow-two"
    done = train(*flags(data, model, run, devices="2"), env={"TRANSFERLAB_LARGE_TABLE_BYTES": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("into a memory-mapped Arrow file") == 1  # rank 0 alone logs
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == one_process["steps"] and metrics["test_examples"] == one_process["test_examples"]
    assert abs(metrics["accuracy"] - one_process["accuracy"]) <= 0.05
    assert len(probabilities(run)) == metrics["test_examples"]


@pytest.mark.parametrize(
    ("env", "engine"), [("ACCELERATE_USE_FSDP", "FSDP"), ("ACCELERATE_USE_DEEPSPEED", "DeepSpeed")]
)
def test_a_launch_that_shards_the_model_is_refused_in_words_before_anything_is_written(topics, env, engine):
    """accelerate launch --use_fsdp (or DeepSpeed) would shard the model, which rank 0 then could not write
    alone: refused with what to launch instead, not a hang or a half-written run."""
    folder, data, model = topics
    done = train(*flags(data, model, folder / f"sharded-{engine}"), env={env: "true"})
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"not {engine}" in done.stderr and "accelerate launch --multi_gpu" in done.stderr
    assert not (folder / f"sharded-{engine}").exists()


def test_frozen_features_are_shared_among_processes_and_gathered_in_order(topics):
    folder, data, model = topics
    frozen = {"strategy": "frozen"}
    single = train(*flags(data, model, folder / "frozen-one", **frozen), env={"TRANSFERLAB_HOME": str(folder / "h1")})
    assert single.returncode == 0, single.stderr[-3000:]
    home = folder / "h2"
    double = train(
        *flags(data, model, folder / "frozen-two", devices="2", **frozen), env={"TRANSFERLAB_HOME": str(home)}
    )
    assert double.returncode == 0, double.stderr[-3000:]
    # Each process computed half the rows of every split; put together in order they are the same features,
    # so the same head and the same probabilities.
    one, two = probabilities(folder / "frozen-one"), probabilities(folder / "frozen-two")
    assert len(one) == len(two) > 0
    assert [label for label, _ in one] == [label for label, _ in two]
    assert max(abs(p1 - p2) for (_, p1), (_, p2) in zip(one, two, strict=True)) < 1e-5
    assert len(list((home / "cache" / "features").glob("*.npy"))) == 2  # train and test, written once by rank 0
    assert double.stdout.count("Done: test accuracy") == 1


def test_processes_queued_for_the_device_longer_than_their_collective_timeout_still_train(topics):
    """Under plain torchrun rank 0 waits for the device slot while the others wait for it at a collective
    step, which times out (TRANSFERLAB_COLLECTIVE_TIMEOUT, 600 s by default): rank 0's signs of life keep
    them waiting as long as the queue takes. Here the wait is 3 timeouts long."""
    import time

    from engine.core.hardware import max_concurrent_runs
    from engine.core.locks import try_device_slots

    folder, data, model = topics
    run, timeout = folder / "queued", 8
    slots = try_device_slots(max_concurrent_runs(), folder / "another-run", max_concurrent_runs())
    assert slots, "the test needs the machine's device slots free"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    process = subprocess.Popen(
        [*launcher, "-m", "engine.train", *flags(data, model, run, strategy="frozen")],
        cwd=ROOT,
        env={**os.environ, "TRANSFERLAB_COLLECTIVE_TIMEOUT": str(timeout)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (run / "status.json").exists() or json.loads((run / "status.json").read_text())["state"] != "queued":
            assert process.poll() is None and time.monotonic() < deadline, "the run never queued"
            time.sleep(0.5)
        time.sleep(3 * timeout)
        assert process.poll() is None, process.communicate()[1][-3000:]
    finally:
        for _, fd in slots:
            os.close(fd)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    assert json.loads((run / "status.json").read_text())["state"] == "completed"
    assert out.count("Done: test accuracy") == 1


def test_a_killed_process_fails_the_run_with_its_reason_and_one_process_resumes_it(topics, one_process):
    folder, data, model = topics
    run = folder / "killed"
    # Process 1 dies (SIGKILL) right after the first checkpoint is written; rank 0 is blocked at the next step.
    died = train(
        *flags(data, model, run, devices="2"), env={"TRANSFERLAB_KILL_AT": "checkpoint", "TRANSFERLAB_KILL_RANK": "1"}
    )
    assert died.returncode == 2, died.stderr[-3000:]
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "failed"
    assert status["message"].startswith("Process 1 of the 2 training processes was killed (SIGKILL")
    assert "resumed" in status["message"] and status["message"] in died.stderr
    checkpoints = list((run / "checkpoints").glob("checkpoint-*"))
    assert checkpoints and not list(run.glob("checkpoints/*/rng_state_1.pth"))  # rank 0 alone wrote

    resumed = train("--resume", str(run), "--devices", "1")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == one_process["steps"] and metrics["accuracy"] > 0.8
    assert json.loads((run / "config.json").read_text())["devices"] == 1
    assert [e["type"] for e in events(run)].count("resume") == 1


def test_torchrun_reports_become_plain_reasons():
    report = """torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
Failures:
[1]:
  rank      : 0 (local_rank: 0)
  exitcode  : -15 (pid: 11)  (SIGTERM)
Root Cause (first observed failure):
[0]:
  time      : 2026-12-03_09:48:09
  host      : localhost
  rank      : 3 (local_rank: 1)
  exitcode  : 1 (pid: 12)
  error_file: <N/A>
"""
    assert root_failure(report) == (3, 1, None)
    assert failure_reason(report, 4).startswith("Process 3 of the 4 training processes ended with exit code 1,")
    assert root_failure("no report at all") is None
    assert failure_reason("", 2).startswith("One of the 2 training processes failed")


def test_the_dashboards_worker_starts_a_run_on_two_processes_through_torchrun(topics, workspace, one_process):
    """A run whose settings ask for 2 devices, started as the Train page starts runs: the worker holds the run
    and its slot while torchrun trains it, and the run directory is rank 0's alone."""
    import time

    from engine.core.config import TrainConfig
    from engine.core.jobs import refresh_status, start_run

    folder, data, model = topics
    settings = TrainConfig(data=str(data), model=str(model), devices=2, **SETTINGS)
    run = start_run(settings)
    deadline = time.time() + 240
    while refresh_status(run).get("state") not in ("completed", "failed", "cancelled") and time.time() < deadline:
        time.sleep(0.5)
    status = refresh_status(run)
    assert status["state"] == "completed", (status, (run.path / "worker.log").read_text(errors="replace")[-3000:])
    metrics = run.metrics()
    assert metrics["device"].endswith("2 processes") and metrics["steps"] == one_process["steps"]
    assert [e["type"] for e in run.events()].count("setup") == 1


def test_a_run_written_from_another_machine_is_monitored_not_declared_lost(workspace, tmp_path):
    """A multi-machine run on a shared file system: its status names rank 0's machine and pid. The dashboard on
    another machine cannot look that pid up, so the run counts as alive while its status keeps being written."""
    import time

    from engine.core.jobs import refresh_status
    from engine.core.rundir import RunDir, write_json_atomic

    run = RunDir(tmp_path / "shared-run")
    run.path.mkdir()
    remote = {"state": "running", "message": "Training", "pid": 999_999_999, "host": "gpu-node-17"}
    write_json_atomic(run.status_path, {**remote, "updated_at": time.time() - 5})
    assert refresh_status(run)["state"] == "running"  # a pid of this machine would be dead: not the test here
    write_json_atomic(run.status_path, {**remote, "updated_at": time.time() - 3 * 3600})
    assert refresh_status(run)["state"] == "failed"  # hours without a word: lost
    # The same status without the machine's name is a process of this machine, dead: lost at once.
    write_json_atomic(run.status_path, {**{k: v for k, v in remote.items() if k != "host"}, "updated_at": time.time()})
    assert refresh_status(run)["state"] == "failed"
