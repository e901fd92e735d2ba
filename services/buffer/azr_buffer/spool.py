"""The bound on import bodies spooled at once: a byte budget per process, leased per request.

Imports stream to a temporary file (disk past 16 MiB) before their transaction; without a bound,
a few concurrent multi-GiB imports could fill the disk. Every lease and release happens on the
event loop (in the async import handler), so the counter needs no lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from azr_buffer.errors import Busy

__all__ = ["SpoolBudget", "SpoolLease"]


class SpoolBudget:
    """At most `max_bytes` of import bodies spooled at once in this process."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0

    @contextmanager
    def lease(self) -> Iterator[SpoolLease]:
        """A lease of zero bytes that grows with `cover` and is given back on exit."""
        lease = SpoolLease(self)
        try:
            yield lease
        finally:
            self.used -= lease.bytes


class SpoolLease:
    """The bytes one import holds of the budget."""

    def __init__(self, budget: SpoolBudget) -> None:
        self.budget = budget
        self.bytes = 0

    def cover(self, n: int) -> None:
        """Hold at least `n` bytes; `Busy` (429) when the budget has not that much left."""
        extra = n - self.bytes
        if extra <= 0:
            return
        budget = self.budget
        if budget.used + extra > budget.max_bytes:
            raise Busy(
                f"imports of {budget.used} bytes are being spooled and the bound is "
                f"{budget.max_bytes} bytes (AZR_BUFFER_MAX_IMPORT_SPOOL_BYTES); retry later"
            )
        budget.used += extra
        self.bytes = n
