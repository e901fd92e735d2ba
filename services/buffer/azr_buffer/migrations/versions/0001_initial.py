"""Initial schema: runs, pools, tasks.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("eviction", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "pools",
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("type", sa.String(16), primary_key=True),
        sa.Column("next_seq", sa.BigInteger(), nullable=False),
        sa.Column("n_tasks", sa.BigInteger(), nullable=False),
        sa.Column("n_offered", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "tasks",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("program_hash", sa.String(64), nullable=False),
        sa.Column("program", sa.Text(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("n_attempts", sa.BigInteger(), nullable=False),
        sa.Column("n_solved", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("run_id", "type", "content_hash", name="uq_tasks_run_type_hash"),
        # Never reuse the id of a deleted task: clients keep ids (exclude lists, outcomes).
        sqlite_autoincrement=True,
    )
    op.create_index("ix_tasks_run_type_seq", "tasks", ["run_id", "type", "seq"])
    op.create_index("ix_tasks_run_type_step", "tasks", ["run_id", "type", "step"])


def downgrade() -> None:
    op.drop_table("tasks")
    op.drop_table("pools")
    op.drop_table("runs")
