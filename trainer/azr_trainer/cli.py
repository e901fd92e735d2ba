"""Console script `azr`: the trainer's command line.

azr run                          the main job: local services, tiny model, a few CPU steps
azr train --model ID [--config F] [--set key=value ...]   the same job on a real model
azr config show [--preset P] [--config F] [--set key=value ...]   print the effective config
azr report RUN_DIR               PNG plots + an HTML page of a run's metrics
azr services [--workdir D]       start the executor and buffer locally until Ctrl-C
azr warmstart [--eval]           build (or reuse) the warm-started toy model under ./runs
azr eval --model ID [--benchmarks ...]   the paper's benchmarks, scored by the executor
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from azr_trainer import __version__
from azr_trainer.config import AZRConfig, describe, load_config, presets
from azr_trainer.errors import UsageError
from azr_trainer.evals.command import cmd_eval, setup_eval
from azr_trainer.summary import heldout_line, heldout_table, learning_table
from azr_trainer.toy.cli import cmd_warmstart, setup_warmstart

__all__ = ["SUBCOMMANDS", "main"]

logger = logging.getLogger("azr")


class _NoHyphenBreaks(argparse.HelpFormatter):
    """Help text wrapped at spaces only: a preset name like single-gpu-lora stays whole."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def _add_config_args(p: argparse.ArgumentParser, *, preset: str) -> None:
    p.add_argument(
        "--preset",
        default=preset,
        metavar="NAME",
        help=f"a recipe: {', '.join(presets())} (default {preset})",
    )
    p.add_argument("--config", help="a YAML file of config keys (`azr config show` lists them)")
    p.add_argument("--model", help="hub id, local path, or tiny-random")
    p.add_argument("--output-dir", help="where checkpoints, metrics and the report go")
    p.add_argument("--steps", type=int, help="number of AZR steps")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override any config key"
    )
    p.add_argument("--no-live", action="store_true", help="no live console table")


def _config(
    args: argparse.Namespace,
    defaults: dict[str, object] | None = None,
    origins: dict[str, str] | None = None,
) -> AZRConfig:
    overrides = [f"{k}={v}" for k, v in (defaults or {}).items()]
    if args.model:
        overrides.append(f"model={args.model}")
    if args.output_dir:
        overrides.append(f"output_dir={args.output_dir}")
    if args.steps is not None:
        overrides.append(f"max_steps={args.steps}")
    if args.no_live:
        overrides.append("live_console=false")
    return load_config(
        preset=args.preset, path=args.config, overrides=overrides + args.set, origins=origins
    )


def _train_and_report(args: argparse.Namespace, **defaults: object) -> int:
    from azr_trainer.preflight import preflight

    cfg = _config(args, defaults)
    preflight(cfg)  # everything that can be checked before torch is imported (5-8 s)
    from azr_trainer.report import write_report
    from azr_trainer.train import main as train_main

    result = train_main(cfg)
    from accelerate import PartialState

    if not PartialState().is_main_process:
        return 0
    index = write_report(result.output_dir)
    _print_summary(result.metrics_path, result.heldout)
    logger.info("done: %d AZR steps in %s", result.steps, result.output_dir)
    logger.info("metrics: %s", result.metrics_path)
    logger.info("report:  %s", index)
    if result.heldout.get("after"):
        logger.info("%s", heldout_line(result.heldout["before"], result.heldout["after"]))
    return 0


def _print_summary(metrics_path: Path, heldout: dict[str, dict[str, float]]) -> None:
    """What the run learned: first steps against last steps, and the held-out set."""
    from rich.console import Console

    from azr_trainer.metrics import read_metrics

    console = Console(width=None if sys.stdout.isatty() else 100)  # a log file: no wrapping
    console.print()
    console.print(learning_table(read_metrics(metrics_path)))
    if heldout.get("after"):
        console.print(heldout_table(heldout["before"], heldout["after"]))


def _cmd_run(args: argparse.Namespace) -> int:
    """The main job on CPU: a fresh run directory under ./runs, the toy-tiny preset (the tiny
    world's warm start)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    defaults: dict[str, object] = {}
    if not args.output_dir:
        defaults["output_dir"] = f"runs/run-{stamp}"
    return _train_and_report(args, **defaults)


def _cmd_train(args: argparse.Namespace) -> int:
    return _train_and_report(args)


def _cmd_config(args: argparse.Namespace) -> int:
    origins: dict[str, str] = {}
    cfg = _config(args, origins=origins)
    sys.stdout.write(f"# preset {args.preset}; commented: not AZRConfig's default\n")
    sys.stdout.write(describe(cfg, origins))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from azr_trainer.report import write_report

    logger.info("report: %s", write_report(Path(args.run_dir)))
    return 0


def _cmd_services(args: argparse.Namespace) -> int:
    from azr_trainer.services import local_services

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


def _setup_run(p: argparse.ArgumentParser) -> None:
    _add_config_args(p, preset="toy-tiny")


def _setup_train(p: argparse.ArgumentParser) -> None:
    _add_config_args(p, preset="paper")


def _setup_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["show"], help="show: print the effective config as YAML")
    _add_config_args(p, preset="paper")


def _setup_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run's output directory (holds metrics.jsonl)")


def _setup_services(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workdir", default="runs/services", help="where logs and the buffer live")


# name -> (help, add arguments, handler). Other modules register subcommands by adding here.
SUBCOMMANDS: dict[
    str,
    tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]],
] = {
    "run": ("the main job: self-play on CPU from the toy warm start", _setup_run, _cmd_run),
    "train": ("self-play training of a real model (paper defaults)", _setup_train, _cmd_train),
    "config": ("print the effective config (preset, file, overrides)", _setup_config, _cmd_config),
    "report": ("write PNG plots and an HTML page for a run", _setup_report, _cmd_report),
    "services": ("start the executor and buffer locally", _setup_services, _cmd_services),
    "warmstart": ("build (or reuse) the warm-started toy model", setup_warmstart, cmd_warmstart),
    "eval": ("evaluate a model on CRUXEval, HumanEval+/MBPP+ and math sets", setup_eval, cmd_eval),
}


def _user_error(exc: BaseException) -> str | None:
    """The one- or two-line message for a mistake of the user; None for a bug."""
    if isinstance(exc, UsageError):
        return str(exc)
    from azr_proto.errors import TransportError, Unauthorized

    if isinstance(exc, Unauthorized):
        return f"{exc}\n  set api_token (--set api_token=...) to a token the services accept"
    if isinstance(exc, TransportError):
        return f"a service stopped answering: {exc}\n  is it still running? (`make up`)"
    return None


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and dispatch to a subcommand.

    A user's mistake (`UsageError`, an unreachable service) is printed in one or two lines and
    exits with status 2; anything else is a bug and keeps its traceback. `--debug` keeps them all.
    """
    parser = argparse.ArgumentParser(prog="azr", description="Absolute Zero self-play on TRL.")
    parser.add_argument("--version", action="version", version=f"azr {__version__}")
    debug_help = "show the traceback of every error"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, setup, handler) in SUBCOMMANDS.items():
        p = sub.add_parser(
            name, help=help_text, description=help_text, formatter_class=_NoHyphenBreaks
        )
        setup(p)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
        p.set_defaults(func=handler)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the table
    try:
        return int(args.func(args))
    except Exception as exc:
        message = None if args.debug else _user_error(exc)
        if message is None:
            raise
        sys.stderr.write(f"azr {args.command}: error: {message}\n")
        return 2


if __name__ == "__main__":  # `accelerate launch -m azr_trainer.cli train ...`
    raise SystemExit(main())
