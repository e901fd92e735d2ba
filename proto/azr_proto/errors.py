"""Client-side exceptions for faults of the services, never of a submitted program.

    ProtoError                 any failure to get a valid answer from a service
    ├── TransportError         the service could not be reached, or the connection broke
    └── ServiceError           the service answered with an error status
        ├── BadRequest         4xx: the request was rejected (422, 413, 404, 409, ...)
        │   └── Unauthorized   401: missing or invalid bearer token
        ├── Overloaded         429: the queue is full; retry after `retry_after_s`
        └── ServerFault        5xx: a bug or an outage on the service side

Program outcomes (a wrong answer, a timeout, a crash) are data in a 200 response, not exceptions.
The trainer lets `ProtoError` propagate: an outage never becomes a reward of 0.0.
"""

from __future__ import annotations

import httpx

__all__ = [
    "BadRequest",
    "Overloaded",
    "ProtoError",
    "ServerFault",
    "ServiceError",
    "TransportError",
    "Unauthorized",
    "raise_for_proto_status",
]


class ProtoError(Exception):
    """Failure to get a valid answer from an azr service."""


class TransportError(ProtoError):
    """The service could not be reached, or the connection broke mid-request."""


class ServiceError(ProtoError):
    """The service answered with an error status."""

    def __init__(self, status_code: int, code: str, detail: str) -> None:
        super().__init__(f"{status_code} {code}: {detail}")
        self.status_code = status_code
        self.code = code
        self.detail = detail


class BadRequest(ServiceError):
    """The request was rejected (4xx other than 401 and 429)."""


class Unauthorized(BadRequest):
    """Missing or invalid bearer token (401)."""


class Overloaded(ServiceError):
    """The service queue is full (429); retry after `retry_after_s` seconds."""

    def __init__(self, status_code: int, code: str, detail: str, retry_after_s: float) -> None:
        super().__init__(status_code, code, detail)
        self.retry_after_s = retry_after_s


class ServerFault(ServiceError):
    """A 5xx answer: a bug or an outage on the service side."""


def raise_for_proto_status(resp: httpx.Response) -> None:
    """Raise the typed `ServiceError` for an error response; do nothing for 2xx/3xx."""
    if resp.status_code < 400:
        return
    code, detail = _error_body(resp)
    if resp.status_code == 401:
        raise Unauthorized(resp.status_code, code, detail)
    if resp.status_code == 429:
        retry_after = _retry_after_s(resp.headers.get("Retry-After"))
        raise Overloaded(resp.status_code, code, detail, retry_after)
    if resp.status_code >= 500:
        raise ServerFault(resp.status_code, code, detail)
    raise BadRequest(resp.status_code, code, detail)


def _error_body(resp: httpx.Response) -> tuple[str, str]:
    """Read the `{code, detail}` error body; fall back to the raw text."""
    try:
        body = resp.json()
    except ValueError:
        return "http_error", resp.text[:500]
    if isinstance(body, dict):
        code = str(body.get("code", "http_error"))
        detail = body.get("detail", "")
        return code, detail if isinstance(detail, str) else repr(detail)[:2000]
    return "http_error", repr(body)[:500]


def _retry_after_s(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0
