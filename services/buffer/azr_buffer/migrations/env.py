"""Alembic environment of the buffer: runs on the connection `azr_buffer.db.migrate` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from azr_buffer.tables import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # `alembic -x url=...` from the command line, for writing new revisions
    url = context.get_x_argument(as_dictionary=True)["url"]
    with create_engine(url).connect() as conn, conn.begin():
        _run(conn)
