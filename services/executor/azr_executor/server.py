"""The HTTP server around the app: uvicorn with a header timeout, keep-alive and a connection cap.

uvicorn has a keep-alive timeout and a concurrency limit but no header timeout, so a client that
sends its request line and then one header byte every few seconds (slowloris) holds a connection
for ever. `HeaderTimeoutProtocol` closes a connection whose request headers are not complete
`http_header_timeout_s` after the connection opened or the previous response ended.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from azr_executor.settings import ExecutorSettings

__all__ = ["header_timeout_protocol", "uvicorn_config"]

if importlib.util.find_spec("httptools") is not None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
else:  # pragma: no cover - uvicorn's pure-Python parser
    _Base = H11Protocol  # type: ignore[assignment,misc]


def header_timeout_protocol(timeout_s: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol, closing connections whose headers do not arrive in time."""

    class HeaderTimeoutProtocol(_Base):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:
                self._disarm()  # a request's headers are complete: the app has it now

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # the next request's headers must come in time too

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(timeout_s, self._expire)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expire(self) -> None:
            self._header_timer = None
            cycle = self.cycle
            if cycle is None or cycle.response_complete:
                self.transport.close()

    return HeaderTimeoutProtocol


def uvicorn_config(app: FastAPI, settings: ExecutorSettings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration every executor server uses (CLI and tests)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "http": header_timeout_protocol(settings.http_header_timeout_s),
        "timeout_keep_alive": settings.http_keepalive_s,
        "limit_concurrency": settings.http_max_connections,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)
