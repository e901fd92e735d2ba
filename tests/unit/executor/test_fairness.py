"""The fair pick-next rule and the per-tenant queue share (sandbox/fairness.py), pure."""

from __future__ import annotations

import itertools

import pytest
from azr_executor.sandbox.fairness import FairQueue, TenantQuota


def serve_all(queue: FairQueue[str]) -> list[str]:
    """Take items one at a time, as the pool does, and return the serving order."""
    order = []
    while queue:
        item = next(iter(queue))
        queue.take(item)
        order.append(item)
    return order


def test_one_tenant_is_served_in_fifo_order():
    queue: FairQueue[str] = FairQueue()
    for i in range(5):
        queue.push(f"a{i}", "a")
    assert serve_all(queue) == ["a0", "a1", "a2", "a3", "a4"]


def test_a_newcomer_is_served_next_behind_a_flood():
    queue: FairQueue[str] = FairQueue()
    for i in range(1000):
        queue.push(f"a{i}", "a")
    queue.take(next(iter(queue)))  # the flood is being served
    queue.push("b0", "b")
    assert list(itertools.islice(queue, 2)) == ["b0", "a1"]
    assert serve_all(queue)[:2] == ["b0", "a1"]


def test_equal_weights_alternate():
    queue: FairQueue[str] = FairQueue()
    for i in range(3):
        queue.push(f"a{i}", "a")
    for i in range(3):
        queue.push(f"b{i}", "b")
    assert serve_all(queue) == ["a0", "b0", "a1", "b1", "a2", "b2"]


def test_weights_set_the_share_of_picks():
    queue: FairQueue[str] = FairQueue(weights={"a": 2.0})
    for i in range(40):
        queue.push(f"a{i}", "a")
        queue.push(f"b{i}", "b")
    first = serve_all(queue)[:30]
    assert sum(x.startswith("a") for x in first) == 20


def test_iteration_order_is_the_serving_order():
    queue: FairQueue[str] = FairQueue(weights={"b": 3.0})
    for i in range(6):
        queue.push(f"a{i}", "a")
        queue.push(f"b{i}", "b")
    assert list(queue) == serve_all(queue)


def test_idle_time_earns_no_credit():
    queue: FairQueue[str] = FairQueue()
    queue.push("b0", "b")
    queue.take("b0")
    for i in range(10):
        queue.push(f"a{i}", "a")
    for _ in range(8):
        queue.take(next(iter(queue)))
    # b was idle while a was served 8 times; it gets the next pick, then they alternate again
    for i in range(1, 4):
        queue.push(f"b{i}", "b")
    assert serve_all(queue) == ["b1", "a8", "b2", "a9", "b3"]


def test_skipping_an_ineligible_item_keeps_the_others_in_order():
    queue: FairQueue[str] = FairQueue()
    for item in ("a0", "a1", "b0"):
        queue.push(item, "a" if item.startswith("a") else "b")
    queue.take("a1")  # the pool skipped a0 (not eligible yet) and served a1
    assert list(queue) == ["b0", "a0"]


def test_remove_does_not_charge_and_drain_empties():
    queue: FairQueue[str] = FairQueue()
    for item in ("a0", "a1", "b0"):
        queue.push(item, item[0])
    queue.remove("a0")
    assert queue.tenant_of("a1") == "a" and len(queue) == 2
    assert sorted(queue.drain()) == ["a1", "b0"]
    assert not queue and list(queue) == []


def test_a_weight_must_be_positive():
    with pytest.raises(ValueError, match="above 0"):
        FairQueue(weights={"a": 0.0})


def test_one_tenant_may_hold_only_its_share_of_the_queue():
    quota = TenantQuota(max_queue=100, share=0.5)
    for _ in range(50):
        quota.add("a")
    assert not quota.admits("a", 1) and quota.admits("b", 50)
    quota.release("a")
    assert quota.admits("a", 1) and quota.admitted("a") == 49


def test_an_exempt_tenant_may_fill_the_whole_queue():
    quota = TenantQuota(max_queue=10, share=0.5, exempt={"anonymous"})
    assert quota.admits("anonymous", 10) and not quota.admits("a", 6)
