"""Wall time from "Start training" to results in the real dashboard, the way a person clicks it.

``python -m bench.dashboard --run "frozen:Quick look"`` serves ``app.py`` with a fresh workspace, drives
Debian's headless Chromium with Playwright: demo spam data and MiniLM (``--pictures``: the Fashion demo
pictures and EfficientNet-Lite0), the given strategy and preset, then times from the click on "Start training" until the Train page shows the test accuracy. It prints
one line per strategy and saves screenshots to --screens. Not a test: it takes minutes on a CPU.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(home: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "TRANSFERLAB_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"streamlit did not start; see {log}")


DEMOS = {
    False: ("Use the demo data (spam e-mails)", r"^Ready: 5,882 examples"),
    True: ("Use the demo pictures (Fashion)", r"^Ready: 1,000 pictures"),
}


def measure(strategy: str, preset: str, screens: Path, timeout_s: int, pictures: bool = False) -> dict:
    from playwright.sync_api import expect, sync_playwright

    home = Path(tempfile.mkdtemp(prefix="transferlab-dash-"))
    proc, url = _serve(home, home / "streamlit.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)

            def go(title: str) -> None:
                page.get_by_test_id("stSidebarNavLink").filter(has_text=title).click()
                expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()

            page.goto(url)
            choice, ready = DEMOS[pictures]
            page.get_by_text(choice).click()
            expect(page.get_by_text(re.compile(ready))).to_be_visible()
            kind = "pictures" if pictures else "texts"
            go("Model & strategy")
            from engine.core.strategies import STRATEGIES

            page.get_by_test_id("stRadio").get_by_text(re.compile("^" + re.escape(STRATEGIES[strategy].title))).click()
            page.get_by_role("radio", name=preset).click()
            from engine.core.presets import PRESETS

            expect(page.get_by_text(PRESETS[preset]["help"])).to_be_visible()
            page.wait_for_timeout(2000)  # let the estimate redraw for the chosen preset
            # The first estimate for pictures measures the model in a subprocess (about ten seconds).
            expect(page.get_by_test_id("stMetric").filter(has_text="Estimated time")).to_be_visible(timeout=90_000)
            estimate = page.get_by_test_id("stMetric").filter(has_text="Estimated time").inner_text()
            page.screenshot(path=str(screens / f"dash-{kind}-{strategy}-model.png"), full_page=True)
            go("Train")
            started = time.time()
            page.get_by_role("button", name="Start training").click()
            page.wait_for_timeout(15_000)  # a screenshot mid-run (short runs of pictures end within a minute)
            page.screenshot(path=str(screens / f"dash-{kind}-{strategy}-training.png"), full_page=True)
            expect(page.get_by_text(re.compile(r"^Test accuracy"))).to_be_visible(timeout=timeout_s * 1000)
            seconds = time.time() - started
            page.screenshot(path=str(screens / f"dash-{kind}-{strategy}-done.png"), full_page=True)
            go("Results")
            expect(page.get_by_text("Confusion matrix (test split)")).to_be_visible()
            page.wait_for_timeout(1000)
            page.screenshot(path=str(screens / f"dash-{kind}-{strategy}-results.png"), full_page=True)
            if pictures:  # the gallery sits below the fold of Streamlit's scrolled main area
                page.get_by_role("heading", name="Misclassified test pictures").scroll_into_view_if_needed()
                page.wait_for_timeout(1000)
                page.screenshot(path=str(screens / f"dash-{kind}-{strategy}-gallery.png"))
            browser.close()
        run = next((home / "runs").iterdir())
        import json

        metrics = json.loads((run / "metrics.json").read_text())
        return {
            "data": kind,
            "model": metrics.get("model"),
            "strategy": strategy,
            "preset": preset,
            "seconds_click_to_results": round(seconds, 1),
            "estimate_shown": estimate.replace("\n", " "),
            "accuracy": metrics.get("accuracy"),
            "macro_f1": metrics.get("macro_f1"),
            "train_seconds": metrics.get("train_seconds"),
            "epochs": metrics.get("epochs"),
            "max_length": metrics.get("max_length"),
            "image_size": metrics.get("image_size"),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run",
        action="append",
        metavar="STRATEGY:PRESET",
        help="e.g. frozen:Balanced or 'lora:Quick look' (repeatable; default: those two)",
    )
    parser.add_argument("--pictures", action="store_true", help="the Fashion demo pictures instead of the e-mails")
    parser.add_argument("--screens", default="/tmp/screens", help="folder for the screenshots")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds to wait for one run")
    args = parser.parse_args(argv)
    screens = Path(args.screens)
    screens.mkdir(parents=True, exist_ok=True)
    for spec in args.run or ["frozen:Quick look", "lora:Quick look"]:
        strategy, _, preset = spec.partition(":")
        print(measure(strategy, preset or "Balanced", screens, args.timeout, args.pictures), flush=True)


if __name__ == "__main__":
    main()
