"""A screenshot of a run's report for the README, and the time it took to build.

    .venv/bin/python -m bench.report_screenshot --run workspace/runs/RUN --out docs/report.png

Builds the report with ``engine.report`` (timed: the HTML with explanations, then the PDF), opens it in
headless Chromium (/usr/bin/chromium, through Playwright) and saves the top of the page as a PNG.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from engine.report.cli import write_report
from engine.report.pdf import print_pdf

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 900, "height": 1400}


def screenshot(html: Path, png: Path, height: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={**VIEWPORT, "height": height}, device_scale_factor=1)
        page.goto(html.as_uri())
        page.wait_for_load_state("networkidle")
        png.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(png), full_page=False)
        browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report_screenshot", description=__doc__.split("\n")[0])
    parser.add_argument("--run", action="append", required=True, help="A completed run (repeat to compare).")
    parser.add_argument("--out", default="docs/report.png", help="Where to save the screenshot (PNG).")
    parser.add_argument("--height", type=int, default=VIEWPORT["height"], help="Pixels of the page shown.")
    parser.add_argument("--keep", help="Also keep the HTML report here.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(args.keep) if args.keep else Path(tmp) / "report.html"
        started = time.perf_counter()
        write_report(args.run, html)
        built = time.perf_counter() - started
        started = time.perf_counter()
        print_pdf(html, Path(tmp) / "report.pdf")
        printed = time.perf_counter() - started
        screenshot(html, Path(args.out), args.height)
        print(
            f"report: HTML in {built:.1f} s ({html.stat().st_size / 1e6:.1f} MB), PDF in {printed:.1f} s more; "
            f"screenshot: {args.out}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
