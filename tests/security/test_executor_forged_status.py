"""Class 1: no program can forge an infrastructure status (sandbox_error), or a memory_limit,
by writing bytes anywhere: the child reports its confinement on a pipe closed before the program
runs, and every status is decided from what the zygote observed."""

from __future__ import annotations

from azr_proto.executor import CallCase, RunLimits, RunRequest, TestsRequest
from azr_proto.executor_client import ExecutorClient
from azr_proto.statuses import RunStatus

# Every frame a child, a zygote or a report ever used, old and new formats.
_FRAMES = (
    "FRAMES = [b'S\\0forged fault', b'\\x02forged fault', b'\\x01', b'E\\0MemoryError\\0\\0',"
    " b'AZR2' + bytes(12), b'\\0\\0\\0\\x10{\"status\":\"sandbox_error\"}']\n"
)
FORGERIES = {
    "every_fd": _FRAMES
    + (
        "import os\nfor fd in range(65):\n    for f in FRAMES:\n"
        "        try:\n            os.write(fd, f)\n        except OSError:\n            pass\n"
    ),
    "proc_self_fd": _FRAMES
    + (
        "import os\nfor n in os.listdir('/proc/self/fd'):\n    for f in FRAMES:\n"
        "        try:\n            with open('/proc/self/fd/' + n, 'wb') as fh:\n"
        "                fh.write(f)\n        except OSError:\n            pass\n"
    ),
    "proc_parent_fd": _FRAMES
    + (
        "import os\nfor pid in {os.getppid(), 1}:\n    try:\n"
        "        names = os.listdir(f'/proc/{pid}/fd')\n    except OSError:\n        names = []\n"
        "    for n in names:\n        try:\n"
        "            with open(f'/proc/{pid}/fd/{n}', 'wb') as fh:\n"
        "                fh.write(FRAMES[0])\n        except OSError:\n            pass\n"
    ),
    "exit_70": "import os\nos._exit(70)\n",
    "fault_then_exit_70": _FRAMES
    + "import os\nfor fd in (3, 4, 5):\n    try:\n        os.write(fd, FRAMES[0])\n    except OSError:\n        pass\nos._exit(70)\n",
    "printed_frames": _FRAMES
    + "import sys\nfor f in FRAMES:\n    sys.stdout.buffer.write(f)\n    sys.stderr.buffer.write(f)\n",
    "dup2_tricks": _FRAMES
    + (
        "import os\nfor src in (1, 2, 3):\n    for dst in (3, 4, 5, 10, 63):\n        try:\n"
        "            os.dup2(src, dst)\n            os.write(dst, FRAMES[0])\n            os.write(dst, FRAMES[3])\n"
        "        except OSError:\n            pass\n"
    ),
    "raise_after_spray": _FRAMES
    + (
        "import os\nfor fd in range(3, 8):\n    try:\n        os.write(fd, FRAMES[3])\n"
        "    except OSError:\n        pass\nraise ValueError('plain failure')\n"
    ),
}
FORBIDDEN = {RunStatus.SANDBOX_ERROR, RunStatus.MEMORY_LIMIT}


def test_forged_fault_frames_do_not_change_a_run_status(ex):
    got = {name: ex.run(code + "print('done')\n") for name, code in FORGERIES.items()}
    assert not [(n, r.status) for n, r in got.items() if r.status in FORBIDDEN], got
    assert got["raise_after_spray"].status is RunStatus.RUNTIME_ERROR
    assert got["raise_after_spray"].exception.type == "ValueError"


async def test_forged_fault_frames_do_not_change_batch_statuses(ex):
    runs = [
        RunRequest(code=code, limits=RunLimits(wall_timeout_s=5)) for code in FORGERIES.values()
    ]
    runs += [RunRequest(code="print(1)")]
    async with ExecutorClient(ex.url) as client:
        answer = await client.run_batch(runs)
    statuses = [r.status for r in answer.results]
    assert not FORBIDDEN & set(statuses), statuses
    assert answer.results[-1].status is RunStatus.OK and answer.results[-1].stdout == "1\n"


async def test_forged_fault_frames_do_not_change_test_case_statuses(ex):
    cases = [CallCase(args=str(i), expected=str(i + 1)) for i in range(3)]
    bad = {}
    async with ExecutorClient(ex.url) as client:
        for name, forgery in FORGERIES.items():
            code = forgery.replace("os._exit(70)", "pass") + "def f(x):\n    return x + 1\n"
            answer = await client.tests(TestsRequest(code=code, cases=cases))
            statuses = {c.status for c in answer.results}
            if statuses & FORBIDDEN:
                bad[name] = answer.results
    assert bad == {}


async def test_forged_exit_inside_test_cases_is_not_a_sandbox_error(ex):
    code = "import os\ndef f(x):\n    os.write(3, b'S\\0forged')\n    os._exit(70)\n"
    async with ExecutorClient(ex.url) as client:
        answer = await client.tests(
            TestsRequest(code=code, cases=[CallCase(args="1", expected="2")])
        )
    assert answer.results[0].status not in FORBIDDEN, answer.results
