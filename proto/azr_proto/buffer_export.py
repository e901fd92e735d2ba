"""The buffer's export format (JSON Lines): what `GET /v1/runs/{run}/export` writes and
`POST /v1/runs/{run}/import` reads, and the rule that says whether an export is complete.

    {"kind":"run","format":2,"name":"run-1","capacity":16384,"eviction":"fifo"}
    {"kind":"task","id":1,"type":"deduction","program":"def f(a): ...",...}
    {"kind":"end","tasks":1}

The end line (format 2) counts the task lines since the header: an export that lacks it, or whose
count differs, was cut short (a dropped connection, a proxy, a partial copy). `BufferClient`
raises on such a stream instead of returning a partial checkpoint, and an import refuses it.
Format 1 (no end line) is still imported. Task lines without a header are imported too.
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from azr_proto.buffer import MAX_COUNT, EvictionPolicy, TaskIn

__all__ = [
    "EXPORT_FORMAT",
    "ExportEnd",
    "ExportHeader",
    "ExportTally",
    "ExportedTask",
    "ImportResponse",
    "LineKind",
    "dump_line",
    "line_kind",
]

EXPORT_FORMAT: Final = 2
LineKind = Literal["run", "task", "end"]


class ExportHeader(BaseModel):
    """First line of an export: the run's settings."""

    kind: Literal["run"] = "run"
    format: Literal[1, 2] = EXPORT_FORMAT
    name: str
    capacity: int | None
    eviction: EvictionPolicy


class ExportedTask(TaskIn):
    """One task line of an export, and of an import: the task plus its solve counts.

    On import, `content_hash` (when given) must match the content: a line that was edited by hand
    is rejected rather than stored under a stale key.
    """

    kind: Literal["task"] = "task"
    id: int | None = Field(default=None, description="id in the exported run; ignored on import")
    content_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    n_attempts: int = Field(default=0, ge=0, le=MAX_COUNT)
    n_solved: int = Field(default=0, ge=0, le=MAX_COUNT)

    @model_validator(mode="after")
    def _check_hash(self) -> ExportedTask:
        if self.content_hash is not None and self.content_hash != self.compute_hash():
            raise ValueError("content_hash does not match the task content")
        if self.n_solved > self.n_attempts:
            raise ValueError("n_solved is larger than n_attempts")
        return self


class ExportEnd(BaseModel):
    """Last line of a format-2 export: the number of task lines since the header."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["end"] = "end"
    tasks: int = Field(ge=0)


class ImportResponse(BaseModel):
    """Outcome of an import (same lists as an insert, but as counts)."""

    inserted: int
    duplicates: int
    discarded: int
    evicted: int


def dump_line(item: dict[str, Any]) -> str:
    """One line of an export, without its newline: compact, UTF-8 as is, standard JSON only
    (NaN and Infinity raise; `TaskIn` never accepts them)."""
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


_PREFIXES: list[tuple[bytes, LineKind]] = [
    (b'{"kind":"task"', "task"),
    (b'{"kind":"run"', "run"),
    (b'{"kind":"end"', "end"),
]


def line_kind(line: bytes) -> LineKind:
    """What a (non-blank) line is. Lines written by `dump_line` start with their kind and are not
    parsed; any other line is, and anything that is not an object with a known kind is a "task"
    (whose validation then says what is wrong with it)."""
    for prefix, kind in _PREFIXES:
        if line.startswith(prefix):
            return kind
    try:
        item = json.loads(line)
    except (ValueError, RecursionError):
        return "task"
    found = item.get("kind") if isinstance(item, dict) else None
    return found if found in ("run", "end") else "task"


class ExportTally:
    """Follows the lines of an export, in order, and raises `ValueError` where it is incomplete or
    out of order. The client (reading an export) and the service (importing one) both use it.

        tally = ExportTally()
        for line in lines:   # header(...), task(), end(...) as the lines come
            ...
        tally.finish()       # raises if the last export has no end line
    """

    def __init__(self) -> None:
        self.format: int | None = None  # of the last header seen
        self.tasks = 0  # task lines since the last header (or since the start)
        self.ended = False

    def header(self, header: ExportHeader) -> None:
        if self.format == 2 and not self.ended:
            raise ValueError(f"a header before the end line of the export above ({self._cut})")
        self.format, self.tasks, self.ended = header.format, 0, False

    def task(self) -> None:
        if self.ended:
            raise ValueError("a task line after the end line")
        self.tasks += 1

    def end(self, end: ExportEnd) -> None:
        if self.ended:
            raise ValueError("a second end line")
        if end.tasks != self.tasks:
            raise ValueError(
                f"the end line counts {end.tasks} tasks but {self.tasks} came before it: "
                "the export lost lines"
            )
        self.ended = True

    def finish(self) -> None:
        if self.format == 2 and not self.ended:
            raise ValueError(f"no end line ({self._cut})")

    @property
    def _cut(self) -> str:
        return f"the export was cut short after {self.tasks} tasks"
