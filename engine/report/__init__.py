"""The report of runs for stakeholders: one self-contained HTML file (and a PDF), built from run directories.

``python -m engine.report --run RUN --out report.html [--pdf report.pdf]`` (:mod:`engine.report.cli`). The
report reads the run directory (:mod:`engine.report.facts`), writes its sections in plain words
(:mod:`engine.report.sections`) with plotly charts (:mod:`engine.report.figures`, and ``ui.charts`` for the
charts the dashboard shows too) into one document (:mod:`engine.report.document`), and prints it to PDF with
headless Chromium (:mod:`engine.report.pdf`). Torch is loaded only to explain example predictions, through
``engine.explain`` when it is installed.
"""
