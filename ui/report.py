"""The report downloads on Results and Runs › Compare: built when clicked, by ``python -m engine.report`` in a
subprocess (the report may load the model to explain examples; the dashboard never loads torch). A failure is
shown in plain words on the page's next run (``ui.downloads``).
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Sequence
from pathlib import Path

import streamlit as st

from engine.core.reporting import REPORT_TIMEOUT_S, chromium_missing, find_chromium, report_command
from ui.downloads import failed, run_engine, show_failure


def build_report(runs: Sequence[str], kind: str, key: str) -> bytes:
    """The report of ``runs`` as bytes, ``kind`` "html" or "pdf", made by the engine command in a subprocess."""
    with tempfile.TemporaryDirectory(prefix="transferlab-report-") as tmp:
        html, pdf = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        run_engine(report_command(runs, html, pdf if kind == "pdf" else None), key, REPORT_TIMEOUT_S, "the report")
        target = pdf if kind == "pdf" else html
        if not target.is_file():
            failed(key, "the report command finished without writing its file.")
        return target.read_bytes()


def report_downloads(run_path: str | Path, file_stem: str) -> None:
    """Results: "Download report (HTML)" and "Download report (PDF)" for one run."""
    key = f"report:{run_path}"
    show_failure(key, "The report")
    left, right = st.columns(2)
    left.download_button(
        "Download report (HTML)",
        data=functools.partial(build_report, [str(run_path)], "html", key),
        file_name=f"{file_stem}-report.html",
        mime="text/html",
        icon=":material/description:",
        on_click="ignore",
        key="report_html",
        help="One file that opens offline in any browser, for people who were not there: the data, the model, the "
        "scores with their intervals and baselines, mistakes with examples, limitations and how to reproduce it.",
    )
    chromium = find_chromium()
    right.download_button(
        "Download report (PDF)",
        data=functools.partial(build_report, [str(run_path)], "pdf", key),
        file_name=f"{file_stem}-report.pdf",
        mime="application/pdf",
        icon=":material/picture_as_pdf:",
        on_click="ignore",
        key="report_pdf",
        disabled=chromium is None,
        help="The same report, printed to PDF by headless Chromium." if chromium else chromium_missing(),
    )
    if chromium is None:
        right.caption("The PDF needs Chromium on this computer; the HTML report prints to PDF from any browser.")


def compare_report_download(run_paths: Sequence[str], file_stem: str = "runs") -> None:
    """Runs › Compare: one report of the compared runs (the comparison, then each run)."""
    key = "report:" + "|".join(map(str, run_paths))
    show_failure(key, "The report")
    st.download_button(
        "Download a report of these runs",
        data=functools.partial(build_report, [str(p) for p in run_paths], "html", key),
        file_name=f"{file_stem}-comparison-report.html",
        mime="text/html",
        icon=":material/description:",
        on_click="ignore",
        key="compare_report",
        help="One HTML file that opens offline: these runs side by side (with a warning when they were not trained "
        "and tested alike), then each run's own report.",
    )
