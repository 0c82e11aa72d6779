"""The app shell: the router, server defaults, and the rule that the dashboard process never loads torch."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine.data import MAX_FILE_BYTES

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD_FILES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py"))]


def test_app_routes_the_six_pages_and_opens_on_data(workspace):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "Data"
    for page, title in [
        ("pages/model.py", "Model & strategy"),
        ("pages/train.py", "Train"),
        ("pages/results.py", "Results"),
        ("pages/try_it.py", "Try it"),
        ("pages/runs.py", "Runs"),
        ("pages/data.py", "Data"),
    ]:
        at.switch_page(page).run()
        assert not at.exception, page
        assert at.title[0].value == title
        assert at.sidebar.text, f"no sidebar on {page}"


def test_server_defaults_listen_locally_and_match_the_engine_upload_limit():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["maxUploadSize"] * 1024 * 1024 == MAX_FILE_BYTES
    assert config["browser"]["gatherUsageStats"] is False
    # A source watcher polling the project (and the workspace a run writes into) took most of a core
    # away from training on a 2-core machine: measured 2x slower frozen features with it on.
    assert config["server"]["fileWatcherType"] == "none"


def test_pages_and_app_never_import_torch():
    heavy = {"torch", "transformers", "peft"}
    for path in DASHBOARD_FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not {n.split(".")[0] for n in names} & heavy, f"{path.name} imports {names}"


def test_no_user_text_is_rendered_as_html():
    for path in DASHBOARD_FILES:
        text = path.read_text()
        assert "unsafe_allow_html" not in text and "st.html" not in text, path.name


def test_light_engine_modules_do_not_load_torch():
    code = (
        "import sys; import engine.catalog, engine.config, engine.data, engine.rundir, engine.strategies, "
        "engine.metrics, engine.workspace, engine.resolve, engine.device, engine.jobs, engine.uploads, "
        "engine.estimate, engine.predict; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_rendering_every_page_with_data_chosen_does_not_load_torch(workspace):
    # In a fresh process: the demo data on the Data page, then every page, including the Model page's estimate.
    code = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=60).run()
at.radio(key="w_data_source").set_value("demo").run()
for page in ["model", "train", "results", "try_it", "runs"]:
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, (page, [e.value for e in at.exception])
assert any(m.label == "Estimated time" for m in at.switch_page("pages/model.py").run().metric)
print("torch" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
