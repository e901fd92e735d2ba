"""Faults of the executor service itself, never of a submitted program; mapped to `{code, detail}`."""

from __future__ import annotations

__all__ = ["BadTask", "ExecutorError", "InvalidRequest", "Overloaded", "RequestTooLarge"]


class ExecutorError(Exception):
    """Fault of the service itself, never of the submitted program."""

    status_code = 500
    code = "internal_error"


class Overloaded(ExecutorError):
    """The run queue (or the token's concurrency quota) is full; retry later."""

    status_code = 429
    code = "overloaded"

    def __init__(self, detail: str, retry_after_s: int = 1, reason: str = "queue_full") -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
        self.reason = reason  # for the per-tenant rejection metric


class RequestTooLarge(ExecutorError):
    """The request asks for more than the service accepts in one request."""

    status_code = 413
    code = "too_large"


class InvalidRequest(ExecutorError):
    """The request is well-formed JSON but asks for something this service refuses."""

    status_code = 422
    code = "invalid_request"


class BadTask(InvalidRequest):
    """An AZR task in the request is unusable (its program breaks the rules, a gold output is
    no literal): nothing was graded."""

    code = "bad_task"
