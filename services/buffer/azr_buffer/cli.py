"""Console script `azr-buffer`: `serve` runs the service with uvicorn; `migrate` brings the
database schema up to date (the service also does it at startup unless told not to)."""

from __future__ import annotations

import argparse

import uvicorn
from azr_proto.logs import configure_logging
from azr_proto.settings import settings_help, settings_or_exit

from azr_buffer.app import create_app
from azr_buffer.db import migrate
from azr_buffer.settings import BufferSettings

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="azr-buffer", description="The azr buffer service.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the HTTP service",
        epilog=settings_help(BufferSettings, "docs/buffer.md"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", help="bind address (default: AZR_BUFFER_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: AZR_BUFFER_PORT)")
    serve.add_argument("--database-url", help="default: AZR_BUFFER_DATABASE_URL")
    mig = sub.add_parser("migrate", help="apply pending database migrations and exit")
    mig.add_argument("--database-url", help="default: AZR_BUFFER_DATABASE_URL")
    args = parser.parse_args(argv)

    overrides = {
        k: v
        for k, v in (
            ("host", getattr(args, "host", None)),
            ("port", getattr(args, "port", None)),
            ("database_url", args.database_url),
        )
        if v is not None
    }
    settings = settings_or_exit(BufferSettings, "azr-buffer", **overrides)
    configure_logging(settings.log_level)
    if args.command == "migrate":
        migrate(settings.database_url)
        return
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level
    )
