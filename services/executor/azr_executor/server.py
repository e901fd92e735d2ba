"""The HTTP server around the app: uvicorn with a header timeout, a body timeout, keep-alive and
a connection cap.

uvicorn has a keep-alive timeout and a concurrency limit but no header or body timeout, so a
client that sends its request line and then one header byte every few seconds (slowloris), or
complete headers announcing a body it never sends, holds a connection for ever (and 1,024 of
them hold every slot). `RequestTimeoutProtocol` closes a connection whose request headers are
not complete `http_header_timeout_s` after the connection opened or the previous response
ended, or whose body is not complete `http_body_timeout_s` after its headers.
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


def header_timeout_protocol(
    timeout_s: float, body_timeout_s: float = 60.0
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol, closing connections whose headers or body do not arrive in
    time."""

    class RequestTimeoutProtocol(_Base):
        _header_timer: asyncio.TimerHandle | None = None
        _body_cycle: Any = None  # the request whose body the armed timer waits for

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm(timeout_s)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            cycle = self.cycle
            if cycle is None or cycle.response_complete:
                return
            if not cycle.more_body:
                self._disarm()  # the whole request is in: the app has it
            elif self._body_cycle is not cycle:  # headers complete: the body has its own time
                self._arm(body_timeout_s)
                self._body_cycle = cycle

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm(timeout_s)  # the next request's headers must come in time too

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(seconds, self._expire)

        def _disarm(self) -> None:
            self._body_cycle = None
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expire(self) -> None:
            self._header_timer = None
            cycle = self.cycle
            if cycle is None or cycle.response_complete or cycle.more_body:
                self.transport.close()

    return RequestTimeoutProtocol


def uvicorn_config(app: FastAPI, settings: ExecutorSettings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration every executor server uses (CLI and tests)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "http": header_timeout_protocol(
            settings.http_header_timeout_s, settings.http_body_timeout_s
        ),
        "timeout_keep_alive": settings.http_keepalive_s,
        "limit_concurrency": settings.http_max_connections,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)
