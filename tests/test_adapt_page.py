"""The dashboard's adaptation path: on Model & strategy, upload unlabeled texts, see the method and the time,
start, follow, and pick the adapted model; on Results, the same classifier without the adaptation, one click
away, side by side (and in the report)."""

from __future__ import annotations

import time

from test_adapt import domain_texts
from test_pages import fake_run, open_app, texts

from engine.core import jobs
from engine.core.adapt_compare import WITHOUT_FILE, base_config, start_without, without_twin
from engine.core.adaptation import ADAPTATION_FILE
from engine.core.config import TrainConfig
from engine.core.rundir import RunDir, read_json, write_json_atomic
from engine.core.words import markdown_text as md
from engine.report.document import Charts
from engine.report.facts import read_run
from engine.report.sections import model_section, scores_section

TIMEOUT_S = 120


def test_model_page_uploads_texts_estimates_adapts_and_offers_the_adapted_model(workspace, tiny_bert, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_MAX_CONCURRENT_RUNS", "1")
    at = open_app("pages/model.py")
    assert any("Teach it your domain's language first" in e.label for e in at.expander)
    at.session_state["model"] = at.session_state["w_model"] = str(tiny_bert)
    at.run()
    # Too few texts: the same plain-words refusal as the engine's.
    at.file_uploader(key="w_adapt_upload").set_value(("few.txt", b"one\ntwo\nthree\n", "text/plain")).run()
    assert any("at least 50" in e.value for e in at.error)
    notes = "\n".join(domain_texts(150)).encode()
    at.file_uploader(key="w_adapt_upload").set_value(("notes.txt", notes, "text/plain")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    captions = texts(at.caption)
    assert any(md("150 different texts in the notes.txt") in c for c in captions), captions
    assert any(c.startswith("Estimated time: about") and "CPU" in c for c in captions), captions
    assert any(md("Masked-word practice") in m for m in texts(at.markdown))
    at.select_slider(key="w_adapt_steps").set_value(50).run()

    at.button(key="adapt_start").click().run()
    assert not at.exception and not at.session_state["adapt_error"]
    run = RunDir(at.session_state["adapt_run"])
    assert run.config()["max_steps"] == 50 and run.config()["model"] == str(tiny_bert)
    assert [b for b in at.button if b.key == "adapt_cancel"]  # queued or running: it can be cancelled
    deadline = time.time() + TIMEOUT_S
    while jobs.refresh_status(run).get("state") in jobs.ACTIVE and time.time() < deadline:
        time.sleep(0.5)
    assert run.status()["state"] == "completed", run.status()

    at.run()
    assert not at.exception
    assert any(m.label == "Held-out loss" for m in at.metric) and any(m.label == "Perplexity" for m in at.metric)
    at.button(key="adapt_use").click().run()
    assert at.session_state["model"] == str(run.path)
    card = next(b for b in at.button if b.key == f"use:{run.path}")  # listed among the models
    assert card.label == "Selected" and card.disabled
    assert any(md(f"{tiny_bert.name} adapted to notes.txt") in m for m in texts(at.markdown))
    assert any(md(f"Using {tiny_bert.name} adapted to notes.txt") in c for c in texts(at.caption))


def test_pictures_get_no_adaptation_section(workspace):
    at = open_app("pages/model.py")
    at.session_state["data_task"] = "image"
    at.run()
    assert not any("Teach it your domain's language" in e.label for e in at.expander)


def adapted_run(workspace, name: str = "adapted-run"):
    """A completed run on an adapted model (the adaptation's folder holds only its adaptation.json)."""
    adaptation = workspace / "adaptations" / "a1"
    write_json_atomic(adaptation / "model" / ADAPTATION_FILE, {"base_model": "minilm", "data": "/x/notes.txt"})
    run = fake_run(workspace, name, accuracy=0.9)
    TrainConfig(data="data/spam_emails.csv", model=str(adaptation), strategy="frozen", seed=7).save(run.config_path)
    write_json_atomic(run.metrics_path, {**run.metrics(), "strategy": "frozen", "max_length": 64})
    return run


def test_results_trains_the_classifier_without_adaptation_and_shows_both(workspace, monkeypatch):
    run = adapted_run(workspace)
    plain = fake_run(workspace, "plain-run")
    started = []

    def fake_start(config, name=None, note=None, **kw):
        started.append(config)
        return jobs.prepare_run(config, workspace / "runs" / "base-twin", name, note)

    monkeypatch.setattr(jobs, "start_run", fake_start)
    at = open_app("pages/results.py")
    at.selectbox(key="w_results_run").set_value(str(run.path)).run()
    # The run's model is named as the Model page lists it, not by its folder.
    assert texts(at.caption)[0].startswith(md("MiniLM-L6 adapted to notes.txt · frozen")), texts(at.caption)[:1]
    at.button(key="with_without").click().run()
    assert not at.exception and not at.error
    (config,) = started
    assert (config.model, config.strategy, config.seed, config.max_length) == ("minilm", "frozen", 7, 64)
    twin = without_twin(run)
    assert twin is not None and read_json(run.path / WITHOUT_FILE)["twin"] == str(twin.path)
    assert twin.about()["name"] == "adapted-run — without adaptation"
    assert any("Training the same classifier without the adaptation" in t for t in texts(at.info))
    assert start_without(run).path == twin.path  # a second click follows the same twin

    twin.set_status("completed", "done")
    write_json_atomic(
        twin.metrics_path,
        {"accuracy": 0.8, "accuracy_ci": [0.7, 0.85], "macro_f1": 0.75, "strategy": "frozen", "train_seconds": 9.0},
    )
    at.run()
    table = next(t.value for t in at.table if "start" in t.value.columns)
    assert list(table["start"]) == ["adapted model", "base model (no adaptation)"]
    assert list(table["accuracy"]) == ["0.900", "0.800"]
    assert any(md("Adapting the model first gave +10 points of accuracy") in t for t in texts(at.markdown))

    facts = read_run(run.path)
    html = scores_section(facts, Charts(), "")
    assert "base model (no adaptation)" in html and "Adapting the model first gave +10 points" in html
    assert "MiniLM-L6 adapted to notes.txt: minilm taught the language of" in model_section(facts, Charts(), "")
    # A run on a plain model has no such comparison.
    at.selectbox(key="w_results_run").set_value(str(plain.path)).run()
    assert not [b for b in at.button if b.key == "with_without"]
    assert "without adaptation" not in scores_section(read_run(plain.path), Charts(), "")


def test_the_base_config_keeps_the_settings_and_the_inputs_the_run_used():
    config = TrainConfig(data="/d/a.csv", model="/w/adaptations/x", strategy="lora", learning_rate=1e-3).to_dict()
    twin = base_config(config, {"max_length": 48, "image_size": None}, "minilm")
    assert (twin.model, twin.strategy, twin.learning_rate, twin.max_length) == ("minilm", "lora", 1e-3, 48)


def test_the_loaded_datas_texts_can_be_used_without_labels_and_the_sidebar_shows_an_adaptation(workspace):
    from engine.core.adapt_jobs import prepare_adaptation
    from engine.core.adaptation import AdaptConfig

    at = open_app("pages/data.py")
    at.radio(key="w_data_source").set_value("demo").run()
    at.switch_page("pages/model.py").run()
    at.radio(key="w_adapt_source").set_value("data").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(md("different texts in the column 'text' of spam_emails.csv") in c for c in texts(at.caption)), [
        c for c in texts(at.caption) if "texts" in c
    ]
    # An adaptation queued (this process keeps it alive) shows in the sidebar, on every page.
    queued = prepare_adaptation(AdaptConfig(data="data/spam_emails.csv"), workspace / "adaptations" / "queued-one")
    at.switch_page("pages/results.py").run()
    assert any("Adapting" in m and md(queued.name) in m for m in texts(at.sidebar.markdown))
    assert "No run in progress." not in texts(at.sidebar.caption)
