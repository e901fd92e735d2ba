"""Sampling k distinct tasks of one pool, fast with millions of tasks.

Each task of a (run, type) pool has a dense sequence number `seq`. Uniform sampling draws random,
distinct `seq` values in the pool's [min, max] range and looks them up through the
(run, type, seq) index: a handful of index probes, never a sort of the pool by random(). Gaps
(evicted or deleted tasks, a step filter, the exclude list) only make some draws miss; the misses are
redrawn, and a pool too sparse for that is read whole instead, so the result is always a uniform
sample without replacement of the matching tasks.

This is the service's hot path, so it talks to the DBAPI cursor directly with SQL written out once
per dialect (no ORM, no statement compiler): one statement finds the run and its pool's size and
seq range, one more fetches the drawn tasks, and the response JSON is written straight from the
rows (the JSON columns are spliced in as stored, never parsed).
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from azr_proto.buffer import SampleRequest, SampleStrategy

from azr_buffer.errors import RunNotFound

__all__ = ["SampleSql", "draw_distinct", "render_tasks", "sample_rows"]

SMALL_POOL = 2048  # at most this many matching tasks: read their ids and sample in Python
MIN_DENSITY = 0.02  # below this hit rate, redrawing costs more than reading the ids
ROUNDS = 6
MAX_DRAWS = 4096

Row = tuple[Any, ...]
# Column positions in a task row (see SampleSql).
_ID, _SEQ = 0, 1


class SampleSql:
    """The sampler's statements for one dialect (`sqlite` or `postgresql`), named-parameter style.

    A task row is (id, seq, type, program, inputs, outputs, metadata, message, step, source,
    content_hash, n_attempts, n_solved, created_at), with the three JSON columns as JSON text.
    """

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"
        as_text = "::text" if self.postgres else ""
        self.columns = (
            f"id, seq, type, program, inputs{as_text}, outputs{as_text}, metadata{as_text},"
            " message, step, source, content_hash, n_attempts, n_solved, created_at"
        )
        pool = "run_id = r.id AND type = :type"
        head = (
            "SELECT r.id,"
            f" (SELECT n_tasks FROM pools WHERE {pool}),"
            # Separate subqueries: each min() or max() alone is one probe of the seq index.
            f" (SELECT min(seq) FROM tasks WHERE {pool}),"
            f" (SELECT max(seq) FROM tasks WHERE {pool})"
        )
        steps = " AND step >= :step_lo AND step <= :step_hi"
        self.head = self._sql(f"{head}, NULL FROM runs r WHERE r.name = :run")
        self.head_steps = self._sql(
            f"{head}, (SELECT count(*) FROM tasks WHERE {pool}{steps}) FROM runs r"
            " WHERE r.name = :run"
        )
        in_pool = "run_id = :run_id AND type = :type"
        self.ids = self._sql(f"SELECT id FROM tasks WHERE {in_pool}")
        self.ids_steps = self._sql(f"SELECT id FROM tasks WHERE {in_pool}{steps}")
        self._by_seq = f"SELECT {self.columns} FROM tasks WHERE {in_pool} AND seq "
        self._by_id = f"SELECT {self.columns} FROM tasks WHERE id "
        self._steps = steps
        # PostgreSQL takes the values as one array parameter: one statement text for any count.
        self._pg_by_seq = [self._sql(self._by_seq + "= ANY(:vals)" + s) for s in ("", steps)]
        self._pg_by_id = self._sql(self._by_id + "= ANY(:vals)")

    def _sql(self, sql: str) -> str:
        # psycopg's named style is %(name)s; sqlite3 takes :name as written. (Not `::text`.)
        return re.sub(r"(?<!:):(\w+)", r"%(\1)s", sql) if self.postgres else sql

    def by_seq(
        self, params: dict[str, Any], seqs: Sequence[int], steps: bool
    ) -> tuple[str, dict[str, Any]]:
        """Tasks of the pool in `params` (and steps, if `steps`) whose seq is one of `seqs`."""
        if self.postgres:
            return self._pg_by_seq[steps], {**params, "vals": list(seqs)}
        sql = self._by_seq + _in_list(len(seqs)) + (self._steps if steps else "")
        return sql, {**params, **{f"v{i}": v for i, v in enumerate(seqs)}}

    def by_id(self, ids: Sequence[int]) -> tuple[str, dict[str, Any]]:
        """Tasks by id."""
        if self.postgres:
            return self._pg_by_id, {"vals": list(ids)}
        return self._by_id + _in_list(len(ids)), {f"v{i}": v for i, v in enumerate(ids)}


def _in_list(n: int) -> str:
    return "IN (" + ",".join(f":v{i}" for i in range(n)) + ")"


def draw_distinct(rng: random.Random, lo: int, hi: int, n: int, seen: set[int]) -> list[int]:
    """Up to n distinct integers of [lo, hi] not in `seen`, in random order; adds them to `seen`."""
    free = hi - lo + 1 - len(seen)
    n = min(n, max(free, 0))
    out: list[int] = []
    if n > free // 2:  # dense request: enumerate instead of rejection
        out = rng.sample([v for v in range(lo, hi + 1) if v not in seen], n)
        seen.update(out)
        return out
    while len(out) < n:
        v = rng.randint(lo, hi)
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def sample_rows(
    *, cursor: Any, sql: SampleSql, run: str, req: SampleRequest, rng: random.Random
) -> list[Row]:
    """The sampled task rows of run `run`, in sampling order; raises `RunNotFound`.

    - uniform: k distinct tasks of the pool, uniformly, without replacement;
    - recent: the same among the tasks of steps (step - window, step];
    - new_first: the tasks of `step` first (uniformly, if more than k), then the rest filled up
      uniformly from the whole pool.
    The exclude list is never returned.
    """
    steps: tuple[int, int] | None = None
    if req.strategy is not SampleStrategy.UNIFORM:
        assert req.step is not None  # SampleRequest checks it
        window = req.window if req.strategy is SampleStrategy.RECENT else 1
        steps = (max(req.step - window + 1, 0), req.step)
    params: dict[str, Any] = {"run": run, "type": str(req.type)}
    if steps is None:
        cursor.execute(sql.head, params)
    else:
        params.update(step_lo=steps[0], step_hi=steps[1])
        cursor.execute(sql.head_steps, params)
    head = cursor.fetchone()
    if head is None:
        raise RunNotFound(run)
    run_id, n_pool, lo, hi, n_steps = head
    pool = _Pool(cursor, sql, {"run_id": run_id, "type": str(req.type)}, lo, hi, rng)
    exclude = set(req.exclude)
    if steps is None:
        return pool.sample(req.k, exclude, n_pool, None)
    rows = pool.sample(req.k, exclude, n_steps, steps)
    if req.strategy is SampleStrategy.NEW_FIRST and len(rows) < req.k:
        taken = exclude | {r[_ID] for r in rows}
        rows += pool.sample(req.k - len(rows), taken, n_pool, None)
    return rows


class _Pool:
    """One (run, type) pool, for the queries of one sample request."""

    def __init__(
        self,
        cursor: Any,
        sql: SampleSql,
        params: dict[str, Any],
        lo: int | None,
        hi: int | None,
        rng: random.Random,
    ) -> None:
        self.cursor, self.sql, self.params = cursor, sql, params
        self.lo, self.hi, self.rng = lo, hi, rng

    def _query(self, statement: str, params: dict[str, Any]) -> list[Row]:
        self.cursor.execute(statement, params)
        return list(self.cursor.fetchall())

    def sample(
        self, k: int, exclude: set[int], n: int | None, steps: tuple[int, int] | None
    ) -> list[Row]:
        """Up to k tasks drawn uniformly among the n that match `steps`, minus `exclude`."""
        if not n or self.lo is None or self.hi is None:
            return []
        params = dict(self.params)
        if steps is not None:
            params.update(step_lo=steps[0], step_hi=steps[1])
        density = n / (self.hi - self.lo + 1)
        if n > SMALL_POOL and density >= MIN_DENSITY:
            chosen = self._draw_by_seq(k, exclude, density, params, steps is not None)
            if chosen is not None:
                return chosen
        statement = self.sql.ids if steps is None else self.sql.ids_steps
        ids = [r[0] for r in self._query(statement, params) if r[0] not in exclude]
        picked = self.rng.sample(ids, min(k, len(ids)))
        if not picked:
            return []
        found = {r[_ID]: r for r in self._query(*self.sql.by_id(picked))}
        return [found[i] for i in picked if i in found]

    def _draw_by_seq(
        self, k: int, exclude: set[int], density: float, params: dict[str, Any], steps: bool
    ) -> list[Row] | None:
        """Rejection sampling over seq; None when too many draws missed (then read all ids)."""
        assert self.lo is not None and self.hi is not None
        chosen: list[Row] = []
        taken: set[int] = set()
        seen: set[int] = set()
        for _ in range(ROUNDS):
            need = k - len(chosen)
            draws = min(MAX_DRAWS, math.ceil((1.25 * need + 2) / density))
            seqs = draw_distinct(self.rng, self.lo, self.hi, draws, seen)
            if not seqs:
                break
            found: dict[int, list[Row]] = {}
            for row in self._query(*self.sql.by_seq(params, seqs, steps)):
                found.setdefault(row[_SEQ], []).append(row)
            for seq in seqs:  # the draw order is the random order
                for row in found.get(seq, ()):
                    if row[_ID] not in exclude and row[_ID] not in taken:
                        taken.add(row[_ID])
                        chosen.append(row)
            if len(chosen) >= k:
                return chosen[:k]
        return None


def render_tasks(rows: Sequence[Row]) -> bytes:
    """The `SampleResponse` JSON of task rows, written directly (the stored JSON spliced in)."""
    return ('{"tasks":[' + ",".join(_task_json(r) for r in rows) + "]}").encode()


_dumps = json.dumps


def _task_json(r: Row) -> str:
    (id_, _seq, type_, program, inputs, outputs, meta, message, step, source, h, att, sol, ts) = r
    rate = _dumps(sol / att) if att else "null"
    created = ts if isinstance(ts, datetime) else datetime.fromisoformat(ts)
    if created.tzinfo is None:  # SQLite drops the zone; every timestamp we store is UTC
        created = created.replace(tzinfo=UTC)
    return (
        f'{{"id":{int(id_)},"type":{_dumps(type_)},"program":{_dumps(program)},'
        f'"inputs":{inputs},"outputs":{outputs},"message":{_dumps(message)},'
        f'"step":{int(step)},"source":{_dumps(source)},"metadata":{meta},'
        f'"content_hash":{_dumps(h)},"n_attempts":{int(att)},"n_solved":{int(sol)},'
        f'"solve_rate":{rate},"created_at":"{created.isoformat()}"}}'
    )
