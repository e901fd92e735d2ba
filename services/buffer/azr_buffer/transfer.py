"""Export a run as JSON Lines (streamed) and import it back.

The format is `azr_proto.buffer_export`'s: a header line, one line per task (per type in insertion
order), and an end line with the task count. An export reads one snapshot of the database, so a
run deleted or written while it streams is exported whole, as it was when the export began.
Importing keeps content, hashes, steps, sources, metadata and solve counts; ids are assigned anew.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Generator, Iterator
from typing import IO

from azr_proto.buffer import MAX_ID, EvictionPolicy, TaskIn
from azr_proto.buffer_export import (
    ExportedTask,
    ExportEnd,
    ExportHeader,
    ExportTally,
    ImportResponse,
    dump_line,
    line_kind,
)
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from azr_buffer import repo
from azr_buffer.db import Database
from azr_buffer.errors import BadInput
from azr_buffer.tables import RunRow, TaskRow

__all__ = ["export_lines", "import_lines"]

EXPORT_BATCH = 2000
IMPORT_BATCH = 2000
ANALYZE_FIRST = 20_000  # see repo.refresh_planner_stats
# An import line may be this much longer than a request body: room for what an export adds to a
# task (its id, hash, counts; numbers written out in full: metadata is at most 64 KiB of them).
LINE_SLACK = 1 << 20
_LIMIT = "AZR_BUFFER_MAX_BODY_BYTES + 1 MiB"

_COLUMNS = (
    TaskRow.id,
    TaskRow.type,
    TaskRow.program,
    TaskRow.inputs,
    TaskRow.outputs,
    TaskRow.message,
    TaskRow.step,
    TaskRow.source,
    TaskRow.meta,
    TaskRow.content_hash,
    TaskRow.n_attempts,
    TaskRow.n_solved,
)


def export_lines(
    db: Database, run_name: str, done: Callable[[], None]
) -> Generator[bytes, None, None]:
    """The export of a run, in chunks of whole lines, from one snapshot of the database; `done()`
    is called when the generator ends, however it ends (closed by a client that went away too).

    The first `next()` opens the snapshot and returns the header, or raises `RunNotFound`: call it
    before the response starts, so a missing run is a 404 and not a broken stream.
    """
    try:
        yield from _export(db, run_name)
    finally:
        done()


def _export(db: Database, run_name: str) -> Iterator[bytes]:
    with db.snapshot_session() as session:
        run = repo.get_run(session=session, name=run_name)
        header = ExportHeader(
            name=run.name, capacity=run.capacity, eviction=EvictionPolicy(run.eviction)
        )
        yield header.model_dump_json().encode() + b"\n"
        rows = session.execute(
            select(*_COLUMNS)
            .where(TaskRow.run_id == run.id)
            .order_by(TaskRow.type, TaskRow.seq)
            .execution_options(yield_per=EXPORT_BATCH)
        )
        chunk: list[str] = []
        n_tasks = 0
        for id_, type_, program, inputs, outputs, message, step, source, meta, h, att, sol in rows:
            line = {
                "kind": "task",
                "id": id_,
                "type": type_,
                "program": program,
                "inputs": inputs,
                "outputs": outputs,
                "message": message,
                "step": step,
                "source": source,
                "metadata": meta,
                "content_hash": h,
                "n_attempts": att,
                "n_solved": sol,
            }
            chunk.append(dump_line(line))
            n_tasks += 1
            if len(chunk) >= EXPORT_BATCH:
                yield ("\n".join(chunk) + "\n").encode()
                chunk = []
        chunk.append(ExportEnd(tasks=n_tasks).model_dump_json())
        yield ("\n".join(chunk) + "\n").encode()


def import_lines(
    db: Database, run_name: str, lines: IO[bytes], rng: random.Random, max_body_bytes: int
) -> ImportResponse:
    """Insert every task line into an existing run, in one transaction: a malformed line or an
    incomplete export (422) leaves the run as it was. Tasks already in the run count as
    duplicates.

    A line may be `max_body_bytes` + `LINE_SLACK` long (422 past it, found before the line is
    read whole). Any task that an insert (a body of at most `max_body_bytes`) or a line of at most
    `max_body_bytes` stores exports to a shorter line; a longer line is taken only if its task's
    export line fits too. So whatever an import takes, its export imports back.
    """
    totals = ImportResponse(inserted=0, duplicates=0, discarded=0, evicted=0)
    tally = ExportTally()
    max_line = max_body_bytes + LINE_SLACK
    read = functools.partial(lines.readline, max_line + 2)  # room for the line's \r\n
    with db.write_session() as session:
        run = repo.get_run(session=session, name=run_name, lock="exclusive")
        batch: list[TaskIn] = []
        analyze_at = ANALYZE_FIRST
        number = 0
        for number, raw in enumerate(iter(read, b""), start=1):
            if len(raw.strip()) > max_line or (len(raw) == max_line + 2 and raw[-1:] != b"\n"):
                raise BadInput(f"line {number}: over {max_line} bytes ({_LIMIT})")
            if not raw.strip():
                continue
            task = _parse_line(number, raw, tally)
            if task is not None:
                if len(raw) > max_body_bytes:
                    _check_export_fits(number, task, max_line)
                batch.append(task)
            if len(batch) >= IMPORT_BATCH:
                _insert(session, run, batch, rng, totals)
                batch = []
                if totals.inserted >= analyze_at:  # at 20k, 40k, 80k... inserted: log2(n) times
                    repo.refresh_planner_stats(session=session)
                    analyze_at *= 2
        _check(number + 1, tally.finish)
        if batch:
            _insert(session, run, batch, rng, totals)
    return totals


def _check_export_fits(number: int, task: TaskIn, max_line: int) -> None:
    # The task's export line, with the longest id: its numbers and strings may come out longer
    # than this line wrote them (1e22 is 1e+22), and it must import back.
    line = dump_line({**task.model_dump(mode="json"), "id": MAX_ID, "content_hash": "0" * 64})
    size = len(line.encode())
    if size > max_line:
        raise BadInput(
            f"line {number}: its task would export to a line of {size} bytes, over the "
            f"{max_line} an import takes ({_LIMIT}): it could not be imported back"
        )


def _parse_line(number: int, raw: bytes, tally: ExportTally) -> TaskIn | None:
    """The task on a line; None for a header or an end line (validated and counted)."""
    raw = raw.strip()
    try:
        kind = line_kind(raw)
        if kind == "task":
            task = ExportedTask.model_validate_json(raw)
            _check(number, tally.task)
            return task
        if kind == "run":
            header = ExportHeader.model_validate_json(raw)
            _check(number, lambda: tally.header(header))
        else:
            end = ExportEnd.model_validate_json(raw)
            _check(number, lambda: tally.end(end))
        return None
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise BadInput(f"line {number}: {errors}") from exc


def _check(number: int, step: Callable[[], None]) -> None:
    try:
        step()
    except ValueError as exc:
        raise BadInput(f"line {number}: {exc}") from exc


def _insert(
    session: Session, run: RunRow, batch: list[TaskIn], rng: random.Random, totals: ImportResponse
) -> None:
    inserted, duplicates, discarded, evicted = repo.import_tasks(
        session=session, run=run, tasks=batch, rng=rng
    )
    totals.inserted += inserted
    totals.duplicates += duplicates
    totals.discarded += discarded
    totals.evicted += evicted
