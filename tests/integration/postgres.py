"""A private, throwaway PostgreSQL server for the tests: never the system cluster.

`shared_server()` starts one per test process (initdb into a temp dir, pg_ctl on a free port,
stopped at exit). When Debian's `postgresql` package is missing it is installed with apt-get; when
that is impossible the tests fail with the reason, they are never skipped.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from ports import free_port

__all__ = ["PostgresServer", "fresh_database_url", "shared_server"]


@dataclass
class PostgresServer:
    """A running cluster; `url(db)` is a SQLAlchemy URL for database `db`."""

    bindir: Path
    datadir: Path
    port: int
    user: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, template: str = "template1") -> str:
        """A new database copied from `template` (empty by default); returns its name."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        dsn = f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def stop(self) -> None:
        _run_as(
            self.user,
            [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"],
            check=False,
        )
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


_server: PostgresServer | None = None


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _install() -> Path:
    bindir = _bindir()
    if bindir is not None:
        return bindir
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError(
            "PostgreSQL is not installed and cannot be installed here (needs root and apt-get): "
            "install Debian's `postgresql` package to run the buffer's PostgreSQL tests"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(
                f"`{' '.join(cmd)}` failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
            )
    bindir = _bindir()
    if bindir is None:
        raise RuntimeError("apt-get installed postgresql but no initdb was found")
    return bindir


def _run_as(user: str, cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0 and user != "root":
        pw = pwd.getpwnam(user)

        def demote() -> None:
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)

        proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=demote, cwd="/tmp")
    else:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def start_server(fsync: bool = False) -> PostgresServer:
    """Install if needed, initdb and start a new cluster (fsync off unless asked: see below)."""
    bindir = _install()
    # initdb refuses to run as root: the cluster belongs to the `postgres` user.
    user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    root = Path(tempfile.mkdtemp(prefix="azr-pg-"))
    datadir = root / "data"
    if os.geteuid() == 0:
        pw = pwd.getpwnam(user)
        os.chown(root, pw.pw_uid, pw.pw_gid)
    _run_as(
        user,
        [
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            user,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
    )
    port = free_port()
    # fsync off: the tests kill the *service*, never the PostgreSQL server or the machine, so
    # durability against power loss is not what they check; it makes CREATE DATABASE fast.
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=300" + (
        "" if fsync else " -c fsync=off -c full_page_writes=off"
    )
    _run_as(
        user,
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(datadir),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
    )
    return PostgresServer(bindir=bindir, datadir=datadir, port=port, user=user)


def shared_server() -> PostgresServer:
    """The test process's server, started on first use and stopped at exit."""
    global _server
    if _server is None:
        _server = start_server()
        atexit.register(_server.stop)
    return _server


_migrated_template: str | None = None


def fresh_database_url(migrated: bool = True) -> str:
    """A URL to a new database on the shared server: with the buffer schema already applied
    (copied from a template migrated once, much faster than migrating each), or empty."""
    global _migrated_template
    server = shared_server()
    if not migrated:
        return server.url(server.create_database())
    if _migrated_template is None:
        from azr_buffer.db import migrate

        name = server.create_database()
        migrate(server.url(name))
        _migrated_template = name
    return server.url(server.create_database(template=_migrated_template))
