"""The `postgres` profile: the buffer container keeps its tasks in the PostgreSQL container (built
locally from Debian's packages), hardened like the other services, and the data survives a restart
of both and a new PostgreSQL container on the same volume."""

from __future__ import annotations

import pytest
from azr_proto.buffer import RunCreate, SampleRequest, TaskIn
from azr_proto.buffer_client import BufferClient
from azr_proto.tasks import TaskType
from tests_e2e_support import BUFFER_TOKEN, cap_mask, exec_out

pytestmark = [pytest.mark.compose, pytest.mark.postgres, pytest.mark.slow]


def psql(pg_stack, sql: str) -> str:
    """Run one query in the PostgreSQL container, over its unix socket; return the bare result."""
    container = pg_stack.container("postgres")
    cmd = ["psql", "-h", "/run/postgresql", "-U", "azr", "-d", "azr", "-tAc", sql]
    return exec_out(container, cmd).strip()


def test_postgres_container_is_hardened(pg_stack):
    container = pg_stack.container("postgres")
    host_config = container.attrs["HostConfig"]
    assert host_config["Runtime"] == "runsc"
    assert exec_out(container, ["uname", "-r"]).strip() == "4.4.0"  # gVisor's kernel
    assert host_config["ReadonlyRootfs"] is True
    assert host_config["CapDrop"] == ["ALL"] and not host_config["CapAdd"]
    assert "no-new-privileges:true" in host_config["SecurityOpt"]
    assert host_config["PidsLimit"] > 0 and host_config["Memory"] > 0
    status = exec_out(container, ["cat", "/proc/1/status"])
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert int(fields["CapEff"], 16) == cap_mask(set())
    # The server itself runs as the unprivileged postgres uid, and listens on no published port.
    assert psql(pg_stack, "SELECT current_setting('data_directory')") == (
        "/var/lib/postgresql/data"
    )
    assert exec_out(container, ["id", "-u"]).strip() == "10004"
    assert container.attrs["NetworkSettings"]["Ports"] in ({}, None) or not any(
        container.attrs["NetworkSettings"]["Ports"].values()
    )
    networks = container.attrs["NetworkSettings"]["Networks"]
    assert list(networks) == [f"{pg_stack.project}_buffer-internal"]
    assert pg_stack.client.networks.get(f"{pg_stack.project}_buffer-internal").attrs["Internal"]


def test_network_clients_need_the_password(pg_stack):
    # From the buffer container (on the same network) without a password: refused. The socket
    # inside the PostgreSQL container is the only trusted path.
    probe = (
        "import psycopg, sys\n"
        "try:\n"
        "    psycopg.connect('host=postgres dbname=azr user=azr password=wrong', connect_timeout=5)\n"
        "except psycopg.OperationalError as exc:\n"
        "    print('refused', 'password authentication failed' in str(exc)); sys.exit(3)\n"
    )
    code, out = pg_stack.container("buffer").exec_run(["python3", "-c", probe])
    assert (code, out.strip()) == (3, b"refused True"), out


async def test_buffer_keeps_its_tasks_in_postgres_across_restarts(pg_stack):
    # The buffer's SQLite default is not in use: its database URL names the postgres service.
    buffer_c = pg_stack.container("buffer")
    env = dict(e.split("=", 1) for e in buffer_c.attrs["Config"]["Env"])
    assert env["AZR_BUFFER_DATABASE_URL"].startswith("postgresql+psycopg://azr:")
    tasks = [
        TaskIn(
            type=TaskType.DEDUCTION,
            program=f"def f(x):\n    return x * {i}",
            inputs=["3"],
            outputs=[repr(3 * i)],
        )
        for i in range(12)
    ]
    async with BufferClient(pg_stack.buffer_url, token=BUFFER_TOKEN) as buffer:
        await buffer.create_run(RunCreate(name="e2e-pg"))
        inserted = await buffer.insert_tasks("e2e-pg", tasks)
        assert len(inserted.inserted) == 12 and not inserted.duplicates
    # The rows are in PostgreSQL, and the buffer wrote no SQLite file.
    assert psql(pg_stack, "SELECT count(*) FROM tasks") == "12"
    assert psql(pg_stack, "SELECT name FROM runs") == "e2e-pg"
    code, _ = buffer_c.exec_run(["test", "-e", "/data/buffer.db"])
    assert code == 1, "the buffer created its SQLite file: it does not use PostgreSQL"

    # Restart both; then replace the PostgreSQL container by a new one on the same volume.
    pg_stack.compose("--profile", "postgres", "restart", "postgres", "buffer")
    pg_stack.wait_healthy(("postgres", "buffer"))
    old_id = pg_stack.container("postgres").id
    pg_stack.compose("--profile", "postgres", "rm", "--stop", "--force", "postgres")
    pg_stack.compose("--profile", "postgres", "up", "--detach", "--no-build", "postgres")
    pg_stack.wait_healthy(("postgres", "buffer"))
    assert pg_stack.container("postgres").id != old_id

    assert psql(pg_stack, "SELECT count(*) FROM tasks") == "12"
    async with BufferClient(pg_stack.buffer_url, token=BUFFER_TOKEN) as fresh:
        stats = await fresh.stats("e2e-pg")
        assert stats.total == 12
        again = await fresh.sample("e2e-pg", SampleRequest(type=TaskType.DEDUCTION, k=12))
        assert sorted(t.program for t in again) == sorted(t.program for t in tasks)
        dup = await fresh.insert_tasks("e2e-pg", tasks)
        assert len(dup.duplicates) == 12 and not dup.inserted
