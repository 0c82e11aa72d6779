"""Page tests with Streamlit's AppTest: the read-only home page."""

from __future__ import annotations

import ast
from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine.config import TrainConfig
from engine.rundir import RunDir, write_json_atomic

ROOT = Path(__file__).resolve().parent.parent


def test_fresh_workspace_shows_catalog_and_no_runs(workspace):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    models = at.dataframe[0].value
    assert {"minilm", "smollm2"} <= set(models["name"])
    assert models.set_index("name").loc["minilm", "works offline"] == "yes"
    assert any("No runs yet" in info.value for info in at.info)


def test_runs_in_the_workspace_are_listed(workspace):
    run = RunDir(workspace / "runs" / "demo-run")
    run.path.mkdir(parents=True)
    TrainConfig(data="data/spam_emails.csv", model="minilm", strategy="lora").save(run.config_path)
    run.set_status("completed", "done")
    write_json_atomic(run.metrics_path, {"accuracy": 0.97, "macro_f1": 0.96})
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    runs = at.dataframe[1].value
    assert list(runs["run"]) == ["demo-run"]
    assert runs.iloc[0]["accuracy"] == 0.97 and runs.iloc[0]["state"] == "completed"


def test_pages_and_app_never_import_torch():
    heavy = {"torch", "transformers", "peft"}
    for path in [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not {n.split(".")[0] for n in names} & heavy, f"{path.name} imports {names}"


def test_light_engine_modules_do_not_load_torch():
    import subprocess
    import sys

    code = (
        "import sys; import engine.catalog, engine.config, engine.data, engine.rundir, engine.strategies, "
        "engine.metrics, engine.workspace, engine.resolve, engine.device; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
