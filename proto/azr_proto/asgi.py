"""Pure-ASGI guards shared by both services: bearer-token auth with a per-token concurrency
quota, and a request-body size limit. Standard library only (no starlette, no FastAPI).

    app = BodySizeLimit(BearerAuth(app, tokens={"s3cret"}, max_concurrent=64), max_bytes=1 << 20)

Error answers use the services' `{"code", "detail"}` body: 401 `unauthorized`, 413 `too_large`,
429 `overloaded` (with `Retry-After`).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

__all__ = ["ASGIApp", "BearerAuth", "BodySizeLimit", "send_error"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def send_error(
    send: Send, status: int, code: str, detail: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Send a complete `{code, detail}` JSON error response."""
    body = json.dumps({"code": code, "detail": detail}).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Answer 413 when a request body is over its limit: up front from Content-Length, or as soon
    as the streamed body passes the limit. `limits` maps path regexes to limits of their own (for
    example a larger one for a streamed import).

    The 413 is sent the moment the limit is passed, before the app sees the error: frameworks
    turn any error raised while reading a body into their own 400, which is dropped here.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limits = [(re.compile(p), n) for p, n in (limits or {}).items()]

    def limit_for(self, path: str) -> int:
        """The body limit that applies to `path`."""
        for pattern, n in self.limits:
            if pattern.fullmatch(path):
                return n
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        detail = f"request body over {limit} bytes"
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                too_big = int(length) > limit
            except ValueError:
                await send_error(send, 400, "bad_request", "invalid Content-Length")
                return
            if too_big:
                await send_error(send, 413, "too_large", detail)
                return
        seen = 0
        started = rejected = False

        async def limited_receive() -> Message:
            nonlocal seen, rejected
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    if not started and not rejected:
                        rejected = True
                        await send_error(send, 413, "too_large", detail)
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 has been sent; whatever the app answers now is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not rejected:
                raise


class BearerAuth:
    """Require `Authorization: Bearer <token>` (401 otherwise) and cap each token's requests in
    flight at `max_concurrent` (429 with Retry-After past it).

    `tokens` is a set of accepted tokens or a callable returning it (so a token file can be
    re-read); an empty set disables authentication. `exempt_paths` (health, metrics) stay open.
    """

    def __init__(
        self,
        app: ASGIApp,
        tokens: Iterable[str] | Callable[[], Iterable[str]],
        *,
        max_concurrent: int | None = None,
        retry_after_s: int = 1,
        exempt_paths: Iterable[str] = ("/healthz", "/readyz", "/metrics"),
    ) -> None:
        self.app = app
        self._tokens = tokens
        self.max_concurrent = max_concurrent
        self.retry_after_s = retry_after_s
        self.exempt_paths = frozenset(exempt_paths)
        self._in_flight: dict[str, int] = {}

    def tokens(self) -> list[bytes]:
        source = self._tokens() if callable(self._tokens) else self._tokens
        return [t.encode() for t in source if t]

    def in_flight(self, token: str) -> int:
        """Requests of `token` being served now."""
        return self._in_flight.get(token, 0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        tokens = self.tokens()
        if not tokens:
            await self.app(scope, receive, send)
            return
        given = _bearer(_header(scope, b"authorization"))
        # compare_digest against every token: the time taken does not reveal which one matched
        matched = None
        for token in tokens:
            if given is not None and hmac.compare_digest(given, token):
                matched = token
        if matched is None:
            headers = [(b"www-authenticate", b'Bearer realm="azr"')]
            detail = "missing bearer token" if given is None else "invalid bearer token"
            await send_error(send, 401, "unauthorized", detail, headers)
            return
        key = matched.decode()
        if self.max_concurrent is not None and self.in_flight(key) >= self.max_concurrent:
            headers = [(b"retry-after", str(self.retry_after_s).encode())]
            detail = f"this token already has {self.max_concurrent} requests in flight"
            await send_error(send, 429, "overloaded", detail, headers)
            return
        self._in_flight[key] = self.in_flight(key) + 1
        try:
            await self.app(scope, receive, send)
        finally:
            self._in_flight[key] -= 1
            if not self._in_flight[key]:
                del self._in_flight[key]


def _bearer(value: bytes | None) -> bytes | None:
    if value is None:
        return None
    scheme, _, token = value.strip().partition(b" ")
    if scheme.lower() != b"bearer" or not token.strip():
        return None
    return token.strip()
