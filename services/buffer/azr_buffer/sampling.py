"""Sampling k distinct tasks of one pool, fast with millions of tasks.

Each task of a (run, type) pool has a dense sequence number `seq`. Uniform sampling draws random,
distinct `seq` values in the pool's [min, max] range and looks them up through the
(run, type, seq) index: a handful of index probes, never a sort of the pool by random(). Gaps
(evicted or deleted tasks, a step filter, the exclude list) only make some draws miss; the misses are
redrawn, and a pool too sparse for that is read whole instead, so the result is always a uniform
sample without replacement of the matching tasks.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from azr_proto.buffer import SampleRequest, SampleStrategy
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from azr_buffer.tables import PoolRow, RunRow, TaskRow

__all__ = ["draw_distinct", "sample_tasks"]

SMALL_POOL = 2048  # at most this many matching tasks: read their ids and sample in Python
MIN_DENSITY = 0.02  # below this hit rate, redrawing costs more than reading the ids
ROUNDS = 6
MAX_DRAWS = 4096


def draw_distinct(rng: random.Random, lo: int, hi: int, n: int, seen: set[int]) -> list[int]:
    """Up to n distinct integers of [lo, hi] not in `seen`, in random order; adds them to `seen`."""
    free = hi - lo + 1 - len(seen)
    n = min(n, max(free, 0))
    out: list[int] = []
    if n > free // 2:  # dense request: enumerate instead of rejection
        rest = [v for v in range(lo, hi + 1) if v not in seen]
        out = rng.sample(rest, n)
    else:
        while len(out) < n:
            v = rng.randint(lo, hi)
            if v not in seen:
                seen.add(v)
                out.append(v)
        return out
    seen.update(out)
    return out


def sample_tasks(
    *, session: Session, run: RunRow, req: SampleRequest, rng: random.Random
) -> list[TaskRow]:
    """The sampled task rows, in sampling order."""
    type_ = str(req.type)
    exclude = set(req.exclude)
    if req.strategy is SampleStrategy.UNIFORM:
        ids = _sample_ids(session, run.id, type_, req.k, exclude, None, rng)
    elif req.strategy is SampleStrategy.RECENT:
        assert req.step is not None  # SampleRequest checks it
        steps = (max(req.step - req.window + 1, 0), req.step)
        ids = _sample_ids(session, run.id, type_, req.k, exclude, steps, rng)
    else:
        assert req.step is not None
        ids = _sample_ids(session, run.id, type_, req.k, exclude, (req.step, req.step), rng)
        if len(ids) < req.k:
            ids += _sample_ids(
                session, run.id, type_, req.k - len(ids), exclude | set(ids), None, rng
            )
    if not ids:
        return []
    rows = {r.id: r for r in session.scalars(select(TaskRow).where(TaskRow.id.in_(ids)))}
    return [rows[i] for i in ids if i in rows]


def _sample_ids(
    session: Session,
    run_id: int,
    type_: str,
    k: int,
    exclude: set[int],
    steps: tuple[int, int] | None,
    rng: random.Random,
) -> list[int]:
    where: list[ColumnElement[bool]] = [TaskRow.run_id == run_id, TaskRow.type == type_]
    if steps is not None:
        where += [TaskRow.step >= steps[0], TaskRow.step <= steps[1]]
        n = session.scalar(select(func.count()).select_from(TaskRow).where(*where)) or 0
    else:
        n = (
            session.scalar(
                select(PoolRow.n_tasks).where(PoolRow.run_id == run_id, PoolRow.type == type_)
            )
            or 0
        )
    if n == 0:
        return []
    if n > SMALL_POOL:
        lo, hi = session.execute(
            select(func.min(TaskRow.seq), func.max(TaskRow.seq)).where(
                TaskRow.run_id == run_id, TaskRow.type == type_
            )
        ).one()
        if lo is not None and n / (hi - lo + 1) >= MIN_DENSITY:
            chosen = _draw_by_seq(session, where, k, exclude, lo, hi, n / (hi - lo + 1), rng)
            if chosen is not None:
                return chosen
    ids = [i for i in session.scalars(select(TaskRow.id).where(*where)) if i not in exclude]
    return rng.sample(ids, min(k, len(ids)))


def _draw_by_seq(
    session: Session,
    where: Sequence[ColumnElement[bool]],
    k: int,
    exclude: set[int],
    lo: int,
    hi: int,
    density: float,
    rng: random.Random,
) -> list[int] | None:
    """Rejection sampling over seq; None when too many draws missed (the caller reads all ids)."""
    chosen: list[int] = []
    taken: set[int] = set()
    seen: set[int] = set()
    for _ in range(ROUNDS):
        need = k - len(chosen)
        draws = min(MAX_DRAWS, math.ceil((2 * need + 8) / density))
        seqs = draw_distinct(rng, lo, hi, draws, seen)
        if not seqs:
            break
        found: dict[int, list[int]] = {}
        rows = session.execute(select(TaskRow.seq, TaskRow.id).where(*where, TaskRow.seq.in_(seqs)))
        for seq, id_ in rows:
            found.setdefault(seq, []).append(id_)
        for seq in seqs:  # the draw order is the random order
            for id_ in found.get(seq, ()):
                if id_ not in exclude and id_ not in taken:
                    taken.add(id_)
                    chosen.append(id_)
        if len(chosen) >= k:
            return chosen[:k]
    return None
