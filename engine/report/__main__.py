"""``python -m engine.report``: see :mod:`engine.report.cli`."""

import sys

from engine.report.cli import main

sys.exit(main())
