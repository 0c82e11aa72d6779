"""One logging format for every engine command, ``--verbose`` for more, and SIGTERM as Ctrl-C.

Commands call :func:`setup_logging` once; modules log through ``logging.getLogger(__name__)``.
Messages for people (``Error: ...``, notes about the data) go to stderr at INFO; ``--verbose``
adds DEBUG and the module names.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

FORMAT = "%(message)s"
VERBOSE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="Log more (debug messages, with times).")


def setup_logging(verbose: bool = False) -> None:
    """Log the engine's messages to stderr; quieten the libraries underneath."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(VERBOSE_FORMAT if verbose else FORMAT, datefmt="%H:%M:%S"))
    engine = logging.getLogger("engine")
    engine.handlers[:] = [handler]
    engine.setLevel(logging.DEBUG if verbose else logging.INFO)
    engine.propagate = False


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """``kill`` (SIGTERM) ends a command like Ctrl-C does: a run ends "cancelled" and resumable,
    never "running" forever. Only the main thread can install a handler (tests call main() in threads)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
