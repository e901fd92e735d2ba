"""Faults the buffer reports as `{code, detail}` bodies; `app` maps each class to its status."""

from __future__ import annotations

__all__ = ["BadInput", "BufferError", "Busy", "RunExists", "RunNotFound"]


class BufferError(Exception):
    """A request the buffer refuses; subclasses carry the HTTP status and the wire code."""

    status_code = 400
    code = "bad_request"
    retry_after_s: int | None = None  # sent as Retry-After when set


class RunNotFound(BufferError):
    """No run has this name."""

    status_code = 404
    code = "run_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"no run named {name!r}")


class RunExists(BufferError):
    """A run with this name already exists."""

    status_code = 409
    code = "run_exists"

    def __init__(self, name: str) -> None:
        super().__init__(f"a run named {name!r} already exists")


class BadInput(BufferError):
    """Well-formed JSON whose content the buffer cannot accept."""

    status_code = 422
    code = "invalid_request"


class Busy(BufferError):
    """A bound on work in flight is reached (import bytes spooled, exports streaming); retry
    later."""

    status_code = 429
    code = "overloaded"
    retry_after_s = 5
