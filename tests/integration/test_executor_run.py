"""`/v1/run` and `/v1/run/batch` against a real executor server (process mode)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from azr_executor.sandbox import Job, JobPair, Limits, SandboxPool
from azr_executor.settings import ExecutorSettings
from azr_proto.executor import RunLimits, RunRequest
from azr_proto.executor_client import ExecutorClient
from azr_proto.statuses import RunStatus


async def test_run_returns_stdout_and_timings(executor_server):
    async with ExecutorClient(executor_server.url) as client:
        result = await client.run(RunRequest(code="print(6 * 7)"))
    assert result.status is RunStatus.OK
    assert result.stdout == "42\n"
    assert result.exit_code == 0
    assert result.wall_ms > 0 and result.cpu_ms >= 0 and result.peak_rss_kb > 0
    assert result.queue_ms >= 0


async def test_uncaught_exception_is_runtime_error_with_traceback(executor_server):
    async with ExecutorClient(executor_server.url) as client:
        result = await client.run(RunRequest(code="def g():\n    raise KeyError('nope')\ng()\n"))
    assert result.status is RunStatus.RUNTIME_ERROR
    assert result.exception is not None
    assert result.exception.type == "KeyError"
    assert result.exception.message == "'nope'"
    assert "line 2, in g" in result.exception.traceback
    assert result.exit_code == 1


async def test_stdin_and_files_reach_the_program(executor_server):
    code = "import sys\nprint(sys.stdin.read().upper(), open('data/in.txt').read())"
    req = RunRequest(code=code, stdin="abc", files={"data/in.txt": "xyz"})
    async with ExecutorClient(executor_server.url) as client:
        result = await client.run(req)
    assert result.status is RunStatus.OK, result
    assert result.stdout == "ABC xyz\n"


async def test_exit_codes_follow_python_semantics(executor_server):
    async with ExecutorClient(executor_server.url) as client:
        ok = await client.run(RunRequest(code="import sys\nprint('x')\nsys.exit(0)"))
        bad = await client.run(RunRequest(code="import sys\nsys.exit(3)"))
        msg = await client.run(RunRequest(code="exit('bye')"))
    assert ok.status is RunStatus.OK and ok.stdout == "x\n"
    assert bad.status is RunStatus.RUNTIME_ERROR and bad.exit_code == 3
    assert msg.status is RunStatus.RUNTIME_ERROR and msg.stderr == "bye\n"


async def test_wall_timeout_kills_the_run(executor_server):
    req = RunRequest(code="import time\ntime.sleep(30)", limits=RunLimits(wall_timeout_s=0.5))
    async with ExecutorClient(executor_server.url) as client:
        result = await client.run(req)
    assert result.status is RunStatus.TIMEOUT
    assert 400 < result.wall_ms < 3000


async def test_batch_returns_results_in_order(executor_server):
    runs = [RunRequest(code=f"print({i} * {i})") for i in range(40)]
    runs[7] = RunRequest(code="1/0")
    async with ExecutorClient(executor_server.url) as client:
        answer = await client.run_batch(runs)
    assert len(answer.results) == 40
    for i, res in enumerate(answer.results):
        if i == 7:
            assert res.status is RunStatus.RUNTIME_ERROR
            assert res.exception is not None and res.exception.type == "ZeroDivisionError"
        else:
            assert res.status is RunStatus.OK and res.stdout == f"{i * i}\n"


async def test_job_may_fork_children_that_die_with_it(executor_server):
    code = (
        "import os\n"
        "pids = []\n"
        "for i in range(3):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        os._exit(10 + i)\n"
        "    pids.append(pid)\n"
        "print(sorted(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids))\n"
    )
    async with ExecutorClient(executor_server.url) as client:
        result = await client.run(RunRequest(code=code))
    assert result.status is RunStatus.OK, result
    assert result.stdout == "[10, 11, 12]\n"


def test_each_zygote_has_its_own_hash_seed(executor_server):
    seeds = executor_server.pool.hash_seeds
    assert len(seeds) == len(set(seeds)) == 2
    first = executor_server.run("print(hash('azr'))")
    other = executor_server.call(
        executor_server.pool.run(Job(code="print(hash('azr'))"), avoid_hash_seed=first.hash_seed)
    )
    assert other.hash_seed != first.hash_seed
    assert other.stdout != first.stdout  # str hashes follow PYTHONHASHSEED


def test_avoid_hash_seed_works_with_a_single_zygote(tmp_path):
    async def scenario() -> tuple[int, int, list[int]]:
        settings = ExecutorSettings(zygotes=1, work_root=tmp_path if _not_root() else None)
        async with SandboxPool.start(settings) as pool:
            a = await pool.run(Job(code="pass"))
            b = await pool.run(Job(code="pass"), avoid_hash_seed=a.hash_seed)
            c = await pool.run(Job(code="pass"))  # general jobs stay off the spare
            return a.hash_seed, b.hash_seed, [c.hash_seed, *pool.hash_seeds]

    a, b, rest = asyncio.run(scenario())
    assert a != b
    assert rest[0] == a
    assert sorted(rest[1:]) == sorted([a, b])


def test_long_jobs_wait_in_the_pool_not_behind_a_busy_zygote(tmp_path):
    # `pipelined=False` jobs go only to an idle zygote: while one zygote runs a slow job, the
    # short ones all run on the other, instead of one of them waiting in the slow one's pipe.
    async def scenario() -> tuple[list[int], int]:
        settings = ExecutorSettings(zygotes=2, work_root=tmp_path if _not_root() else None)
        async with SandboxPool.start(settings) as pool:
            slow = asyncio.ensure_future(
                pool.run(Job(code="import time\ntime.sleep(1.5)", pipelined=False))
            )
            await asyncio.sleep(0.2)  # the slow job is on a zygote
            short = [pool.run(Job(code="pass", pipelined=False)) for _ in range(4)]
            done = await asyncio.gather(*short)
            assert not slow.done()  # every short job finished while the slow one ran
            return [r.hash_seed for r in done], (await slow).hash_seed

    short_seeds, slow_seed = asyncio.run(scenario())
    assert slow_seed not in short_seeds


def test_a_job_pair_runs_at_once_on_two_hash_seeds(tmp_path):
    # The follower waits for its leader's dispatch, then avoids the leader's zygote: with two
    # free zygotes both run at the same time (each sleeps 0.6 s; one after the other would take
    # 1.2 s), each with its own seed.
    sleep = "import time\ntime.sleep(0.6)"

    async def scenario() -> tuple[int, int, float]:
        settings = ExecutorSettings(zygotes=2, work_root=tmp_path if _not_root() else None)
        async with SandboxPool.start(settings) as pool:
            loop = asyncio.get_running_loop()
            pair = JobPair()
            t0 = loop.time()
            follower, leader = await asyncio.gather(
                pool.run(Job(code=sleep, pipelined=False), member=pair.follower),
                pool.run(Job(code=sleep, pipelined=False), member=pair.leader),
            )
            assert leader.status is follower.status is RunStatus.OK
            return leader.hash_seed, follower.hash_seed, loop.time() - t0

    leader, follower, took = asyncio.run(scenario())
    assert leader != follower
    assert took < 1.1


def test_a_pair_follower_is_held_until_its_leader_is_dispatched(tmp_path):
    # One zygote busy: the leader waits for it to free up, and the follower (submitted first,
    # with the other zygote idle) waits for the leader, then takes the other zygote.
    async def scenario() -> tuple[int, int, int, bool]:
        settings = ExecutorSettings(zygotes=2, work_root=tmp_path if _not_root() else None)
        async with SandboxPool.start(settings) as pool:
            busy = [
                asyncio.ensure_future(
                    pool.run(Job(code="import time\ntime.sleep(0.8)", pipelined=False))
                )
                for _ in range(2)
            ]
            await asyncio.sleep(0.2)  # both zygotes are busy
            pair = JobPair()
            follower = asyncio.ensure_future(
                pool.run(Job(code="pass", pipelined=False), member=pair.follower)
            )
            await asyncio.sleep(0.05)
            held = pair.leader_seed is None and not follower.done()
            leader = await pool.run(Job(code="pass", pipelined=False), member=pair.leader)
            result = await follower
            await asyncio.gather(*busy)
            return leader.hash_seed, result.hash_seed, pair.leader_seed or 0, held

    leader, follower, recorded, held = asyncio.run(scenario())
    assert held
    assert recorded == leader != follower


def test_a_pair_follower_never_shares_its_leaders_zygote(tmp_path):
    # One zygote busy, one idle: the leader takes the idle one and is done at once, and the
    # follower still waits for the busy zygote rather than run where its leader ran.
    async def scenario() -> tuple[int, int, int, bool]:
        settings = ExecutorSettings(zygotes=2, work_root=tmp_path if _not_root() else None)
        async with SandboxPool.start(settings) as pool:
            busy = asyncio.ensure_future(
                pool.run(Job(code="import time\ntime.sleep(0.8)", pipelined=False))
            )
            await asyncio.sleep(0.2)
            pair = JobPair()
            leader, follower = await asyncio.gather(
                pool.run(Job(code="pass", pipelined=False), member=pair.leader),
                pool.run(Job(code="pass", pipelined=False), member=pair.follower),
            )
            waited = busy.done()  # the follower ran only once the busy zygote was free
            return leader.hash_seed, follower.hash_seed, (await busy).hash_seed, waited

    leader, follower, busy, waited = asyncio.run(scenario())
    assert leader != follower == busy
    assert waited


def test_a_pair_follower_goes_to_the_spare_zygote_with_one_zygote(tmp_path):
    async def scenario() -> tuple[int, int]:
        settings = ExecutorSettings(zygotes=1, work_root=tmp_path if _not_root() else None)
        async with SandboxPool.start(settings) as pool:
            pair = JobPair()
            leader, follower = await asyncio.gather(
                pool.run(Job(code="pass"), member=pair.leader),
                pool.run(Job(code="pass"), member=pair.follower),
            )
            with pytest.raises(ValueError, match="follower"):
                await pool.run(Job(code="pass"), avoid_hash_seed=1, member=JobPair().follower)
            return leader.hash_seed, follower.hash_seed

    leader, follower = asyncio.run(scenario())
    assert leader != follower


def test_a_pair_whose_leader_is_refused_does_not_leave_its_follower_waiting(tmp_path):
    from azr_executor.errors import Overloaded

    async def scenario() -> tuple[RunStatus, RunStatus, int]:
        settings = ExecutorSettings(
            zygotes=1, max_queue=2, work_root=tmp_path if _not_root() else None
        )
        async with SandboxPool.start(settings) as pool:
            busy = asyncio.ensure_future(pool.run(Job(code="import time\ntime.sleep(0.5)")))
            await asyncio.sleep(0.05)
            pair = JobPair()
            follower = asyncio.ensure_future(pool.run(Job(code="pass"), member=pair.follower))
            await asyncio.sleep(0.05)  # held: its leader is not submitted yet
            with pytest.raises(Overloaded):  # the queue bound (2) is reached
                await pool.run(Job(code="pass"), member=pair.leader)
            held = (await asyncio.wait_for(follower, 2)).status
            again = (await pool.run(Job(code="pass"), member=pair.follower)).status
            await busy
            return held, again, pool.queue_depth

    held, again, depth = asyncio.run(scenario())
    assert held is again is RunStatus.SANDBOX_ERROR
    assert depth == 0


def test_zygotes_and_their_runs_are_pinned_to_one_cpu_each(tmp_path):
    import os

    async def scenario(pin: bool) -> tuple[list[set[int]], list[str]]:
        settings = ExecutorSettings(
            zygotes=2, pin_zygotes=pin, work_root=tmp_path if _not_root() else None
        )
        async with SandboxPool.start(settings) as pool:
            zygotes = [z for z in pool._zygotes if z is not None]
            code = "import os\nprint(sorted(os.sched_getaffinity(0)))"
            runs = await asyncio.gather(*(pool.run(Job(code=code)) for _ in range(6)))
            return [os.sched_getaffinity(z.proc.pid) for z in zygotes], [r.stdout for r in runs]

    cpus = sorted(os.sched_getaffinity(0))
    pinned, outputs = asyncio.run(scenario(True))
    assert all(len(p) == 1 and p <= set(cpus) for p in pinned)
    if len(cpus) > 1:
        assert pinned[0] != pinned[1]  # the two zygotes of a pool use two CPUs
    assert {out.strip() for out in outputs} <= {f"[{c}]" for p in pinned for c in p}
    free, outputs = asyncio.run(scenario(False))
    assert free == [set(cpus)] * 2
    assert {out.strip() for out in outputs} == {str(cpus)}


def test_zygotes_run_the_configured_interpreter(tmp_path):
    # `python` picks the zygotes' interpreter (an optimized build runs programs faster): here a
    # link to this one under another name, which the programs then see as their interpreter.
    import os
    import sys

    link = tmp_path / "bin" / "zygote-python"
    link.parent.mkdir()
    link.symlink_to(os.path.realpath(sys.executable))

    async def scenario() -> tuple[str, str]:
        work = tmp_path / "work" if _not_root() else None
        mine = ExecutorSettings(zygotes=1, work_root=work)
        other = ExecutorSettings(zygotes=1, work_root=work, python=str(link))
        code = "import sys\nprint(sys.executable)"
        async with SandboxPool.start(mine) as pool:
            a = await pool.run(Job(code=code))
        async with SandboxPool.start(other) as pool:
            b = await pool.run(Job(code=code))
        return a.stdout.strip(), b.stdout.strip()

    default, configured = asyncio.run(scenario())
    assert configured == str(link)
    assert default != str(link)


def test_an_interpreter_that_does_not_exist_is_refused_at_startup():
    with pytest.raises(ValueError, match="not an executable file"):
        ExecutorSettings(python="/nonexistent/python3")


def test_server_code_may_be_sent_compiled_to_zygotes_of_its_bytecode_version(tmp_path):
    import marshal

    # The compiled code differs from the source only so that the test sees which one ran.
    compiled = marshal.dumps(compile("print(2)", "<program>", "exec"))

    async def scenario() -> list[str]:
        settings = ExecutorSettings(zygotes=1, work_root=tmp_path if _not_root() else None)
        async with SandboxPool.start(settings) as pool:
            same = await pool.run(Job(code="print(1)", compiled=compiled))
            for zygote in pool._zygotes:
                if zygote is not None:
                    zygote.magic = "another interpreter"
            other = await pool.run(Job(code="print(1)", compiled=compiled))
            return [same.stdout, other.stdout]

    assert asyncio.run(scenario()) == ["2\n", "1\n"]


def test_queue_bound_answers_429_with_retry_after(tmp_path):
    from azr_executor.app import create_app

    settings = ExecutorSettings(zygotes=1, max_queue=2, work_root=tmp_path if _not_root() else None)
    app = create_app(settings)

    async def scenario() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                body = {"runs": [{"code": "pass"}] * 3}
                return await http.post("/v1/run/batch", json=body)

    resp = asyncio.run(scenario())
    assert resp.status_code == 429
    assert resp.headers["retry-after"] == "1"
    assert resp.json()["code"] == "overloaded"


def test_metrics_count_runs_by_status(executor_server):
    executor_server.run("raise SystemExit(2)")
    text = httpx.get(executor_server.url + "/metrics").text
    assert 'azr_executor_runs_total{status="runtime_error"}' in text
    assert "azr_executor_queue_depth" in text
    assert "azr_executor_run_wall_seconds_bucket" in text


def test_health_and_readiness(executor_server):
    assert httpx.get(executor_server.url + "/healthz").json()["status"] == "ok"
    assert httpx.get(executor_server.url + "/readyz").json()["status"] == "ok"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "JSON"),
        (b'{"code": "print(1)\\u0000"}', "NUL"),
        (b'{"code": 12}', "valid string"),
        (b'{"code": "x", "limits": {"wall_timeout_s": 1e12}}', "wall_timeout_s"),
        (b'{"code": "x", "limits": {"memory_limit_mb": 999999}}', "maximum"),
        (b'{"code": "x", "limits": {"cpu_timeout_s": -1}}', "cpu_timeout_s"),
        (b'{"code": "x", "files": {"../escape": "x"}}', "relative path"),
        (b'{"code": "x", "surprise": 1}', "surprise"),
        (b"\xff\xfe\x00garbage", "JSON"),
        (b'{"runs": []}', "code"),
    ],
)
def test_bad_input_gets_a_clear_422(executor_server, body, fragment):
    resp = httpx.post(
        executor_server.url + "/v1/run", content=body, headers={"content-type": "application/json"}
    )
    assert resp.status_code == 422, resp.text
    payload = resp.json()
    assert payload["code"] == "invalid_request"
    assert fragment in payload["detail"]


def test_oversized_code_is_refused(executor_server):
    code = "#" * (executor_server.settings.max_code_bytes + 10)
    resp = httpx.post(executor_server.url + "/v1/run", json={"code": code})
    assert resp.status_code == 422
    assert "code" in resp.json()["detail"]


def test_batch_over_the_limit_is_413(executor_server):
    n = executor_server.settings.max_batch + 1
    resp = httpx.post(executor_server.url + "/v1/run/batch", json={"runs": [{"code": ""}] * n})
    assert resp.status_code == 413
    assert resp.json()["code"] == "too_large"


def test_limits_default_from_settings_and_cap_cpu_near_wall():
    from azr_executor.runner import resolve_limits

    settings = ExecutorSettings(wall_timeout_s=3.0, cpu_timeout_s=30)
    limits = resolve_limits(RunLimits(), settings)
    assert limits == Limits(wall_s=3.0, cpu_s=4, memory_mb=512, output_bytes=65536, processes=32,
                            open_files=64, file_size_mb=16)  # fmt: skip


def _not_root() -> bool:
    import os

    return os.geteuid() != 0
