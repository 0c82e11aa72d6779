"""The learning curve: stratified shares of the training split, the same test split at every point, the
rule that says where the curve flattens, and the Results section that starts it and shows it."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.core.config import TrainConfig
from engine.core.errors import ConfigError
from engine.core.rundir import RunDir, write_json_atomic
from engine.core.studies import CLASSICAL, curve_summary, parse_fractions, stratified_subset
from engine.core.study_jobs import cancel_study, start_study, study_dir, study_status

ROOT = Path(__file__).resolve().parent.parent


# --- which examples a share keeps -------------------------------------------------------------------------
def test_every_class_keeps_its_share_and_smaller_shares_are_inside_larger_ones():
    labels = [0] * 200 + [1] * 30 + [2] * 4  # imbalanced, one class tiny
    small, large = stratified_subset(labels, 0.1, seed=3), stratified_subset(labels, 0.5, seed=3)
    assert Counter(labels[i] for i in small) == {0: 20, 1: 3, 2: 1}  # every class present at 10%
    assert Counter(labels[i] for i in large) == {0: 100, 1: 15, 2: 2}
    assert set(small) <= set(large)  # the curve adds examples, never swaps them
    assert stratified_subset(labels, 1.0, seed=3) == list(range(len(labels)))
    assert stratified_subset(labels, 0.1, seed=3) == small  # seeded
    assert stratified_subset(labels, 0.1, seed=4) != small


def test_fractions_are_checked_and_sorted():
    assert parse_fractions("1,0.1,0.25,0.1") == [0.1, 0.25, 1.0]
    for bad in ("0,0.5", "0.5,1.5", "ten", ""):
        with pytest.raises(ValueError, match="fraction"):
            parse_fractions(bad)


# --- where the curve flattens, in words ----------------------------------------------------------------------
def point(fraction, examples, accuracy, ci, method="lora"):
    return {"fraction": fraction, "examples": examples, "method": method, "accuracy": accuracy, "accuracy_ci": ci}


def test_a_last_step_inside_the_interval_says_more_labels_would_help_little():
    pts = [point(0.5, 1200, 0.775, [0.74, 0.80]), point(1, 2400, 0.787, [0.76, 0.81])]
    text = curve_summary(pts)
    assert text.startswith("Going from 50% to 100% of the examples (1,200 → 2,400) added 1.2 points, inside")
    assert "would help little" in text


def test_a_last_step_beyond_the_interval_says_the_curve_still_rises():
    pts = [
        point(0.5, 1200, 0.70, [0.67, 0.73]),
        point(
            1,
            2400,
            0.79,
            [0.76, 0.82],
        ),
    ]
    text = curve_summary(pts, "picture")
    assert "added 9.0 points, beyond the 95% interval: the curve is still rising" in text
    assert "more labeled pictures would likely help" in text


def test_the_summary_names_the_smallest_share_already_inside_the_full_sets_interval():
    pts = [
        point(0.1, 240, 0.60, [0.55, 0.65]),
        point(0.25, 600, 0.77, [0.73, 0.80]),
        point(0.5, 1200, 0.78, [0.75, 0.81]),
        point(1, 2400, 0.79, [0.76, 0.82]),
        point(1, 2400, 0.95, [0.93, 0.97], method=CLASSICAL),  # the baseline never counts as the curve
    ]
    text = curve_summary(pts)
    assert "(1,200 → 2,400) added 1.0 points" in text
    assert text.endswith("Already with 25% (600 examples) the score was inside the interval of the full set's.")
    assert "one point only" in curve_summary(pts[:1]).lower()


# --- the command ---------------------------------------------------------------------------------------------
def write_config(tmp_path: Path, data: Path, model: Path, **settings) -> Path:
    path = tmp_path / "config.json"
    values = {"strategy": "frozen", "max_length": 32, "threads": 2, **settings}
    TrainConfig(data=str(data), model=str(model), **values).save(path)
    return path


def test_a_two_point_curve_through_the_command(tmp_path, workspace, tiny_bert, topic_csv):
    from engine.curve import main
    from engine.training.trainer import load_splits

    config = write_config(tmp_path, topic_csv, tiny_bert)
    out = tmp_path / "curve"
    assert main(["--config", str(config), "--fractions", "1,0.1", "--out", str(out)]) == 0
    curve = json.loads((out / "curve.json").read_text())
    assert curve["config"]["strategy"] == "frozen" and curve["summary"].startswith("Going from 10% to 100%")
    model = [p for p in curve["points"] if p["method"] == "frozen"]
    classical = [p for p in curve["points"] if p["method"] == CLASSICAL]
    assert [p["fraction"] for p in model] == [p["fraction"] for p in classical] == [0.1, 1.0]
    assert model[0]["examples"] < model[1]["examples"]
    for p in curve["points"]:
        assert set(p) >= {"fraction", "examples", "method", "accuracy", "macro_f1", "accuracy_ci", "macro_f1_ci"}
        assert 0 <= p["accuracy_ci"][0] <= p["accuracy"] <= p["accuracy_ci"][1] <= 1
    assert all(p["run"] is None for p in classical)

    runs = [RunDir(p["run"]) for p in model]
    assert all(r.status()["state"] == "completed" and r.path.parent == out / "runs" for r in runs)
    metrics = [r.metrics() for r in runs]
    # Every class present at 10%: its share of the class's training examples, at least one.
    counts = load_splits(TrainConfig.load(config))[0].train.class_counts()
    assert metrics[0]["train_examples"] == model[0]["examples"] == sum(max(1, round(n * 0.1)) for n in counts.values())
    assert metrics[1]["train_examples"] == model[1]["examples"] == sum(counts.values())
    # A point's notes count its own examples, not the full split's.
    assert any(n.startswith("Learning curve: 10% of the training examples") for n in metrics[0]["notes"])
    assert not any("non-test examples train the model" in n for n in metrics[0]["notes"])
    # The same test split at every point: the same texts, not only as many.
    tests = [sorted(r.predictions_path.read_text(encoding="utf-8").splitlines()[1:]) for r in runs]
    assert metrics[0]["test_examples"] == metrics[1]["test_examples"] > 0
    assert [line.split(",")[0] for line in tests[0]] == [line.split(",")[0] for line in tests[1]]
    assert study_dir(tmp_path, "curve").status()["state"] == "completed"


def test_bad_fractions_and_a_used_folder_are_refused_in_words(tmp_path, workspace, topic_csv, capsys):
    from engine.curve import main

    config = write_config(tmp_path, topic_csv, "minilm")
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(config), "--fractions", "0,2", "--out", str(tmp_path / "a")])
    assert exit_info.value.code == 2 and "above 0 and at most 1" in capsys.readouterr().err
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    assert main(["--config", str(config), "--out", str(used)]) == 2
    assert sorted(p.name for p in used.iterdir()) == ["notes.txt"]  # nothing written into a folder not ours


def test_a_stop_request_ends_the_curve_before_the_next_point(tmp_path, workspace, topic_csv):
    from engine.curve import main

    out = tmp_path / "curve"
    out.mkdir()
    (out / "CANCEL").touch()
    assert main(["--config", str(write_config(tmp_path, topic_csv, "minilm")), "--out", str(out)]) == 3
    assert RunDir(out).status()["state"] == "cancelled" and not (out / "runs").exists()


# --- the job and the Results section ---------------------------------------------------------------------
def fake_run(root: Path, name: str = "spam-lora") -> RunDir:
    run = RunDir(root / "runs" / name)
    run.path.mkdir(parents=True)
    TrainConfig(data="data/spam_emails.csv", model="minilm", strategy="lora").save(run.config_path)
    run.set_status("completed", "done")
    write_json_atomic(
        run.metrics_path,
        {
            "task": "text",
            "accuracy": 0.9,
            "macro_f1": 0.85,
            "labels": ["ham", "spam"],
            "confusion_matrix": [[8, 1], [1, 10]],
            "train_examples": 2400,
            "test_examples": 20,
            "train_seconds": 30.0,
            "trainable_params": 1000,
            "total_params": 100_000,
        },
    )
    return run


class FakeProcess:
    """What subprocess.Popen gives the launcher; it keeps the handed-over lock, as the command does."""

    started: list[list[str]] = []
    held: list[int] = []

    def __init__(self, cmd, **kw):
        FakeProcess.started.append(cmd)
        FakeProcess.held.append(os.dup(int(cmd[cmd.index("--lock-fd") + 1])))
        self.pid = os.getpid()

    def wait(self):
        return 0


@pytest.fixture()
def fake_popen(monkeypatch):
    import engine.core.jobs as jobs  # studies start through jobs.start_detached, as runs do

    FakeProcess.started, FakeProcess.held = [], []
    monkeypatch.setattr(jobs.subprocess, "Popen", FakeProcess)
    yield FakeProcess
    for fd in FakeProcess.held:
        os.close(fd)


def test_a_study_starts_once_and_is_marked_failed_when_its_process_is_gone(workspace, fake_popen):
    run = fake_run(workspace)
    start_study(run.path, "curve", ["--fractions", "0.5,1"])
    cmd = fake_popen.started[0]
    assert cmd[1:3] == ["-m", "engine.curve"] and cmd[-2:] == ["--fractions", "0.5,1"]
    assert cmd[cmd.index("--out") + 1] == str(run.path / "curve")
    assert study_status(run.path, "curve")["state"] == "queued"
    with pytest.raises(ConfigError, match="already running"):
        start_study(run.path, "curve", [])  # a second click while the first runs
    assert len(fake_popen.started) == 1
    cancel_study(run.path, "curve")
    assert (run.path / "curve" / "CANCEL").exists()
    os.close(fake_popen.held.pop())  # the process ends without a word
    assert study_status(run.path, "curve")["state"] == "failed"


def open_results(workspace) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/results.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_results_show_a_finished_curve_with_its_summary(workspace):
    run = fake_run(workspace)
    folder = study_dir(run.path, "curve")
    folder.path.mkdir()
    folder.set_status("completed", "done")
    summary = "Going from 50% to 100% of the examples (1,200 → 2,400) added 1.2 points, inside the 95% interval."
    points = [
        {
            "fraction": f,
            "examples": n,
            "method": m,
            "accuracy": a,
            "macro_f1": a,
            "accuracy_ci": [a - 0.03, a + 0.03],
            "macro_f1_ci": [a - 0.03, a + 0.03],
            "train_seconds": 10.0,
            "run": None,
        }
        for f, n in ((0.5, 1200), (1, 2400))
        for m, a in (("lora", 0.8 + f / 10), (CLASSICAL, 0.7))
    ]
    write_json_atomic(folder.path / "curve.json", {"config": {}, "points": points, "summary": summary})
    at = open_results(workspace)
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert sum("Test accuracy against labeled examples" in s for s in specs) == 1
    assert any("1,200" in m.value and "inside the 95% interval" in m.value for m in at.markdown)
    assert any(b.label == "How much labeled data do I need?" for b in at.button)


def test_the_curve_button_starts_the_command_and_shows_its_progress(workspace, fake_popen):
    run = fake_run(workspace)
    at = open_results(workspace)
    assert any("An estimate: about" in c.value for c in at.caption)  # the time, before starting
    at.button(key="start_curve").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(fake_popen.started) == 1 and "engine.curve" in fake_popen.started[0]
    assert fake_popen.started[0][-2:] == ["--fractions", "0.1,0.25,0.5,1"]
    assert study_status(run.path, "curve")["state"] == "queued"
    assert any("Learning curve: Starting" in p.proto.text for p in at.get("progress"))
    at.button(key="cancel_curve").click().run()
    assert (run.path / "curve" / "CANCEL").exists()


def test_the_chart_ticks_the_curves_own_sizes_and_its_bands_have_no_dots():
    """Found in Chromium: the log axis read "5 6 7 8 9 1000 2 3", and the bands' corners were dotted."""
    from ui.study_charts import learning_curve_figure

    points = [
        {"method": m, "fraction": f, "examples": n, "accuracy": a, "accuracy_ci": [a - 0.01, a + 0.01]}
        for m in ("frozen", "classical")
        for f, n, a in ((0.1, 471, 0.93), (0.5, 2353, 0.95), (1.0, 4705, 0.96))
    ]
    fig = learning_curve_figure({"points": points})
    assert list(fig.layout.xaxis.tickvals) == [471, 2353, 4705]
    assert list(fig.layout.xaxis.ticktext) == ["471", "2,353", "4,705"]
    bands = [t for t in fig.data if t.fill == "toself"]
    assert len(bands) == 2 and all(t.mode == "lines" for t in bands)
