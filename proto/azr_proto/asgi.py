"""Pure-ASGI guards shared by both services: bearer-token auth with a per-token concurrency
quota, and a request-body size limit. Standard library only (no starlette, no FastAPI).

    app = BodySizeLimit(BearerAuth(app, tokens={"s3cret"}, max_concurrent=64), max_bytes=1 << 20)

Error answers use the services' `{"code", "detail"}` body: 401 `unauthorized`, 413 `too_large`,
429 `overloaded` (with `Retry-After`).

The tenant a request belongs to (the name of its token) is set in `current_tenant` while the app
serves it: the executor schedules and counts runs per tenant with it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from contextvars import ContextVar
from typing import Any

__all__ = [
    "ANONYMOUS",
    "ASGIApp",
    "BearerAuth",
    "BodySizeLimit",
    "current_tenant",
    "send_error",
    "tenant_name",
]

ANONYMOUS = "anonymous"  # the tenant of every request when no token is configured
current_tenant: ContextVar[str] = ContextVar("azr_tenant", default=ANONYMOUS)


def tenant_name(token: str) -> str:
    """The name of a token's tenant when none is configured: not the token, and stable."""
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:8]


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
    `tenants` names the tenant of a token (default: `tenant_name(token)`).

    `path_token_prefix` (e.g. "/sandbox-fusion/"), for clients that can send no header: under it
    the first path segment is the token, `/sandbox-fusion/<token>/run_code`, and the app sees the
    path without it, `/sandbox-fusion/run_code`. The scope is rewritten in place, so the server's
    access log never shows the token either. Without tokens configured, paths pass unchanged.
    `path_token_busy_status`: the status of the quota answer to such requests (SandboxFusion's
    clients retry 504, not 429). `on_reject(tenant, reason)` is told of every quota answer.
    """

    def __init__(
        self,
        app: ASGIApp,
        tokens: Iterable[str] | Callable[[], Iterable[str]],
        *,
        max_concurrent: int | None = None,
        retry_after_s: int = 1,
        exempt_paths: Iterable[str] = ("/healthz", "/readyz", "/metrics"),
        tenants: Mapping[str, str] | None = None,
        path_token_prefix: str | None = None,
        path_token_busy_status: int = 429,
        on_reject: Callable[[str, str], None] | None = None,
    ) -> None:
        self.app = app
        self._tokens = tokens
        self.max_concurrent = max_concurrent
        self.retry_after_s = retry_after_s
        self.exempt_paths = frozenset(exempt_paths)
        self.tenants = dict(tenants or {})
        self.path_token_prefix = path_token_prefix
        self.path_token_busy_status = path_token_busy_status
        self.on_reject = on_reject
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
        in_path = self._take_path_token(scope)
        if in_path is not None:
            given = in_path
        # compare_digest against every token: the time taken does not reveal which one matched
        matched = None
        for token in tokens:
            if given is not None and hmac.compare_digest(given, token):
                matched = token
        if matched is None:
            headers = [(b"www-authenticate", b'Bearer realm="azr"')]
            if in_path is not None:
                detail = f"invalid token in the path: {self.path_token_prefix}<token>/..."
            else:
                detail = "missing bearer token" if given is None else "invalid bearer token"
            await send_error(send, 401, "unauthorized", detail, headers)
            return
        key = matched.decode()
        tenant = self.tenants.get(key) or tenant_name(key)
        if self.max_concurrent is not None and self.in_flight(key) >= self.max_concurrent:
            if self.on_reject is not None:
                self.on_reject(tenant, "token_concurrency")
            headers = [(b"retry-after", str(self.retry_after_s).encode())]
            detail = f"this token already has {self.max_concurrent} requests in flight"
            status = 429 if in_path is None else self.path_token_busy_status
            await send_error(send, status, "overloaded", detail, headers)
            return
        self._in_flight[key] = self.in_flight(key) + 1
        reset = current_tenant.set(tenant)
        try:
            await self.app(scope, receive, send)
        finally:
            current_tenant.reset(reset)
            self._in_flight[key] -= 1
            if not self._in_flight[key]:
                del self._in_flight[key]

    def _take_path_token(self, scope: Scope) -> bytes | None:
        """Cut the token segment out of a path under `path_token_prefix`; None if not there."""
        prefix = self.path_token_prefix
        path: str = scope.get("path", "")
        if prefix is None or not path.startswith(prefix):
            return None
        token, _, rest = path[len(prefix) :].partition("/")
        scope["path"] = prefix + rest
        raw = scope.get("raw_path")
        if isinstance(raw, bytes) and raw.startswith(prefix.encode()):
            scope["raw_path"] = prefix.encode() + raw[len(prefix) :].partition(b"/")[2]
        return token.encode()


def _bearer(value: bytes | None) -> bytes | None:
    if value is None:
        return None
    scheme, _, token = value.strip().partition(b" ")
    if scheme.lower() != b"bearer" or not token.strip():
        return None
    return token.strip()
