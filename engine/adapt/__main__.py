"""Teach a text model the language of a domain from unlabeled texts, headless.

    python -m engine.adapt --data notes.csv --text-column text --model minilm --out adapt/notes
    python -m engine.adapt --data posts.txt --model smollm2 --strategy lora --max-steps 200 --out adapt/posts
    python -m engine.adapt --resume adapt/notes

Then ``python -m engine.train --model adapt/notes ...`` trains a classifier from the adapted model.
Exit codes: 0 done, 2 a problem with the input or the model, 3 cancelled through the CANCEL file,
130 interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from engine.adapt.run import adapt, resume_hint
from engine.core.adapt_jobs import prepare_adaptation
from engine.core.adaptation import AdaptConfig
from engine.core.config import add_config_arguments, config_from_args
from engine.core.errors import ConfigError, TransferLabError, storage_problem
from engine.core.jobs import hold_run
from engine.core.logs import add_verbose_flag, setup_logging, stop_on_sigterm
from engine.core.rundir import RunDir
from engine.worker import wait_for_slot

log = logging.getLogger("engine.adapt")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine.adapt",
        description="Adapt a text model to the language of unlabeled texts and write an adaptation directory.",
    )
    parser.add_argument("--out", help="Directory to create (must not already hold an adaptation).")
    parser.add_argument("--resume", metavar="ADAPT_DIR", help="Continue an interrupted adaptation.")
    parser.add_argument("--config", metavar="FILE.json", help="Settings as JSON; flags given here override it.")
    add_verbose_flag(parser)
    add_config_arguments(parser, AdaptConfig)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    stop_on_sigterm()
    held: list[int] = []  # the run lock, then a device slot: as engine.train takes them
    try:
        if args.resume:
            run = RunDir(args.resume)
            if not run.config_path.exists():
                raise ConfigError(f"{run.path} is not an adaptation directory (no config.json); nothing to resume.")
            held.append(hold_run(run))
            if run.status().get("state") == "completed":
                raise ConfigError(f"{run.path} already completed; there is nothing to resume.")
            config = AdaptConfig.load(run.config_path)
            run.cancel_path.unlink(missing_ok=True)
        else:
            if not args.out:
                raise ConfigError("Missing --out ADAPT_DIR: the folder where the adaptation is written.")
            run = prepare_adaptation(config_from_args(args, AdaptConfig), args.out)
            config = AdaptConfig.load(run.config_path)
            held.append(hold_run(run))
        slot = wait_for_slot(run)
        if slot is None:
            log.warning("Cancelled while waiting for the device. %s", resume_hint(run))
            return 3
        held.append(slot)
        metrics = adapt(config, run, resume=bool(args.resume))
    except TransferLabError as exc:
        log.error("Error: %s", exc)
        return 2
    except OSError as exc:
        problem = storage_problem(exc, args.resume or args.out)
        if problem is None:
            raise
        log.error("Error: %s", problem)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        for fd in reversed(held):
            os.close(fd)
    if metrics is None:
        log.warning("Cancelled. %s", resume_hint(run))
        return 3
    print(
        f"Done: {metrics['method']} on {metrics['texts']['train']:,} texts, {metrics['steps']:,} steps "
        f"({metrics['train_seconds']:.0f} s); held-out perplexity {metrics['perplexity_before']:.3f} before, "
        f"{metrics['perplexity_after']:.3f} after. Train from it with --model {run.path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
