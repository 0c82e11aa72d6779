"""The app shell: the router, server defaults, and the rule that the dashboard process never loads torch."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine.core.formats import MAX_FILE_BYTES

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


# The one place that renders HTML: shaded words, every character of the text escaped by
# engine.core.explanations.highlight_html (tests/test_explain.py feeds it markup and a script).
HTML_ALLOWED = {"explain.py": 1}


def test_no_user_text_is_rendered_as_html():
    for path in DASHBOARD_FILES:
        text = path.read_text()
        assert "unsafe_allow_html" not in text, path.name
        assert text.count("st.html(") == HTML_ALLOWED.get(path.name, 0), path.name
    explain = (ROOT / "ui" / "explain.py").read_text()
    assert "{highlight_html(" in explain.split("st.html(", 1)[1].split(")\n", 1)[0]


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


def test_try_it_predicts_without_loading_torch_into_the_dashboard(workspace, tiny_bert, topic_csv):
    """Try it talks to a warm ``python -m engine.serve`` process; the Streamlit process stays torch-free."""
    import os

    train = [sys.executable, "-m", "engine.train", "--data", str(topic_csv), "--model", str(tiny_bert)]
    train += ["--strategy", "frozen", "--epochs", "2", "--threads", "1", "--out", str(workspace / "runs" / "tiny")]
    env = {**os.environ, "TRANSFERLAB_HOME": str(workspace)}
    done = subprocess.run(train, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    code = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=120).run()
at.switch_page("pages/try_it.py").run()
at.text_area[0].set_value("my card payment was charged twice, refund please")
at.form_submit_button[0].click().run()
assert not at.exception, [e.value for e in at.exception]
labels = {m.label: m.value for m in at.metric}
print(labels["Predicted label"])
print("torch" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    label, torch_loaded = out.stdout.strip().splitlines()[-2:]
    assert label in ("billing", "shipping", "tech") and torch_loaded == "False"
