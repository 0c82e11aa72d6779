"""The strategy sweep: the same test split for every strategy, the Pareto front, the recommendation in
words, and the Results section that starts it and shows it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.core.config import TrainConfig
from engine.core.rundir import RunDir, write_json_atomic
from engine.core.studies import mark_pareto, strategy_config, sweep_strategies, sweep_summary
from engine.core.study_jobs import study_dir, study_status
from tests.test_curve import fake_popen, fake_run, write_config  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parent.parent


def pt(strategy, accuracy, seconds, ci=None, params=1000):
    ci = ci or [accuracy - 0.03, accuracy + 0.03]
    return {
        "strategy": strategy,
        "accuracy": accuracy,
        "accuracy_ci": ci,
        "train_seconds": seconds,
        "trainable_params": params,
    }


# --- the Pareto front ------------------------------------------------------------------------------------
def test_the_pareto_front_keeps_what_no_other_strategy_beats_on_both_counts():
    pts = [pt("frozen", 0.76, 60), pt("partial", 0.74, 300), pt("lora", 0.79, 400), pt("full", 0.79, 900)]
    marked = {p["strategy"]: p["pareto"] for p in mark_pareto(pts)}
    # partial: frozen is more accurate and faster; full: lora is as accurate and faster.
    assert marked == {"frozen": True, "partial": False, "lora": True, "full": False}
    twins = mark_pareto([pt("a", 0.8, 100), pt("b", 0.8, 100)])
    assert [p["pareto"] for p in twins] == [True, True]  # equal on both counts: neither beats the other


# --- the recommendation -------------------------------------------------------------------------------------
def test_a_faster_strategy_inside_the_best_ones_interval_is_recommended():
    pts = [pt("lora", 0.79, 300, [0.76, 0.82]), pt("frozen", 0.77, 60), pt("partial", 0.78, 200)]
    text = sweep_summary(pts)
    assert text.startswith("lora was the most accurate (0.79, 95% interval 0.76–0.82, 5 min 0 s to train)")
    assert "frozen was within its interval in 1 min 0 s, 5.0× faster: choose frozen unless" in text


def test_the_most_accurate_strategy_is_recommended_when_nothing_faster_comes_close():
    text = sweep_summary([pt("lora", 0.79, 300, [0.76, 0.82]), pt("frozen", 0.70, 60)])
    assert "no faster strategy came within its 95% interval (next: frozen, 0.70" in text
    assert text.endswith("choose lora.")
    assert "only strategy measured" in sweep_summary([pt("lora", 0.79, 300)])


def test_a_learning_rate_belongs_to_its_strategy():
    config = TrainConfig(data="data/spam_emails.csv", model="minilm", strategy="lora", learning_rate=2e-3, epochs=1)
    assert strategy_config(config, "lora").learning_rate == 2e-3
    full = strategy_config(config, "full")
    assert full.learning_rate is None and full.epochs == 1 and full.strategy == "full"
    assert sweep_strategies("text") == ["frozen", "partial", "lora", "full"]


# --- the command ---------------------------------------------------------------------------------------------
def test_a_two_strategy_sweep_through_the_command(tmp_path, workspace, tiny_bert, topic_csv):
    from engine.sweep import main

    config = write_config(tmp_path, topic_csv, tiny_bert, epochs=1, min_steps=0, batch_size=8)
    out = tmp_path / "sweep"
    assert main(["--config", str(config), "--strategies", "frozen,full", "--out", str(out)]) == 0
    sweep = json.loads((out / "sweep.json").read_text())
    assert [p["strategy"] for p in sweep["points"]] == ["frozen", "full"]
    for p in sweep["points"]:
        assert set(p) >= {"accuracy", "macro_f1", "accuracy_ci", "macro_f1_ci", "train_seconds", "trainable_params"}
        assert RunDir(p["run"]).status()["state"] == "completed"
    assert [p["pareto"] for p in sweep["points"]] == [p["pareto"] for p in mark_pareto(sweep["points"])]
    assert any(p["pareto"] for p in sweep["points"])
    assert sweep["summary"] == sweep_summary(sweep["points"])
    frozen, full = (RunDir(p["run"]).metrics() for p in sweep["points"])
    assert frozen["trainable_params"] < full["trainable_params"]
    # The same test split for both: the same texts.
    texts = [
        sorted(line.split(",")[0] for line in RunDir(p["run"]).predictions_path.read_text().splitlines()[1:])
        for p in sweep["points"]
    ]
    assert frozen["test_examples"] == full["test_examples"] > 0 and texts[0] == texts[1]
    # Each strategy by its own rule: full fine-tuning holds a validation split out, frozen trains on it too.
    assert full["validation_examples"] > 0 == frozen["validation_examples"]
    assert frozen["train_examples"] == full["train_examples"] + full["validation_examples"]


def test_an_unknown_strategy_is_refused_in_words(tmp_path, workspace, topic_csv, capsys):
    from engine.sweep import main

    config = write_config(tmp_path, topic_csv, "minilm")
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(config), "--strategies", "frozen,magic", "--out", str(tmp_path / "s")])
    assert exit_info.value.code == 2 and "unknown magic" in capsys.readouterr().err


# --- the Results section ---------------------------------------------------------------------------------------
def open_results() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/results.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_results_show_a_finished_sweep_with_its_front_and_recommendation(workspace):
    run = fake_run(workspace)
    folder = study_dir(run.path, "sweep")
    folder.path.mkdir()
    folder.set_status("completed", "done")
    points = mark_pareto([pt("frozen", 0.76, 60, params=1500), pt("lora", 0.79, 400, params=74_000)])
    summary = sweep_summary(points)
    write_json_atomic(folder.path / "sweep.json", {"config": {}, "points": points, "summary": summary})
    at = open_results()
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    sweep = [c for c in charts if "Accuracy against time to train" in json.dumps(c["layout"].get("title"))]
    assert len(sweep) == 1
    assert [t.get("name") for t in sweep[0]["data"]][0] == "Pareto front"
    assert any(m.value.startswith("lora was the most accurate") for m in at.markdown)


def test_the_sweep_button_starts_every_strategy_of_the_task(workspace, fake_popen):  # noqa: F811
    run = fake_run(workspace)
    at = open_results()
    at.button(key="start_sweep").click().run()
    assert not at.exception, [e.value for e in at.exception]
    cmd = fake_popen.started[0]
    assert "engine.sweep" in cmd and cmd[-2:] == ["--strategies", "frozen,partial,lora,full"]
    assert study_status(run.path, "sweep")["state"] == "queued"
    assert any("Strategy sweep" in p.proto.text for p in at.get("progress"))
