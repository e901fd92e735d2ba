"""A per-run memory-layout salt, so that two runs of a `JobPair` differ in object addresses.

AZR's determinism check runs a program twice, in two processes, and compares the outputs. The
processes come from two zygotes with different hash seeds, and ASLR already moves every mapping
(so full addresses differ); but objects sit at the same offsets inside their 16 KiB pymalloc
pools, and the low bits of an address decide the order of a set of objects, `sorted(key=id)`,
`id(a) < id(b)` and `hash(x) % small`. The salt changes those bits on purpose:

- salt 0 (every run outside a pair, and a pair's leader): nothing is done, at no cost;
- salt s > 0 (a pair's follower): for each small size class (16 to 208 bytes: `object()`,
  instances, tuples, functions) the child takes `BLOCKS` blocks and frees them in the order it
  took them, so the program's first allocations of that class come back in reverse address
  order from blocks further along the pool; and an anonymous mapping of a salt-dependent size
  (never touched, so it costs no memory) shifts where later large allocations land.

Guarantees: when the two zygotes' heaps are in the same state (the case that made
address-dependent programs pass), the follower's first allocations of each salted class are
other blocks than the leader's, in the opposite order: `id`, `repr`, default `hash`,
`sorted(key=id)`, and the iteration order of a set or dict of three or more such objects
differ between the two runs.

Does not guarantee: that every function of addresses differs. Measured (tests/security/
test_executor_layout.py, 100 pairs): `hash`, `repr`, `object.__repr__`, sets of 5 objects, of 20
instances and of 6 functions, and `sorted(key=id)` of 6 instances differed in every pair; but
`id(a) < id(b)` for two instances made right after other work agreed in every pair (blocks freed
by the program itself are reused in the same order in both runs), and `id(x) % 2` or a set of
two objects may agree by chance. Allocations past `BLOCKS` per class follow pymalloc's usual
order. The salt is applied after the program is compiled, right before it runs.
"""

from __future__ import annotations

import mmap

__all__ = ["BLOCKS", "apply_salt"]

BLOCKS = 64
_CLASSES = 13  # 16 * 13 = 208 bytes: the classes of small objects, instances and functions


def _makers() -> list[object]:
    one_digit = 1000  # a new 28-byte int per `one_digit + 1`: the 32-byte class
    makers: list[object] = [object, lambda: one_digit + 1]
    for size_class in range(2, _CLASSES):
        length = 16 * (size_class + 1) - 33  # a bytes object of this length fills that class
        makers.append(lambda n=length: bytes(n))
    return makers


_MAKERS = _makers()


def apply_salt(salt: int) -> object:
    """Shift this process's layout by `salt` (0: nothing); keep the result alive."""
    if salt <= 0:
        return None
    blocks: list[object] = [None] * (BLOCKS * len(_MAKERS))
    i = 0
    for make in _MAKERS:
        for _ in range(BLOCKS):
            blocks[i] = make()  # type: ignore[operator]
            i += 1
    for j in range(i):  # freed first-taken first: pymalloc hands them back last-freed first
        blocks[j] = None
    return mmap.mmap(-1, mmap.PAGESIZE * (1 + salt % 251))
