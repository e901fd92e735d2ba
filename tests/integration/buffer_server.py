"""A real buffer service for HTTP-level tests: uvicorn in a thread, on SQLite or on PostgreSQL
(the suite's private server, see `postgres`). It records every error the service logs, so a test
also sees faults that could not become a 500 (an exception in a stream that had already started)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from azr_buffer.app import create_app
from azr_buffer.settings import BufferSettings
from postgres import fresh_database_url

__all__ = ["ENGINES", "BufferServer", "serve_buffer"]

ENGINES = ["sqlite", "postgres"]


@dataclass
class BufferServer:
    url: str
    db_url: str
    errors: list[str] = field(default_factory=list)  # every ERROR the service logged


class _Collect(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(self.format(record)[-3000:])


@contextmanager
def serve_buffer(engine: str, tmp: Path, **settings: Any) -> Iterator[BufferServer]:
    """Serve a fresh database of `engine` ("sqlite" or "postgres") until the block ends."""
    db_url = f"sqlite:///{tmp}/buffer.sqlite" if engine == "sqlite" else fresh_database_url()
    app = create_app(BufferSettings(database_url=db_url, **settings))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, log_level="warning")
    server = uvicorn.Server(config)
    running = BufferServer(url="", db_url=db_url)
    handler = _Collect(running.errors)
    logging.getLogger().addHandler(handler)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the buffer server did not start")
            time.sleep(0.01)
        running.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        yield running
    finally:
        server.should_exit = True
        thread.join(30)
        logging.getLogger().removeHandler(handler)
