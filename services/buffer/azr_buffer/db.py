"""Engine, sessions and migrations: SQLite (WAL file) by default, PostgreSQL by URL.

SQLite is opened in WAL mode with a busy timeout and foreign keys on. Its transactions are begun
explicitly: `BEGIN` for reads, `BEGIN IMMEDIATE` for writes (`write_session`), so a writer takes the
database write lock up front and never fails half-way when another process writes at the same time.
PostgreSQL runs at READ COMMITTED; writers lock their run row, then pool rows (the order is in
`repo`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from azr_buffer.sampling import SampleSql
from azr_buffer.settings import BufferSettings

__all__ = ["Database", "migrate"]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_WRITE = "azr_write"


class Database:
    """One engine and session factory per process."""

    def __init__(self, settings: BufferSettings) -> None:
        self.url = make_url(settings.database_url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine = _create_engine(settings, self.is_sqlite)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self.sample_sql = SampleSql(self.engine.dialect.name)

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reads; its transaction ends (rolled back) on exit."""
        with self._sessions() as session:
            yield session

    @contextmanager
    def snapshot_session(self) -> Iterator[Session]:
        """A read session whose statements all see one snapshot of the database, so a long read
        (an export) is consistent even while other requests write or delete: SQLite's read
        transaction in WAL mode is one already; PostgreSQL gets REPEATABLE READ, READ ONLY."""
        with self._sessions() as session:
            if not self.is_sqlite:
                session.connection(
                    execution_options={
                        "isolation_level": "REPEATABLE READ",
                        "postgresql_readonly": True,
                    }
                )
            yield session

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any exception: all or nothing."""
        with self._sessions() as session, session.begin():
            session.connection(execution_options={_WRITE: True})
            yield session

    @contextmanager
    def raw_read(self) -> Iterator[Any]:
        """A DBAPI cursor for the read hot path (sampling), outside any ORM session.

        Each statement runs in autocommit (its own snapshot): the sampler's statements tolerate
        writes between them. DBAPI errors come out as SQLAlchemy's (`OperationalError` -> 503),
        and a connection the database dropped is discarded, not returned to the pool.
        """
        conn = self.engine.raw_connection()
        dbapi_conn: Any = conn.driver_connection
        dbapi = self.engine.dialect.loaded_dbapi
        try:
            if not self.is_sqlite:  # psycopg: no BEGIN/ROLLBACK round trips around the reads
                dbapi_conn.autocommit = True
            cursor = conn.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
        except dbapi.Error as exc:
            if self.engine.dialect.is_disconnect(exc, dbapi_conn, None):
                conn.invalidate(exc)
            raise DBAPIError.instance(None, None, exc, dbapi.Error) from exc
        finally:
            if not self.is_sqlite and conn.is_valid:
                try:  # back to the pool as it came out
                    dbapi_conn.autocommit = False
                except dbapi.Error as exc:
                    conn.invalidate(exc)
            conn.close()

    def ping(self) -> None:
        """Raise unless the database answers."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def _create_engine(settings: BufferSettings, is_sqlite: bool) -> Engine:
    url = make_url(settings.database_url)
    if not is_sqlite:
        return create_engine(
            url,
            pool_size=settings.pool_size,
            max_overflow=settings.pool_size,
            pool_timeout=settings.pool_timeout_s,
            pool_pre_ping=True,
            # Plain executemany (psycopg pipelines it) instead of one huge multi-VALUES statement
            # that psycopg re-parses for every batch.
            use_insertmanyvalues=False,
        )
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={
            "check_same_thread": False,
            "timeout": settings.sqlite_busy_timeout_ms / 1000,
        },
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_timeout=settings.pool_timeout_s,
        use_insertmanyvalues=False,
    )
    busy_ms = settings.sqlite_busy_timeout_ms
    cache_kib = settings.sqlite_cache_mb * 1024
    mmap_bytes = settings.sqlite_mmap_mb * 1024 * 1024

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module: we emit BEGIN ourselves.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        # NORMAL in WAL mode: a commit survives a crash of the process (SIGKILL included); only
        # an OS crash or power loss can lose the last transactions.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
        cur.execute(f"PRAGMA mmap_size={int(mmap_bytes)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def migrate(database_url: str) -> None:
    """Bring the schema to the newest Alembic revision. Safe to call from several processes."""
    settings = BufferSettings(database_url=database_url, migrate_on_start=False)
    db = Database(settings)
    try:
        with db.engine.connect() as conn:
            conn = conn.execution_options(**{_WRITE: True})
            with conn.begin():
                if not db.is_sqlite:
                    # Serialize concurrent migrators (several workers starting at once).
                    conn.execute(text("SELECT pg_advisory_xact_lock(724501)"))
                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS_DIR))
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
    finally:
        db.dispose()
    logger.info("database migrated url=%s", make_url(database_url).render_as_string())
