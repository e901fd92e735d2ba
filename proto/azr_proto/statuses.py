"""Stable wire strings for program outcomes: the contract documented in proto/README.md."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RunStatus"]


class RunStatus(StrEnum):
    """Exactly one status per run or test case. Only `sandbox_error` is the service's fault."""

    OK = "ok"
    RUNTIME_ERROR = "runtime_error"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    KILLED = "killed"
    SANDBOX_ERROR = "sandbox_error"  # our fault, never the program's; retryable

    @property
    def retryable(self) -> bool:
        """Whether a client should retry: only infrastructure faults are."""
        return self is RunStatus.SANDBOX_ERROR
