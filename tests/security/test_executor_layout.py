"""Class 3: the two runs of a `JobPair` differ in memory layout, not only in hash seed, so a
program whose output depends on object addresses gives two different outputs every time."""

from __future__ import annotations

import asyncio

from azr_executor.sandbox import Job, JobPair, Limits
from azr_proto.statuses import RunStatus

# Each line depends on addresses in a different way; each must differ between the pair's runs.
ADDRESS_DEPENDENT = """
class Node:
    pass

print(hash(object()))
print(repr(object()))
print(object.__repr__(Node()))
objs = [object() for _ in range(5)]
print([objs.index(o) for o in set(objs)])
nodes = [Node() for _ in range(20)]
print([nodes.index(n) for n in set(nodes)])
print([nodes.index(n) for n in sorted(nodes[:6], key=id)])
fs = [(lambda i=i: i) for i in range(6)]
print([fs.index(f) for f in set(fs)])
print({Node(): i for i in range(3)}.__len__(), sorted(id(x) % 4096 for x in (Node(), Node())))
"""
PAIRS = 100


async def _pairs(pool):
    out = []
    for _ in range(PAIRS):
        pair = JobPair()
        job = Job(code=ADDRESS_DEPENDENT, limits=Limits(wall_s=5), pipelined=False)
        out.append(
            await asyncio.gather(
                pool.run(job, member=pair.leader), pool.run(job, member=pair.follower)
            )
        )
    return out


def test_address_dependent_output_differs_in_every_pair(ex):
    pairs = ex.call(_pairs(ex.pool), timeout_s=300)
    same = {}
    for lead, follow in pairs:
        assert lead.status is RunStatus.OK and follow.status is RunStatus.OK, (lead, follow)
        assert lead.hash_seed != follow.hash_seed
        for i, (x, y) in enumerate(
            zip(lead.stdout.splitlines(), follow.stdout.splitlines(), strict=True)
        ):
            if x == y:
                same[i] = same.get(i, 0) + 1
    assert same == {}, f"lines equal in that many of {PAIRS} pairs: {same}"
