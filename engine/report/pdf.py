"""The report printed to PDF by headless Chromium (the browser lays out the charts exactly as on screen)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from engine.core.errors import TransferLabError
from engine.core.reporting import chromium_missing, find_chromium

PRINT_TIMEOUT_S = 180
# Time the page's scripts get to draw the charts before printing (virtual time: no real wait when idle).
SCRIPT_BUDGET_MS = 20_000


class PdfError(TransferLabError):
    """The PDF could not be made (no Chromium, or it failed); the HTML report is still there."""


def print_pdf(html_path: str | Path, pdf_path: str | Path) -> Path:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium; PdfError in plain words when it cannot."""
    browser = find_chromium()
    if browser is None:
        raise PdfError(chromium_missing())
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = pdf_path.with_name(f".{pdf_path.name}.tmp")
    with tempfile.TemporaryDirectory(prefix="transferlab-chromium-") as profile:
        argv = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--virtual-time-budget={SCRIPT_BUDGET_MS}",
            f"--print-to-pdf={tmp}",
            html_path.as_uri(),
        ]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=PRINT_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise PdfError(f"Chromium did not finish printing the PDF within {PRINT_TIMEOUT_S} s.") from exc
        except OSError as exc:
            raise PdfError(f"Chromium ({browser}) could not be started: {exc}. {chromium_missing()}") from exc
    if done.returncode != 0 or not tmp.is_file() or not tmp.read_bytes().startswith(b"%PDF"):
        tmp.unlink(missing_ok=True)
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PdfError(f"Chromium could not print the PDF (exit {done.returncode}): {' '.join(tail) or 'no message'}")
    tmp.replace(pdf_path)
    return pdf_path
