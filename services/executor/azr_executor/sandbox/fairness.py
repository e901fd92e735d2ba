"""Fair sharing of one executor between tenants (bearer tokens): the order queued runs are served
in, and how much of the queue bound one tenant may hold. Pure: no asyncio, no I/O.

Pick-next rule (stride scheduling, a weighted round robin with virtual time): every tenant has a
`pass`; the queued run served next belongs to the tenant with the smallest pass, and serving it
adds `1 / weight` to that tenant's pass. A tenant that had nothing queued starts at the current
virtual time (the pass of the run served last), so idle time earns no credit to burst with later.
With equal weights and k tenants queueing, a tenant's next run waits for at most one run of each
other tenant; with weights 2 and 1, the first gets two runs for each of the second's.

Guarantees:
- a run is never served before an earlier run of the same tenant that is also eligible;
- a tenant with runs queued is served within `sum(w_other) / w_self + 1` picks, whatever the
  others have queued.
Does not guarantee: fairness in CPU time (a pick is one run, short or long), nor anything about
runs already handed to a zygote.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Collection, Iterator, Mapping
from typing import Generic, TypeVar

__all__ = ["FairQueue", "TenantQuota"]

T = TypeVar("T")


class _Tenant(Generic[T]):
    __slots__ = ("items", "order", "pass_", "weight")

    def __init__(self, weight: float, pass_: float, order: int) -> None:
        self.items: deque[T] = deque()
        self.weight = weight
        self.pass_ = pass_
        self.order = order  # tie-break: the tenant that became active first goes first


class FairQueue(Generic[T]):
    """Runs waiting for a zygote, one FIFO per tenant; iterating yields them in serving order.

    queue = FairQueue(weights={"team-a": 2.0})
    queue.push(item, "team-a")
    for item in queue:          # serving order; the caller may skip items it cannot place
        if placeable(item):
            queue.take(item)    # charges the item's tenant
            break
    """

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        self.weights = dict(weights or {})
        for name, weight in self.weights.items():
            if not weight > 0:
                raise ValueError(f"tenant {name!r}: weight {weight} must be above 0")
        self._tenants: dict[str, _Tenant[T]] = {}
        self._tenant_of: dict[int, str] = {}  # id(item) -> its tenant
        self._vtime = 0.0  # the pass of the run served last
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._tenant_of)

    def __bool__(self) -> bool:
        return bool(self._tenant_of)

    def push(self, item: T, tenant: str) -> None:
        """Queue `item` behind the earlier items of `tenant`."""
        state = self._tenants.get(tenant)
        if state is None:
            weight = self.weights.get(tenant, 1.0)
            state = self._tenants[tenant] = _Tenant(weight, self._vtime, next(self._order))
        elif not state.items:  # active again: no credit for the idle time
            state.pass_ = max(state.pass_, self._vtime)
            state.order = next(self._order)
        state.items.append(item)
        self._tenant_of[id(item)] = tenant

    def push_front(self, item: T, tenant: str) -> None:
        """Queue `item` ahead of every other item of `tenant`: a run that was taken but never
        started (its zygote died before reading it) goes back where it was."""
        self.push(item, tenant)
        items = self._tenants[tenant].items
        items.appendleft(items.pop())

    def __iter__(self) -> Iterator[T]:
        """Queued items in the order they would be served if each were taken in turn."""

        def tagged(state: _Tenant[T]) -> Iterator[tuple[float, int, int, T]]:
            step = 1.0 / state.weight
            for k, item in enumerate(state.items):
                yield state.pass_ + k * step, state.order, k, item

        active = [s for s in self._tenants.values() if s.items]
        if len(active) == 1:  # the common case: no merge to pay for
            yield from active[0].items
            return
        for _tag, _order, _k, item in heapq.merge(*map(tagged, active)):
            yield item

    def take(self, item: T) -> None:
        """Remove `item` because it is being served, and charge its tenant for it."""
        state = self._detach(item)
        self._vtime = max(self._vtime, state.pass_)
        state.pass_ += 1.0 / state.weight

    def remove(self, item: T) -> None:
        """Remove `item` without serving it (it was cancelled); its tenant is not charged."""
        name = self._tenant_of[id(item)]
        state = self._detach(item)
        if not state.items and state.pass_ <= self._vtime:
            del self._tenants[name]  # it would restart at the virtual time anyway

    def drain(self) -> list[T]:
        """Remove and return every queued item (shutdown)."""
        items = [item for state in self._tenants.values() for item in state.items]
        self._tenants.clear()
        self._tenant_of.clear()
        return items

    def tenant_of(self, item: T) -> str:
        """The tenant a queued item belongs to."""
        return self._tenant_of[id(item)]

    def _detach(self, item: T) -> _Tenant[T]:
        name = self._tenant_of.pop(id(item))
        state = self._tenants[name]
        for i, queued in enumerate(state.items):
            if queued is item:
                del state.items[i]
                break
        return state


class TenantQuota:
    """Runs admitted (queued or running) per tenant; one tenant may hold at most `share` of the
    queue bound, so a tenant that floods the queue cannot fill it and lock the others out.
    `exempt` tenants (the single anonymous tenant of a service without tokens) are not capped."""

    def __init__(self, max_queue: int, share: float, exempt: Collection[str] = ()) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"share {share} must be in (0, 1]")
        self.limit = max(1, int(max_queue * share))
        self.exempt = frozenset(exempt)
        self._admitted: dict[str, int] = {}

    def admitted(self, tenant: str) -> int:
        """Runs of `tenant` admitted and not finished."""
        return self._admitted.get(tenant, 0)

    def admits(self, tenant: str, n: int) -> bool:
        """Whether `n` more runs of `tenant` stay within its share."""
        return tenant in self.exempt or self.admitted(tenant) + n <= self.limit

    def add(self, tenant: str) -> None:
        """One more run of `tenant` admitted."""
        self._admitted[tenant] = self.admitted(tenant) + 1

    def release(self, tenant: str) -> None:
        """One run of `tenant` finished."""
        left = self.admitted(tenant) - 1
        if left > 0:
            self._admitted[tenant] = left
        else:
            self._admitted.pop(tenant, None)
