"""Console script `azr-executor`: `azr-executor serve` runs the service with uvicorn."""

from __future__ import annotations

import argparse
import sys

import uvicorn
from azr_proto.logs import configure_logging
from azr_proto.settings import settings_help, settings_or_exit

from azr_executor.app import create_app
from azr_executor.hardening import detach_stdin
from azr_executor.sandbox.identity import IsolationUnavailable, decide_mode
from azr_executor.server import uvicorn_config
from azr_executor.settings import ExecutorSettings

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the service."""
    parser = argparse.ArgumentParser(prog="azr-executor", description="The azr executor service.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the HTTP service",
        epilog=settings_help(ExecutorSettings, "services/executor/README.md"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", help="bind address (default: AZR_EXECUTOR_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: AZR_EXECUTOR_PORT)")
    args = parser.parse_args(argv)

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = settings_or_exit(ExecutorSettings, "azr-executor", **overrides)
    try:
        decide_mode(settings)
    except IsolationUnavailable as exc:
        sys.stderr.write(f"azr-executor: refusing to serve: {exc}\n")
        raise SystemExit(2) from None
    detach_stdin()  # no descriptor of the service that a run could reopen by its /proc path
    configure_logging(settings.log_level)
    uvicorn.Server(uvicorn_config(create_app(settings), settings)).run()
