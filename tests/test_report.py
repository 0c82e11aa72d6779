"""The report for stakeholders (``python -m engine.report``) and the model card, on tiny runs really trained.

The report must open offline: plotly's library inlined once, nothing by URL; hostile class names stay
text; Chromium shows every chart with no request and prints it to a PDF.
"""

from __future__ import annotations

import importlib.util
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from conftest import make_rows, write_csv
from plotly.offline import get_plotlyjs
from test_pages import open_app

from engine.core.config import TrainConfig
from engine.core.jobs import prepare_run
from engine.core.reporting import CHROMIUM_ENV, split_front_matter
from engine.core.rundir import RunDir
from engine.report.cli import main
from engine.report.examples import highlighted
from engine.report.sections import SECTIONS
from engine.training.trainer import train

CHROMIUM = Path("/usr/bin/chromium")
TINY = {"epochs": 2, "batch_size": 8, "max_length": 32, "threads": 2, "min_steps": 0}
HOSTILE = ("<script>alert(1)</script>", "![x](http://evil/)", '"><img src=x onerror=alert(2)>')
URL_PATTERNS = ('src="http', "src='http", 'href="http', "href='http", "@import", "url(http", "url(//")


def train_into(root: Path, data: Path, model: Path, strategy: str, name: str, **kw) -> RunDir:
    config = TrainConfig(data=str(data), model=str(model), strategy=strategy, **{**TINY, **kw})
    run = prepare_run(config, root / name)
    train(config, run)
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_bert) -> dict[str, RunDir]:
    """A LoRA run (curves), a frozen one with another seed (not comparable), and one with hostile class names,
    in a private workspace the dashboard reads too."""
    home = tmp_path_factory.mktemp("report-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRANSFERLAB_HOME", str(home))
        data = write_csv(home / "topics.csv", make_rows(30))
        rows = [
            (text, dict(zip(("billing", "shipping", "tech"), HOSTILE, strict=True))[label])
            for text, label in make_rows(30)
        ]
        hostile = write_csv(home / "hostile.csv", rows)
        found = {
            "lora": train_into(home / "runs", data, tiny_bert, "lora", "run-lora"),
            "frozen": train_into(home / "runs", data, tiny_bert, "frozen", "run-frozen", seed=7),
            "hostile": train_into(home / "runs", hostile, tiny_bert, "frozen", "run-hostile"),
        }
        yield found


def without_plotly(document: str) -> str:
    """The document less plotly's own library (checked once: plotly.js verbatim, whose strings name plotly.com)."""
    assert document.count(get_plotlyjs()) == 1  # inlined, and only once
    return document.replace(get_plotlyjs(), "")


class Tags(HTMLParser):
    """Every tag and attribute of a document, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def report(tmp_path: Path, *runs: RunDir, extra: tuple[str, ...] = ()) -> str:
    out = tmp_path / "report.html"
    argv = [arg for run in runs for arg in ("--run", str(run.path))]
    assert main([*argv, "--out", str(out), *extra]) == 0
    return out.read_text(encoding="utf-8")


def test_the_report_of_a_run_holds_every_section_and_fetches_nothing(runs, tmp_path):
    document = report(tmp_path, runs["lora"])
    for key, title in SECTIONS:
        assert f'<h2 id="{key}">{title}</h2>' in document
    rest = without_plotly(document)
    for pattern in URL_PATTERNS:
        assert pattern not in rest, pattern
    tags = Tags()
    tags.feed(rest)
    assert not [a for tag, a in tags.tags if tag == "script" and "src" in a]  # no script by URL
    assert all(a["src"].startswith("data:") for tag, a in tags.tags if "src" in a)
    assert "<link" not in rest
    # One chart per div: class counts, loss, validation, confusion matrix, per-class bars (+ baselines when A's there).
    plots = rest.count('class="plot"')
    assert plots == rest.count("Plotly.newPlot(") >= 5
    metrics = runs["lora"].metrics()
    low, high = metrics["accuracy_ci"]
    assert f"95% interval {low:.3f}–{high:.3f}" in document
    assert "python -m engine.train --config" in document and str(runs["lora"].config_path) in document
    assert "LoRA (low-rank adapters)" in document  # the strategy in words, from engine.core.strategies
    assert "torch" in document and "transformers" in document and "peft" in document  # versions
    if importlib.util.find_spec("engine.explain"):  # the examples' words shaded by their weights
        assert document.count('class="tok"') > 5


def test_explained_words_are_shaded_and_stay_text():
    explanation = {
        "tokens": [
            {"text": "<b>", "start": 0, "end": 3, "weights": {"spam": 0.8}},
            {"text": "win", "start": 4, "end": 7, "weights": {"spam": -0.2}},
        ]
    }
    shown = highlighted("<b> win now", explanation, "spam")
    assert shown.startswith(
        '<span class="tok" style="background:rgba(44,160,44,0.60)" title="+80 points">&lt;b&gt;</span>'
    )
    assert 'rgba(214,39,40,0.15)" title="-20 points">win</span> now' in shown
    assert highlighted("<i>", None, "spam") == "&lt;i&gt;"


def test_hostile_class_names_stay_text(runs, tmp_path):
    document = report(tmp_path, runs["hostile"])
    rest = without_plotly(document)
    tags = Tags()
    tags.feed(rest)
    names = {tag for tag, _ in tags.tags}
    assert names <= {
        *("html", "head", "meta", "title", "style", "script", "body", "main", "nav", "ol", "ul", "li", "a"),
        *("h1", "h2", "h3", "p", "b", "div", "span", "table", "thead", "tbody", "tr", "th", "td", "figure"),
        *("pre", "code", "img", "section"),
    }, names
    assert not [a for _, a in tags.tags if any(k.startswith("on") for k in a)]  # no event handler
    assert all(a["src"].startswith("data:") for tag, a in tags.tags if tag == "img")
    scripts = [a for tag, a in tags.tags if tag == "script"]
    assert len(scripts) == rest.count("<script>") and not any(scripts)  # only our own inline scripts
    assert "<script>alert(1)" not in document and "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    assert "\\u0026lt;script\\u0026gt;alert(1)" in rest  # charts: plotly shows it as text, escaped in JSON
    for pattern in URL_PATTERNS:
        assert pattern not in rest, pattern


def test_several_runs_get_a_comparison_that_warns_when_the_split_differs(runs, tmp_path):
    document = report(tmp_path, runs["lora"], runs["frozen"], extra=("--no-explanations",))
    assert '<h2 id="compare">Comparison</h2>' in document
    assert "not comparable" in document and "seed: 42 (run-lora), 7 (run-frozen)" in document
    for prefix in ("run1-", "run2-"):
        for key, _ in SECTIONS:
            assert f'id="{prefix}{key}"' in document
    without_plotly(document)


def test_bad_input_and_a_missing_chromium_are_said_plainly(runs, tmp_path, monkeypatch, capsys):
    assert main(["--run", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    monkeypatch.setenv(CHROMIUM_ENV, str(tmp_path / "no-such-browser"))
    out = tmp_path / "r.html"
    code = main(["--run", str(runs["frozen"].path), "--out", str(out), "--pdf", str(tmp_path / "r.pdf")])
    assert code == 2 and "Making the PDF needs Chromium" in capsys.readouterr().err
    assert out.is_file() and not (tmp_path / "r.pdf").exists()  # the HTML report is still there


def test_the_model_card_is_a_hugging_face_card_with_the_reports_facts(runs):
    run = runs["lora"]
    meta, body = split_front_matter((run.model_dir / "README.md").read_text(encoding="utf-8"))
    card = yaml.safe_load(meta)
    metrics = run.metrics()
    assert card["license"] == "unknown" and "base_model" not in card  # a local folder: no Hub id to name
    assert card["pipeline_tag"] == "text-classification" and {"transferlab", "lora"} <= set(card["tags"])
    assert card["metrics"] == ["accuracy", "f1"]
    scores = {m["type"]: m["value"] for m in card["model-index"][0]["results"][0]["metrics"]}
    assert scores == {"accuracy": round(metrics["accuracy"], 4), "f1": round(metrics["macro_f1"], 4)}
    low, high = metrics["macro_f1_ci"]
    assert f"95% interval {low:.3f}–{high:.3f}" in body
    assert "## Data and strategy" in body and "## Limitations" in body and "## Using it" in body
    assert "adapter matrices" in body  # what LoRA reused and retrained, in words


def test_the_results_and_compare_pages_offer_the_report(runs):
    at = open_app("pages/results.py")
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download report (HTML)" in labels and "Download report (PDF)" in labels
    at = open_app("pages/runs.py")
    at.multiselect(key="w_compare").set_value(["run-lora", "run-frozen"]).run()
    assert "Download a report of these runs" in [b.proto.label for b in at.get("download_button")]


def test_the_dashboard_builds_the_report_in_a_subprocess_and_keeps_a_plain_error(runs, tmp_path, monkeypatch):
    from ui import downloads
    from ui import report as ui_report

    document = ui_report.build_report([str(runs["frozen"].path)], "html", key="k")
    assert document.startswith(b"<!DOCTYPE html>")
    with pytest.raises(downloads.DownloadFailed, match="not a run directory"):
        ui_report.build_report([str(tmp_path)], "html", key="k")
    assert "not a run directory" in downloads._failures["k"]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed (/usr/bin/chromium)")
def test_chromium_shows_every_chart_with_no_request_and_prints_a_pdf(runs, tmp_path):
    from playwright.sync_api import sync_playwright

    from engine.report.pdf import print_pdf

    out = tmp_path / "report.html"
    assert main(["--run", str(runs["lora"].path), "--run", str(runs["hostile"].path), "--out", str(out)]) == 0
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(out.as_uri())
        page.wait_for_load_state("networkidle")
        plots = page.locator("div.plot")
        assert plots.count() >= 10
        for i in range(plots.count()):
            plot = plots.nth(i)
            plot.scroll_into_view_if_needed()
            assert plot.locator("svg.main-svg").first.is_visible(), i
            assert plot.bounding_box()["height"] > 100, i
        browser.close()
    assert [u for u in requests if u != out.as_uri()] == []  # not a font, not an image, nothing
    assert dialogs == []  # no class name ran as a script
    pdf = print_pdf(out, tmp_path / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page[^s]", pdf)) >= 5  # pages, not /Pages


def test_a_picture_run_shows_its_test_pictures_inline(tmp_path, workspace, shapes_zip, tiny_resnet):
    run = train_into(tmp_path, shapes_zip, tiny_resnet, "frozen", "run-pictures", image_size=32)
    document = report(tmp_path, run)
    rest = without_plotly(document)
    assert rest.count('<img alt="test picture" src="data:image/png;base64,') >= 4
    if importlib.util.find_spec("engine.explain"):  # a heat map beside each picture
        assert rest.count('<img alt="heat map: where the model looked" src="data:image/png;base64,') >= 4
    assert "ImageNet" not in rest  # a local folder: what it learned from is not known, and not made up
    assert "What the pre-trained model learned from is not recorded here" in rest
