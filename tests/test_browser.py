"""The real app in headless Chromium, clicked through the way a person does it.

``streamlit run app.py`` serves the dashboard with a private workspace; Playwright drives Debian's
Chromium (/usr/bin/chromium; ``make test`` installs it when missing). Upload a CSV, type a tiny
local model's folder, pick LoRA, start training, reload the tab mid-run and find the run again,
wait for it, read the metrics and the confusion matrix, try a prediction. The picture path: upload
the Fashion demo ZIP, see its thumbnails, train a tiny ResNet folder (frozen) and see the gallery of
misclassified pictures. Screenshots go to the test's temp folder and are copied to /tmp/screens/
for people to look at.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENS = Path("/tmp/screens")
TRAIN_TIMEOUT_MS = 240_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's Chromium is not installed (/usr/bin/chromium); `make test` installs it"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(tmp_path):
    """``streamlit run app.py`` on a free port with its own TRANSFERLAB_HOME; yields (url, workspace)."""
    port = free_port()
    home = tmp_path / "workspace"
    env = {**os.environ, "TRANSFERLAB_HOME": str(home), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    log = (tmp_path / "streamlit.log").open("wb")
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise AssertionError(f"streamlit did not start:\n{(tmp_path / 'streamlit.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield url, home
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class Browser:
    """A Chromium page with two helpers: ``shot(name)`` saves a screenshot, ``go(title)`` opens a page."""

    def __init__(self, page, shots: Path) -> None:
        self.page, self.shots = page, shots

    def shot(self, name: str) -> None:
        self.page.wait_for_timeout(1500)  # let charts and tables finish drawing
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def go(self, title: str) -> None:
        from playwright.sync_api import expect

        self.page.get_by_test_id("stSidebarNavLink").filter(has_text=title).click()
        expect(self.page.get_by_role("heading", name=title, exact=True)).to_be_visible()


@contextlib.contextmanager
def chromium(tmp_path: Path) -> Iterator[Browser]:
    """Headless Chromium with a tall viewport (whole pages in one shot); a screenshot on failure, and
    the screenshots copied to /tmp/screens/ at the end."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # a page's first run imports the engine's modules: seconds on 2 cores
    shots = tmp_path / "screens"
    shots.mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.set_default_timeout(60_000)
        try:
            yield Browser(page, shots)
        except BaseException:
            page.screenshot(path=str(shots / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
            SCREENS.mkdir(exist_ok=True)
            for png in shots.glob("*.png"):
                shutil.copy(png, SCREENS / png.name)


def test_upload_train_reload_results_and_try_it_in_a_browser(server, tiny_bert, topic_csv, tmp_path):
    """Two runs in a row: after each, "See the results" and Try it show the run just trained; a reload
    mid-run finds the run and the whole setup; no request leaves the app's own address."""
    from playwright.sync_api import expect

    from engine.core.rundir import RunDir

    url, home = server
    with chromium(tmp_path) as b:
        page, shot, go = b.page, b.shot, b.go
        outside: list[str] = []
        page.on("request", lambda request: None if request.url.startswith(url) else outside.append(request.url))
        # Data: upload a CSV; the engine's checks and the class chart appear.
        page.goto(url)
        expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
        expect(page.get_by_test_id("stSidebar").get_by_text(re.compile(r"^(CPU|GPU)"))).to_be_visible()
        page.locator('input[type="file"]').set_input_files(str(topic_csv))
        expect(page.get_by_text("Ready: 90 examples in 3 classes.")).to_be_visible()
        expect(page.get_by_test_id("stPlotlyChart")).to_be_visible()
        shot("01-data")

        # Model & strategy: a local model folder typed in the field, LoRA, the Quick look preset.
        go("Model & strategy")
        field = page.get_by_label(re.compile("^Model: a name from the cards"))
        field.fill(str(tiny_bert))
        field.press("Enter")
        expect(page.get_by_text(f"Using {tiny_bert}.")).to_be_visible()
        # The Advanced fields follow the chosen strategy and preset (the browser keeps what it shows, so
        # the page must overwrite it): open them first, as a curious user would.
        page.get_by_text("Advanced", exact=True).click()
        epochs = page.get_by_label("Epochs (passes over the training data)")
        page.get_by_test_id("stRadio").get_by_text(re.compile(r"^LoRA \(low-rank adapters\)")).click()
        page.get_by_role("radio", name="Quick look").click()
        expect(page.get_by_text("The fastest first result")).to_be_visible()
        expect(epochs).to_have_value("3")  # 90 texts: Quick look gives fine-tuning enough updates
        expect(page.get_by_test_id("stMetric").filter(has_text="Estimated time")).to_be_visible()
        shot("02-model")

        # Train: start, then reload the tab while the run is going.
        go("Train")
        page.get_by_role("button", name="Start training").click()
        expect(page.get_by_test_id("stMain").get_by_text(re.compile(r"^(Queued|Running): "))).to_be_visible()
        runs = list((home / "runs").iterdir())
        assert len(runs) == 1
        name = runs[0].name
        shot("03-train-started")
        page.reload()
        expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
        expect(page.get_by_role("heading", name=name)).to_be_visible()
        state = (runs[0] / "status.json").read_text()
        assert '"completed"' not in state, "the run finished before the reload; the test could not check it"
        expect(page.get_by_test_id("stSidebar").get_by_text(name)).to_be_visible()
        shot("04-train-after-reload")
        # The setup survived the reload: the data, the model typed in, LoRA and Quick look.
        expect(page.get_by_text(re.compile(r"^Choose your data first"))).to_have_count(0)
        expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
        go("Model & strategy")
        expect(page.get_by_label(re.compile("^Model: a name from the cards"))).to_have_value(str(tiny_bert))
        expect(page.get_by_role("radio", name=re.compile(r"^LoRA"))).to_be_checked()
        expect(page.get_by_text("The fastest first result")).to_be_visible()
        go("Train")
        expect(page.get_by_text(re.compile(r"^Test accuracy"))).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
        shot("05-train-completed")

        # Results: the run just trained, its metric cards and the confusion matrix.
        first = RunDir(runs[0])
        page.get_by_role("link", name="See the results").click()
        expect(page.get_by_role("heading", name="Results", exact=True)).to_be_visible()
        expect(page.get_by_role("combobox", name="Run")).to_have_value(re.compile("^" + re.escape(name)))
        accuracy = f"{first.metrics()['accuracy']:.3f}"
        expect(page.get_by_test_id("stMetric").filter(has_text="Accuracy")).to_contain_text(accuracy)
        expect(page.get_by_text("Confusion matrix (test split)")).to_be_visible()
        expect(page.get_by_text("Per-class scores (test split)")).to_be_visible()
        expect(page.get_by_role("button", name=re.compile("Model folder"))).to_be_visible()
        shot("06-results")

        # Try it: one text, its label and the probability bars.
        go("Try it")
        page.get_by_role("textbox", name="Text").fill("my card payment was charged twice, please refund the invoice")
        page.get_by_role("button", name="Predict").click()
        expect(page.get_by_test_id("stMetric").filter(has_text="Predicted label")).to_be_visible()
        expect(page.get_by_text("Probability per class")).to_be_visible()
        shot("07-try-it")

        expect(page.get_by_role("combobox", name="Run")).to_have_value(
            re.compile("^" + re.escape(name))
        )  # the run just trained

        # A second run in a row, named, with another strategy: Results and Try it follow it.
        go("Model & strategy")
        page.get_by_test_id("stRadio").get_by_text(re.compile(r"^Frozen")).click()
        go("Train")
        page.get_by_role("textbox", name="Name (optional)").fill("Second try, frozen")
        page.get_by_role("textbox", name="Name (optional)").press("Enter")
        page.get_by_role("button", name="Start training").click()
        expect(page.get_by_role("heading", name="Second try, frozen")).to_be_visible()
        expect(page.get_by_text(re.compile(r"^Test accuracy"))).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
        second = RunDir(next(p for p in (home / "runs").iterdir() if p.name != name))
        assert second.about()["name"] == "Second try, frozen" and second.config()["strategy"] == "frozen"
        page.get_by_role("link", name="See the results").click()
        expect(page.get_by_role("combobox", name="Run")).to_have_value(re.compile("^Second try, frozen"))
        accuracy = f"{second.metrics()['accuracy']:.3f}"
        expect(page.get_by_test_id("stMetric").filter(has_text="Accuracy")).to_contain_text(accuracy)
        shot("08-results-second-run")
        go("Try it")
        expect(page.get_by_role("combobox", name="Run")).to_have_value(re.compile("^Second try, frozen"))

        go("Runs")
        expect(
            page.get_by_test_id("stMain").get_by_text("Second try, frozen").filter(visible=True).first
        ).to_be_visible()
        shot("09-runs")
        assert outside == [], outside  # nothing fetched from anywhere but the app


def test_pictures_upload_train_and_gallery_in_a_browser(server, tiny_resnet, tmp_path):
    """The picture path: the Fashion demo ZIP uploaded, a tiny ResNet folder, frozen, Quick look (128 pixels)."""
    from playwright.sync_api import expect

    from engine.core.strategies import STRATEGIES

    url, home = server
    with chromium(tmp_path) as b:
        page, shot, go = b.page, b.shot, b.go
        # Data: the ZIP's classes, a few thumbnails of each, the split.
        page.goto(url)
        expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
        page.locator('input[type="file"]').first.set_input_files(str(ROOT / "data" / "fashion_demo.zip"))
        expect(page.get_by_text("Ready: 1,000 pictures in 10 classes.")).to_be_visible()
        expect(page.get_by_test_id("stImageContainer")).to_have_count(60)  # 6 thumbnails of each of the 10 classes
        expect(page.get_by_test_id("stImageCaption").first).to_have_text(re.compile(r"\.png$"))
        expect(page.get_by_test_id("stPlotlyChart")).to_be_visible()
        shot("11-pictures-data")

        # Model & strategy: the picture models, a local model folder typed in the field, frozen, Quick look.
        go("Model & strategy")
        expect(page.get_by_text("Your data are pictures, and MiniLM")).to_be_visible()
        field = page.get_by_label(re.compile("^Model: a name from the cards"))
        expect(field).to_have_value("efficientnet-lite0")
        field.fill(str(tiny_resnet))
        field.press("Enter")
        expect(page.get_by_text(f"Using {tiny_resnet}.")).to_be_visible()
        page.get_by_text("Advanced", exact=True).click()
        expect(page.get_by_text("Image size (pixels per side)")).to_be_visible()
        expect(page.get_by_text("Max length (tokens per text)")).to_have_count(0)
        frozen = re.compile("^" + re.escape(STRATEGIES["frozen"].title))
        page.get_by_test_id("stRadio").get_by_text(frozen).click()
        page.get_by_role("radio", name="Quick look").click()
        expect(page.get_by_text(re.compile("^No epochs or learning rate to set"))).to_be_attached()  # a fitted head
        # The widgets of the previous run stay until this one ends (the estimate probes the model in a process).
        expect(page.get_by_label("Epochs (passes over the training data)")).to_have_count(0, timeout=60_000)
        shot("12-pictures-model")

        # Train until the test accuracy shows.
        go("Train")
        page.get_by_role("button", name="Start training").click()
        expect(page.get_by_text(re.compile(r"^Test accuracy"))).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
        shot("13-pictures-trained")

        # Results: the metric cards and the misclassified pictures, captioned true → predicted (confidence).
        go("Results")
        expect(page.get_by_test_id("stMetric").filter(has_text="Accuracy")).to_be_visible()
        expect(page.get_by_role("heading", name="Misclassified test pictures")).to_be_visible()
        expect(page.get_by_test_id("stImageCaption").first).to_have_text(re.compile(r" → .+ \(\d+%\)$"))
        shot("14-pictures-results")
    run = next((home / "runs").iterdir())
    assert '"image_size": 128' in (run / "config.json").read_text()


# Labels and texts a hostile (or careless) file can hold: a Markdown image pointing elsewhere, HTML, a
# javascript: link, a Streamlit directive, a formula. Shown anywhere, they must stay inert text.
HOSTILE_LABELS = {
    "billing": "![pixel](http://evil.example/pixel.png)",
    "shipping": '<a href="http://evil.example/">click</a>',
    "tech": "[javascript:alert(1)](javascript:alert(1))",
}


def test_hostile_labels_fetch_nothing_and_link_nowhere_in_a_browser(server, tiny_bert, tmp_path):
    """The bug: a label like ![x](http://host/pixel.png) made the Results model card and the Data page's
    imbalance warning fetch that URL, and labels with <a href> became links on chart axes."""
    from conftest import make_rows, write_csv
    from playwright.sync_api import expect

    from engine.core.config import TrainConfig
    from engine.core.jobs import prepare_run
    from engine.training.trainer import train

    url, home = server
    rows = [(text, HOSTILE_LABELS[label]) for text, label in make_rows(30, seed=7)]
    rows = [r for r in rows if r[1] != HOSTILE_LABELS["tech"]] + [r for r in rows if r[1] == HOSTILE_LABELS["tech"]][:6]
    data = write_csv(tmp_path / "hostile.csv", [(f'=HYPERLINK("http://evil.example") {t}', y) for t, y in rows])
    config = TrainConfig(data=str(data), model=str(tiny_bert), strategy="frozen", max_length=32)
    train(config, prepare_run(config, home / "runs" / "hostile-labels"))

    with chromium(tmp_path) as b:
        page, shot, go = b.page, b.shot, b.go
        outside: list[str] = []
        step = ["start"]
        leaks: list[str] = []

        def check_page() -> None:
            """No link or image on the page names the hostile host or a javascript: URL."""
            page.wait_for_timeout(1000)
            found = page.evaluate(
                "() => [...document.querySelectorAll('a[href]')].map(a => a.href)"
                ".concat([...document.querySelectorAll('img')].map(i => i.src))"
            )
            leaks.extend(f"{step[0]}: {h}" for h in found if "evil" in h or h.startswith("javascript"))

        page.on(
            "request",
            lambda request: outside.append(f"{step[0]}: {request.url}") if not request.url.startswith(url) else None,
        )
        page.goto(url)
        page.locator('input[type="file"]').set_input_files(str(data))
        expect(page.get_by_text(re.compile("imbalanced"))).to_be_visible()
        check_page()
        shot("hostile-01-data")
        step[0] = "results"
        go("Results")
        expect(page.get_by_text("Confusion matrix (test split)")).to_be_visible()
        page.get_by_text("Model card", exact=True).click()
        expect(page.get_by_text("Test results", exact=False).first).to_be_visible()
        check_page()
        shot("hostile-02-results")
        step[0] = "try it"
        go("Try it")
        page.get_by_role("textbox", name="Text").fill("my card payment was charged twice")
        page.get_by_role("button", name="Predict").click()
        expect(page.get_by_text("Probability per class")).to_be_visible()
        check_page()
        shot("hostile-03-try-it")
        step[0] = "runs"
        go("Runs")
        check_page()
        shot("hostile-04-runs")
        page.wait_for_timeout(1000)

        assert outside == [], outside  # nothing fetched from anywhere but the app
        assert leaks == [], leaks  # and no page links to (or shows) what a label names


# Twenty classes with names of different lengths, as a help-desk export has them.
TWENTY = [
    "billing",
    "refund",
    "late parcel",
    "damaged box",
    "wrong item",
    "password reset",
    "account locked",
    "invoice copy",
    "address change",
    "cancel order",
    "gift card",
    "warranty claim",
    "price match",
    "store hours",
    "loyalty points",
    "app crash",
    "newsletter",
    "complaint",
    "feedback",
    "other",
]


def test_twenty_classes_keep_every_label_on_the_results_charts_in_a_browser(server, tiny_bert, tmp_path):
    """The bug: with 20 classes the per-class chart's labels were cut and covered by the legend, and the
    confusion matrix labelled every other class."""
    import random

    from conftest import make_rows, write_csv
    from playwright.sync_api import expect

    from engine.core.config import TrainConfig
    from engine.core.jobs import prepare_run
    from engine.training.trainer import train

    url, home = server
    rng = random.Random(3)
    texts = [text for text, _ in make_rows(60, seed=5)]
    rows = [(f"{texts[i % len(texts)]} ticket {i}", TWENTY[i % 20]) for i in range(20 * 12)]
    rng.shuffle(rows)
    data = write_csv(tmp_path / "helpdesk.csv", rows)
    config = TrainConfig(data=str(data), model=str(tiny_bert), strategy="frozen", max_length=32)
    train(config, prepare_run(config, home / "runs" / "twenty-classes"))

    with chromium(tmp_path) as b:
        page, shot, go = b.page, b.shot, b.go
        page.goto(url)
        go("Results")
        charts = page.get_by_test_id("stPlotlyChart")
        matrix = charts.filter(has_text="Confusion matrix")
        per_class = charts.filter(has_text="Per-class scores")
        expect(matrix).to_be_visible()
        expect(per_class).to_be_visible()
        page.wait_for_timeout(1500)
        for chart, axes in ((matrix, (".xtick text", ".ytick text")), (per_class, (".ytick text",))):
            for axis in axes:
                shown = [t.strip() for t in chart.locator(axis).all_text_contents()]
                assert sorted(shown) == sorted(TWENTY), (axis, shown)
        # Nothing covers the labels: the legend sits above the bars, not over the class names.
        legend = per_class.locator(".legend").bounding_box()
        bars = per_class.locator(".cartesianlayer").bounding_box()
        assert legend is not None and bars is not None and legend["y"] + legend["height"] <= bars["y"] + 1
        expect(page.get_by_text("Most frequent mistakes")).to_be_visible()
        shot("20-twenty-classes-results")


def test_adapt_then_train_then_compare_with_and_without_in_a_browser(server, tiny_bert, topic_csv, tmp_path):
    """Domain adaptation the way a person does it: labeled data, then on Model & strategy unlabeled texts
    uploaded and an adaptation started and followed; the classifier trains from the adapted model, and
    Results trains it without the adaptation, one click, and shows both. No request leaves the app."""
    from playwright.sync_api import expect
    from test_adapt import domain_texts

    url, home = server
    notes = tmp_path / "notes.txt"
    notes.write_text("\n".join(domain_texts(150)) + "\n", encoding="utf-8")
    with chromium(tmp_path) as b:
        page, shot, go = b.page, b.shot, b.go
        outside: list[str] = []
        page.on("request", lambda request: None if request.url.startswith(url) else outside.append(request.url))
        page.goto(url)
        page.locator('input[type="file"]').set_input_files(str(topic_csv))
        expect(page.get_by_text("Ready: 90 examples in 3 classes.")).to_be_visible()

        go("Model & strategy")
        field = page.get_by_label(re.compile("^Model: a name from the cards"))
        field.fill(str(tiny_bert))
        field.press("Enter")
        expect(page.get_by_text(f"Using {tiny_bert}.")).to_be_visible()
        page.get_by_text("Teach it your domain's language first (optional)").click()
        expect(page.get_by_text(re.compile("many unlabeled texts and few labels"))).to_be_visible()
        page.locator('input[type="file"]').set_input_files(str(notes))
        expect(page.get_by_text("150 different texts in the notes.txt.")).to_be_visible()
        expect(page.get_by_text(re.compile(r"^Estimated time: about"))).to_be_visible()
        expect(page.get_by_text(re.compile("^Method for .*: Masked-word practice"))).to_be_visible()
        shot("30-adapt-ready")
        page.get_by_role("button", name="Start adapting").click()
        use = page.get_by_role("button", name="Train the classifier from it")
        expect(use).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
        expect(page.get_by_test_id("stMetric").filter(has_text="Perplexity")).to_be_visible()
        shot("31-adapt-done")
        use.click()
        title = f"{tiny_bert.name} adapted to notes.txt"
        expect(page.get_by_text(f"Using {title}.")).to_be_visible()
        page.get_by_test_id("stRadio").get_by_text(re.compile(r"^Frozen")).click()

        go("Train")
        page.get_by_role("button", name="Start training").click()
        expect(page.get_by_text(re.compile(r"^Test accuracy"))).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
        go("Results")
        page.get_by_role("button", name="Compare: train it without the adaptation").click()
        expect(page.get_by_text("base model (no adaptation)")).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
        expect(page.get_by_text("adapted model", exact=True)).to_be_visible()
        shot("32-with-without")
    (adaptation,) = (home / "adaptations").iterdir()
    runs = sorted((home / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    assert [json_of(r)["model"] for r in runs] == [str(adaptation), str(tiny_bert)]
    assert outside == [], outside  # nothing fetched from anywhere but the app


def json_of(run: Path) -> dict:
    import json

    return json.loads((run / "config.json").read_text())
