"""Console script `azr`: the trainer's command line."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from azr_trainer import __version__
from azr_trainer.evals.command import add_eval_parser
from azr_trainer.services import local_services

__all__ = ["main"]

logger = logging.getLogger("azr")


def _cmd_run(args: argparse.Namespace) -> int:
    """The main job. Today: start the services locally and keep them up until Ctrl-C."""
    with local_services(Path(args.workdir)) as services:
        logger.info("executor: %s", services.executor_url)
        logger.info("buffer:   %s", services.buffer_url)
        logger.info("press Ctrl-C to stop")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            logger.info("stopping")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and dispatch to a subcommand."""
    parser = argparse.ArgumentParser(prog="azr", description="Absolute Zero self-play on TRL.")
    parser.add_argument("--version", action="version", version=f"azr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the main job: local self-play against local services")
    run.add_argument("--workdir", default="runs/local", help="where logs and the buffer live")
    run.set_defaults(func=_cmd_run)
    add_eval_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return int(args.func(args))
