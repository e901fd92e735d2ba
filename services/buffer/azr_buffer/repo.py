"""Reads and writes of runs and tasks. Every function takes the request's `session=` (keyword-only);
writers expect a `Database.write_session()`, so a batch is stored all or nothing.

Lock order (PostgreSQL; SQLite's writers hold the whole database): a writer first locks its run
row with `get_run(lock=...)`, then pool rows in type order (`lock_pool`), and changes the tasks of
a pool only while it holds that pool. Writers of tasks (insert, outcomes) share the run; writers
of the whole run (delete, truncate, import) hold it alone. So no writer finds its run or a task
gone half-way (a delete waits for them, and they find no run after it), and none deadlocks.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from azr_proto.buffer import (
    MAX_COUNT,
    EvictionPolicy,
    InsertedTask,
    InsertResponse,
    OutcomeRecord,
    OutcomesResponse,
    Run,
    RunCreate,
    RunStats,
    StepCount,
    Task,
    TaskIn,
    TaskSource,
    TruncateResponse,
    TypeStats,
)
from azr_proto.buffer_export import ExportedTask
from azr_proto.tasks import TaskType
from sqlalchemy import Table, delete, func, literal_column, select, text, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from azr_buffer.errors import BadInput, RunExists, RunNotFound
from azr_buffer.tables import PoolRow, RunRow, TaskRow

_TASKS: Table = TaskRow.__table__  # type: ignore[assignment]

__all__ = [
    "create_run",
    "delete_run",
    "get_run",
    "get_run_id",
    "get_task",
    "import_tasks",
    "insert_tasks",
    "list_runs",
    "lock_pool",
    "record_outcomes",
    "refresh_planner_stats",
    "run_stats",
    "to_run",
    "to_task",
    "truncate_run",
]

_LOW_BITS = 24  # see run_stats
_CHUNK = 500  # bound parameters per IN (...) list: far below every dialect's limit


def _aware(value: datetime) -> datetime:
    # SQLite drops the zone on the way back; every timestamp we store is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def to_run(row: RunRow) -> Run:
    """The wire model of a run row."""
    return Run(
        name=row.name,
        capacity=row.capacity,
        eviction=EvictionPolicy(row.eviction),
        created_at=_aware(row.created_at),
    )


def to_task(row: TaskRow) -> Task:
    """The wire model of a task row."""
    return Task(
        id=row.id,
        type=TaskType(row.type),
        program=row.program,
        inputs=row.inputs,
        outputs=row.outputs,
        message=row.message,
        step=row.step,
        source=TaskSource(row.source),
        metadata=row.meta,
        content_hash=row.content_hash,
        n_attempts=row.n_attempts,
        n_solved=row.n_solved,
        solve_rate=row.n_solved / row.n_attempts if row.n_attempts else None,
        created_at=_aware(row.created_at),
    )


# -- runs ---------------------------------------------------------------------------------------


def create_run(*, session: Session, req: RunCreate) -> RunRow:
    """Create a run and its three pools. Raises `RunExists` when the name is taken."""
    if session.scalar(select(RunRow.id).where(RunRow.name == req.name)) is not None:
        raise RunExists(req.name)
    row = RunRow(name=req.name, capacity=req.capacity, eviction=str(req.eviction))
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent create won the race (PostgreSQL)
        raise RunExists(req.name) from exc
    for type_ in TaskType:
        session.add(PoolRow(run_id=row.id, type=str(type_), next_seq=1, n_tasks=0, n_offered=0))
    session.flush()
    return row


def list_runs(*, session: Session) -> list[RunRow]:
    """All runs, oldest first."""
    return list(session.scalars(select(RunRow).order_by(RunRow.id)))


RunLock = Literal["shared", "exclusive"]


def get_run(*, session: Session, name: str, lock: RunLock | None = None) -> RunRow:
    """The run named `name`; raises `RunNotFound`. `lock` (for writers, see the module) holds
    the run row until the transaction ends: "shared" by writers of tasks, "exclusive" by writers
    of the whole run. A run deleted while the lock was awaited is not found."""
    query = select(RunRow).where(RunRow.name == name)
    if lock is not None:  # FOR KEY SHARE / FOR UPDATE; SQLite ignores both
        query = query.with_for_update(read=lock == "shared", key_share=lock == "shared")
    row = session.scalar(query.execution_options(populate_existing=True))
    if row is None:
        raise RunNotFound(name)
    return row


def get_run_id(*, session: Session, name: str) -> int:
    """The id of the run named `name` (one index lookup); raises `RunNotFound`."""
    run_id = session.scalar(select(RunRow.id).where(RunRow.name == name))
    if run_id is None:
        raise RunNotFound(name)
    return run_id


def delete_run(*, session: Session, name: str) -> None:
    """Delete a run with all its tasks (waits for the writers of the run to finish)."""
    run = get_run(session=session, name=name, lock="exclusive")
    # Explicit deletes instead of relying on ON DELETE CASCADE being enabled on the connection.
    session.execute(delete(TaskRow).where(TaskRow.run_id == run.id))
    session.execute(delete(PoolRow).where(PoolRow.run_id == run.id))
    session.execute(delete(RunRow).where(RunRow.id == run.id))


def get_task(*, session: Session, run: RunRow, task_id: int) -> TaskRow | None:
    """One task of the run, or None."""
    return session.scalar(select(TaskRow).where(TaskRow.run_id == run.id, TaskRow.id == task_id))


# -- inserts ------------------------------------------------------------------------------------


def lock_pool(*, session: Session, run_id: int, type_: str) -> PoolRow:
    """Lock the pool row of (run, type) until the transaction ends (SQLite: the write lock is
    already held since BEGIN IMMEDIATE)."""
    pool = session.scalar(
        select(PoolRow)
        .where(PoolRow.run_id == run_id, PoolRow.type == type_)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if pool is None:  # pools are created with their run; a missing one is a broken database
        raise LookupError(f"pool ({run_id}, {type_}) is missing")
    return pool


def _existing_ids(
    session: Session, run_id: int, type_: str, hashes: Sequence[str]
) -> dict[str, int]:
    found: dict[str, int] = {}
    for i in range(0, len(hashes), _CHUNK):
        chunk = hashes[i : i + _CHUNK]
        rows = session.execute(
            select(TaskRow.content_hash, TaskRow.id).where(
                TaskRow.run_id == run_id, TaskRow.type == type_, TaskRow.content_hash.in_(chunk)
            )
        )
        found.update({h: id_ for h, id_ in rows})
    return found


def _existing_ids_with_seq(
    session: Session, run_id: int, type_: str, hashes: Sequence[str]
) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    for i in range(0, len(hashes), _CHUNK):
        rows = session.execute(
            select(TaskRow.content_hash, TaskRow.id, TaskRow.seq).where(
                TaskRow.run_id == run_id,
                TaskRow.type == type_,
                TaskRow.content_hash.in_(hashes[i : i + _CHUNK]),
            )
        )
        found.update({h: (id_, seq) for h, id_, seq in rows})
    return found


def _program_hash(program: str) -> str:
    return hashlib.sha256(program.encode("utf-8")).hexdigest()


def _row_values(
    run_id: int, seq: int, task: TaskIn, content_hash: str, now: datetime
) -> dict[str, Any]:
    exported = task if isinstance(task, ExportedTask) else None
    return {
        "run_id": run_id,
        "type": str(task.type),
        "seq": seq,
        "content_hash": content_hash,
        "program_hash": _program_hash(task.program),
        "program": task.program,
        "inputs": task.inputs,
        "outputs": task.outputs,
        "message": task.message,
        "step": task.step,
        "source": str(task.source),
        "metadata": task.metadata,
        "n_attempts": exported.n_attempts if exported else 0,
        "n_solved": exported.n_solved if exported else 0,
        "created_at": now,
    }


_INSERT_COLUMNS = (
    "run_id",
    "type",
    "seq",
    "content_hash",
    "program_hash",
    "program",
    "inputs",
    "outputs",
    "message",
    "step",
    "source",
    "metadata",
    "n_attempts",
    "n_solved",
    "created_at",
)
_JSON_COLUMNS = {"inputs", "outputs", "metadata"}


def _insert_sql(dialect: str) -> str:
    if dialect == "postgresql":
        marks = ", ".join("%s::json" if c in _JSON_COLUMNS else "%s" for c in _INSERT_COLUMNS)
    else:
        marks = ", ".join("?" for _ in _INSERT_COLUMNS)
    return (
        f"INSERT INTO tasks ({', '.join(_INSERT_COLUMNS)}) VALUES ({marks})"
        " ON CONFLICT (run_id, type, content_hash) DO NOTHING"
    )


_INSERT_SQL = {d: _insert_sql(d) for d in ("sqlite", "postgresql")}


def _same(value: Any) -> Any:
    return value


def _insert_rows(
    session: Session, rows: list[dict[str, Any]], *, want_ids: bool = True
) -> dict[str, int] | None:
    """INSERT ... ON CONFLICT DO NOTHING; returns content_hash -> id of the rows inserted, or None
    when `want_ids` is false and every row was inserted.

    One plain executemany of driver SQL, the JSON columns serialized here: no per-row type
    processing by SQLAlchemy, no RETURNING (psycopg pipelines the batch, SQLite reuses one prepared
    statement). The ids come back from one lookup by hash under the pool lock.
    """
    if not rows:
        return {}
    conn = session.connection()
    # SQLite stores timestamps as text in SQLAlchemy's format: let the column type write it.
    stamp = _TASKS.c.created_at.type.bind_processor(conn.dialect) or _same
    dumps = json.dumps  # what SQLAlchemy's JSON type would store
    params = [
        (
            r["run_id"],
            r["type"],
            r["seq"],
            r["content_hash"],
            r["program_hash"],
            r["program"],
            dumps(r["inputs"]),
            dumps(r["outputs"]),
            r["message"],
            r["step"],
            r["source"],
            dumps(r["metadata"]),
            r["n_attempts"],
            r["n_solved"],
            stamp(r["created_at"]),
        )
        for r in rows
    ]
    result = conn.exec_driver_sql(_INSERT_SQL[conn.dialect.name], params)
    if not want_ids and result.rowcount == len(rows):
        return None
    run_id, type_ = rows[0]["run_id"], rows[0]["type"]
    seqs = {r["content_hash"]: r["seq"] for r in rows}
    found = _existing_ids_with_seq(session, run_id, type_, list(seqs))
    # A row whose hash is stored under another seq was a conflict, not ours.
    return {h: id_ for h, (id_, seq) in found.items() if seqs[h] == seq}


def insert_tasks(
    *, session: Session, run: RunRow, tasks: Sequence[TaskIn], rng: random.Random
) -> InsertResponse:
    """Insert a batch with deduplication, capacity and eviction, in the caller's transaction.

    Pools are locked in a fixed order (by type name), so concurrent batches cannot deadlock.
    """
    res = _insert_batch(session, run, tasks, rng, want_ids=True)
    inserted = [InsertedTask(index=i, id=id_) for i, id_ in res.inserted if id_ is not None]
    return InsertResponse(
        inserted=inserted,
        duplicates=[InsertedTask(index=i, id=id_) for i, id_ in res.duplicates],
        discarded=res.discarded,
        evicted=res.evicted,
    )


def import_tasks(
    *, session: Session, run: RunRow, tasks: Sequence[TaskIn], rng: random.Random
) -> tuple[int, int, int, int]:
    """`insert_tasks` for a bulk import, which needs counts, not ids (spares a lookup per batch):
    (inserted, duplicates, discarded, evicted)."""
    res = _insert_batch(session, run, tasks, rng, want_ids=False)
    return len(res.inserted), len(res.duplicates), len(res.discarded), res.evicted


@dataclass
class _Batch:
    inserted: list[tuple[int, int | None]] = field(default_factory=list)  # (index, id)
    duplicates: list[tuple[int, int]] = field(default_factory=list)
    discarded: list[int] = field(default_factory=list)
    evicted: int = 0


def _insert_batch(
    session: Session, run: RunRow, tasks: Sequence[TaskIn], rng: random.Random, *, want_ids: bool
) -> _Batch:
    by_type: dict[str, list[tuple[int, TaskIn, str]]] = defaultdict(list)
    for index, task in enumerate(tasks):
        by_type[str(task.type)].append((index, task, task.compute_hash()))
    out = _Batch()
    duplicates, discarded = out.duplicates, out.discarded
    now = datetime.now(UTC)
    for type_ in sorted(by_type):
        items = by_type[type_]
        pool = lock_pool(session=session, run_id=run.id, type_=type_)
        # The pool's counters as plain ints while the batch is worked out; stored once at the end.
        next_seq, n_tasks, n_offered = pool.next_seq, pool.n_tasks, pool.n_offered
        existing = _existing_ids(session, run.id, type_, sorted({h for _, _, h in items}))
        first_index: dict[str, int] = {}
        later: list[tuple[int, str]] = []  # repeats within the batch: resolved after the insert
        accepted: dict[int, tuple[int, TaskIn, str]] = {}  # seq -> item
        victims: list[int] = []  # seqs of stored tasks that reservoir sampling replaces
        for index, task, h in items:
            if h in existing:
                duplicates.append((index, existing[h]))
                continue
            if h in first_index:
                later.append((index, h))
                continue
            first_index[h] = index
            n_offered += 1
            if run.capacity is None or n_tasks < run.capacity or run.eviction == "fifo":
                accepted[next_seq] = (index, task, h)
                next_seq += 1
                n_tasks += 1
                continue
            # Reservoir (Algorithm R): keep the n-th offered task with probability capacity/n, in
            # the place of a uniformly chosen one. Slot j is the task with seq j+1: a reservoir
            # pool only ever replaces in place, and truncation renumbers it from 1.
            slot = rng.randrange(n_offered)
            if slot >= run.capacity:
                discarded.append(index)
                continue
            seq = slot + 1
            if seq in accepted:  # replaces a task of this same batch: that one is never stored
                discarded.append(accepted[seq][0])
            else:
                victims.append(seq)
            accepted[seq] = (index, task, h)
        victims_deleted = 0
        if victims:
            for i in range(0, len(victims), _CHUNK):
                result = session.execute(
                    delete(TaskRow).where(
                        TaskRow.run_id == run.id,
                        TaskRow.type == type_,
                        TaskRow.seq.in_(victims[i : i + _CHUNK]),
                    )
                )
                victims_deleted += int(result.rowcount)  # type: ignore[attr-defined]
            out.evicted += victims_deleted
        rows = [_row_values(run.id, seq, t, h, now) for seq, (_, t, h) in accepted.items()]
        ids = _insert_rows(session, rows, want_ids=want_ids or bool(later))
        if ids is None:  # every accepted row was inserted; ids not wanted
            out.inserted.extend((i, None) for i, _, _ in accepted.values())
        else:
            lost = [(i, h) for _, (i, _, h) in accepted.items() if h not in ids]
            if lost:  # only if a row slipped past the pool lock: report it as the duplicate it is
                n_tasks -= len(lost)
                ids_now = _existing_ids(session, run.id, type_, [h for _, h in lost])
                duplicates.extend((i, ids_now[h]) for i, h in lost)
            out.inserted.extend((i, ids[h]) for _, (i, _, h) in accepted.items() if h in ids)
            all_ids = {**existing, **ids}
            duplicates.extend((i, all_ids[h]) for i, h in later if h in all_ids)
            discarded.extend(i for i, h in later if h not in all_ids)
        # A replacement keeps the count; a victim seq that was a gap adds a task.
        n_tasks += len(victims) - victims_deleted
        if run.eviction == "fifo" and run.capacity is not None and n_tasks > run.capacity:
            out.evicted += _evict_oldest(session, run.id, type_, n_tasks - run.capacity)
            n_tasks = run.capacity
        pool.next_seq, pool.n_tasks, pool.n_offered = next_seq, n_tasks, n_offered
    session.flush()
    out.inserted.sort()
    duplicates.sort()
    discarded.sort()
    return out


def refresh_planner_stats(*, session: Session) -> None:
    """PostgreSQL: ANALYZE the tasks table from inside the caller's transaction (which counts
    the rows it inserted itself). A run that grows inside one transaction (an import) is invisible
    to autovacuum until it commits: the planner then takes the run for nearly empty and looks up
    content hashes by scanning the run's (run, type) index range instead of probing the unique
    index, so the import gets quadratic. SQLite's planner needs no statistics for this."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE tasks"))


def _evict_oldest(session: Session, run_id: int, type_: str, n: int) -> int:
    oldest = (
        select(TaskRow.id)
        .where(TaskRow.run_id == run_id, TaskRow.type == type_)
        .order_by(TaskRow.seq)
        .limit(n)
        .scalar_subquery()
    )
    result = session.execute(delete(TaskRow).where(TaskRow.id.in_(oldest)))
    return int(result.rowcount)  # type: ignore[attr-defined]


# -- outcomes, stats, truncation ----------------------------------------------------------------


def record_outcomes(
    *, session: Session, run: RunRow, outcomes: Iterable[OutcomeRecord]
) -> OutcomesResponse:
    """Add solve attempts to the running counts of each task. Holds every pool of the run (in
    type order), so no task is evicted or truncated between the lookup and the update."""
    session.execute(
        select(PoolRow.type)
        .where(PoolRow.run_id == run.id)
        .order_by(PoolRow.type)
        .with_for_update()
    ).all()
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for o in outcomes:
        totals[o.task_id][0] += o.n_attempts
        totals[o.task_id][1] += o.n_solved
    ids = sorted(totals)
    present: set[int] = set()
    for i in range(0, len(ids), _CHUNK):
        present.update(
            session.scalars(
                select(TaskRow.id).where(
                    TaskRow.run_id == run.id, TaskRow.id.in_(ids[i : i + _CHUNK])
                )
            )
        )
    for task_id in sorted(present):
        attempts, solved = totals[task_id]
        done: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(TaskRow)
            .where(TaskRow.id == task_id, TaskRow.n_attempts <= MAX_COUNT - attempts)
            .values(n_attempts=TaskRow.n_attempts + attempts, n_solved=TaskRow.n_solved + solved)
        )
        if not done.rowcount:  # the task is there (see above): over the bound. (n_solved too)
            raise BadInput(f"task {task_id}: its attempts would pass {MAX_COUNT}; nothing recorded")
    return OutcomesResponse(updated=len(present), missing=[i for i in ids if i not in present])


def run_stats(*, session: Session, run: RunRow) -> RunStats:
    """Counts per type and per (step, type), distinct programs, solve totals."""
    by_type = {
        t: TypeStats(count=0, distinct_programs=0, n_attempts=0, n_solved=0) for t in TaskType
    }
    # Each count is at most 2^53, but their sum can pass 64 bits, where SQLite's SUM fails: sum
    # the high and low bits apart (exact for 2^34 tasks a type) and add them up here.
    sums = [
        func.coalesce(func.sum(part), 0)
        for column in (TaskRow.n_attempts, TaskRow.n_solved)
        for part in (
            column.op(">>")(literal_column(str(_LOW_BITS))),  # PostgreSQL: bigint >> integer
            column.op("&")(literal_column(str((1 << _LOW_BITS) - 1))),
        )
    ]
    rows = session.execute(
        select(
            TaskRow.type,
            func.count(),
            func.count(func.distinct(TaskRow.program_hash)),
            *sums,
        )
        .where(TaskRow.run_id == run.id)
        .group_by(TaskRow.type)
    )
    for type_, count, programs, att_high, att_low, sol_high, sol_low in rows:
        by_type[TaskType(type_)] = TypeStats(
            count=count,
            distinct_programs=programs,
            n_attempts=(int(att_high) << _LOW_BITS) + int(att_low),
            n_solved=(int(sol_high) << _LOW_BITS) + int(sol_low),
        )
    steps = session.execute(
        select(TaskRow.step, TaskRow.type, func.count())
        .where(TaskRow.run_id == run.id)
        .group_by(TaskRow.step, TaskRow.type)
        .order_by(TaskRow.step, TaskRow.type)
    )
    by_step = [StepCount(step=s, type=TaskType(t), count=c) for s, t, c in steps]
    total = sum(s.count for s in by_type.values())
    return RunStats(run=run.name, total=total, by_type=by_type, by_step=by_step)


def truncate_run(*, session: Session, run: RunRow, step: int) -> TruncateResponse:
    """Delete the tasks added after `step`; renumber a pool whose sequence got gaps."""
    deleted = 0
    for type_ in sorted(str(t) for t in TaskType):
        pool = lock_pool(session=session, run_id=run.id, type_=type_)
        result = session.execute(
            delete(TaskRow).where(
                TaskRow.run_id == run.id, TaskRow.type == type_, TaskRow.step > step
            )
        )
        deleted += int(result.rowcount)  # type: ignore[attr-defined]
        count, lo, hi = session.execute(
            select(func.count(), func.min(TaskRow.seq), func.max(TaskRow.seq)).where(
                TaskRow.run_id == run.id, TaskRow.type == type_
            )
        ).one()
        pool.n_tasks = count
        pool.n_offered = max(pool.n_offered, count)
        if count == 0:
            pool.next_seq = 1
            continue
        gaps = hi - lo + 1 != count
        if gaps or (run.eviction == "reservoir" and lo != 1):
            _renumber(session, run.id, type_)
            pool.next_seq = count + 1
        else:
            pool.next_seq = hi + 1
    session.flush()
    return TruncateResponse(deleted=deleted)


def _renumber(session: Session, run_id: int, type_: str) -> None:
    # UPDATE ... FROM works on PostgreSQL and SQLite >= 3.33; seq is not unique, so the
    # intermediate states of the update cannot collide.
    session.execute(
        text(
            "UPDATE tasks SET seq = r.rn FROM ("
            " SELECT id, row_number() OVER (ORDER BY seq, id) AS rn FROM tasks"
            " WHERE run_id = :run_id AND type = :type) AS r "
            "WHERE tasks.id = r.id"
        ),
        {"run_id": run_id, "type": type_},
    )
