"""Class 6: one run never hurts another. What a run leaves behind is removed without faulting
its zygote, its output can never make a frame over the protocol's cap, and runs queued behind
a run whose zygote died are sent to another zygote instead of failing."""

from __future__ import annotations

import asyncio

from azr_executor.sandbox import Job, Limits
from azr_proto.statuses import RunStatus

LEFTOVERS = {
    "deeper_than_recursion": (
        "import os\nfor _ in range(3000):\n    os.mkdir('d')\n    os.chdir('d')\nprint('deep')\n"
    ),
    "chmod_000": (
        "import os\nos.makedirs('a/b/c')\nopen('a/b/c/f', 'w').write('x')\n"
        "os.chmod('a/b/c', 0)\nos.chmod('a/b', 0)\nos.chmod('a', 0)\nprint('locked')\n"
    ),
    "read_only_files_and_links": (
        "import os\nos.mkdir('r')\nopen('r/f', 'w').write('x')\nos.chmod('r/f', 0)\n"
        "os.symlink('/etc', 'r/etc')\nos.symlink('r', 'loop')\nos.chmod('r', 0o500)\nprint('ro')\n"
    ),
    "many_files": "for i in range(3000):\n    open(f'f{i}', 'w').close()\nprint('many')\n",
    "control_bytes_on_both_streams": (
        "import sys\nsys.stdout.buffer.write(b'\\x01' * (8 << 20))\n"
        "sys.stderr.buffer.write(b'\\x02' * (8 << 20))\n"
    ),
}


async def _behind(ex, code: str, output_bytes: int) -> tuple[object, list[object]]:
    """One hostile run and, pipelined behind it on the same zygotes, a few short runs."""
    pool = ex.pool
    hostile = [
        asyncio.ensure_future(
            pool.run(Job(code=code, limits=Limits(wall_s=8, cpu_s=8, output_bytes=output_bytes)))
        )
        for _ in range(2)  # one per zygote
    ]
    await asyncio.sleep(0)
    short = [pool.run(Job(code=f"print({i})", limits=Limits(wall_s=8))) for i in range(8)]
    return await asyncio.gather(*hostile), await asyncio.gather(*short)


def test_leftovers_never_fail_the_runs_queued_behind(ex):
    for name, code in LEFTOVERS.items():
        big = 8 << 20 if name == "control_bytes_on_both_streams" else 65536
        hostile, short = ex.call(_behind(ex, code, big), timeout_s=120)
        assert [r.status for r in short] == [RunStatus.OK] * 8, (name, short)
        assert [r.stdout for r in short] == [f"{i}\n" for i in range(8)], name
        for r in hostile:
            assert r.status is not RunStatus.SANDBOX_ERROR, (name, r.status, r.stderr[-300:])
    stats = ex.call(ex.pool.zygote_stats())
    assert all(s["work_root_entries"] == [] for s in stats), stats
    r = ex.run("import os\nprint(os.listdir('.'))")
    assert r.stdout == "[]\n"


def test_output_caps_hold_on_the_frame(ex):
    limits = Limits(wall_s=8, cpu_s=8, output_bytes=8 << 20)
    r = ex.call(ex.pool.run(Job(code=LEFTOVERS["control_bytes_on_both_streams"], limits=limits)))
    assert r.status is RunStatus.OK, (r.status, r.stderr[-200:])
    assert len(r.stdout) == 8 << 20 and len(r.stderr) == 8 << 20


async def _kill_zygote_with_queue(ex):
    pool = ex.pool
    zyg = next(z for z in pool._zygotes if z is not None and not z.config.spare)
    slow = asyncio.ensure_future(
        pool.run(Job(code="import time\ntime.sleep(5)", limits=Limits(wall_s=6)))
    )
    await asyncio.sleep(0.05)
    queued = [asyncio.ensure_future(pool.run(Job(code=f"print({i})"))) for i in range(12)]
    await asyncio.sleep(0.3)
    victim = next((z for z in pool._zygotes if z is not None and len(z.inflight) > 1), zyg)
    victim.proc.kill()
    return await slow, await asyncio.gather(*queued)


def test_runs_queued_behind_a_dead_zygote_are_sent_elsewhere(ex):
    _slow, queued = ex.call(_kill_zygote_with_queue(ex), timeout_s=60)
    assert [r.status for r in queued] == [RunStatus.OK] * 12, queued
    assert [r.stdout for r in queued] == [f"{i}\n" for i in range(12)]
