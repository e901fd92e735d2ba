"""Database tables of the buffer. Rows never cross the wire: `repo` maps them to proto models.

- `runs`: one row per training run (a namespace), with its capacity and eviction policy.
- `pools`: one row per (run, type): the next dense sequence number, the number of tasks stored and
  the number ever offered (reservoir sampling). Writers lock this row, so inserts into one pool are
  serialized and counts never drift.
- `tasks`: the tasks. `seq` numbers the tasks of a pool densely, in insertion order; sampling draws
  random `seq` values instead of sorting a million rows by random().
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "PoolRow", "RunRow", "TaskRow"]

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the buffer tables."""


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    capacity: Mapped[int | None] = mapped_column(Integer)
    eviction: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class PoolRow(Base):
    __tablename__ = "pools"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    type: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_seq: Mapped[int] = mapped_column(BigInteger, default=1)
    n_tasks: Mapped[int] = mapped_column(BigInteger, default=0)
    n_offered: Mapped[int] = mapped_column(BigInteger, default=0)


class TaskRow(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("run_id", "type", "content_hash", name="uq_tasks_run_type_hash"),
        Index("ix_tasks_run_type_seq", "run_id", "type", "seq"),
        Index("ix_tasks_run_type_step", "run_id", "type", "step"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str] = mapped_column(String(64))
    program_hash: Mapped[str] = mapped_column(String(64))
    program: Mapped[str] = mapped_column(Text)
    inputs: Mapped[list[str]] = mapped_column(JSON)
    outputs: Mapped[list[str]] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)
    step: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    n_attempts: Mapped[int] = mapped_column(BigInteger, default=0)
    n_solved: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
