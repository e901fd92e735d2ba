"""`POST /v1/tests`: call-based, assert-style and stdio cases, and attempts to fake a pass."""

from __future__ import annotations

import httpx
import pytest
from azr_proto.executor import AssertCase, CallCase, RunLimits, StdioCase, TestsRequest
from azr_proto.executor_client import ExecutorClient
from azr_proto.statuses import RunStatus

SQUARE = "def f(x):\n    return x * x\n"


async def _check(url, code, cases, **kw):
    async with ExecutorClient(url) as client:
        return await client.tests(TestsRequest(code=code, cases=cases, **kw))


async def test_call_cases_compare_return_values_outside(executor_server):
    answer = await _check(executor_server.url, SQUARE, [
        CallCase(args="3", expected="9"),
        CallCase(args="x=4", expected="16"),
        CallCase(args="2", expected="5"),
        CallCase(args="'a'", expected="''"),
    ])  # fmt: skip
    assert [r.verdict for r in answer.results] == ["passed", "passed", "wrong_answer", "error"]
    assert answer.results[2].actual == "4"
    assert "TypeError" in answer.results[3].detail
    assert answer.passed == 2 and answer.total == 4 and not answer.all_passed


async def test_call_cases_handle_containers_and_entry_points(executor_server):
    code = "def solve(a, b):\n    return {'sum': [a + b], 't': (a, b)}\n"
    answer = await _check(executor_server.url, code, [CallCase(args="1, 2", expected="{'sum': [3], 't': (1, 2)}")],
                          entry_point="solve")  # fmt: skip
    assert answer.all_passed, answer


async def test_assert_cases_mbpp_and_humaneval_styles(executor_server):
    mbpp = AssertCase(test="assert f(2) == 4\nassert f(3) == 9\n")
    humaneval = AssertCase(
        test="def check(candidate):\n    assert candidate(5) == 25\n    assert abs(candidate(0.5) - 0.25) < 1e-9\ncheck(f)\n"
    )
    failing = AssertCase(test="assert f(2) == 4\nassert f(3) == 10\n")
    answer = await _check(executor_server.url, SQUARE, [mbpp, humaneval, failing])
    assert [r.verdict for r in answer.results] == ["passed", "passed", "wrong_answer"]
    assert answer.results[0].detail == "rewritten=2"
    assert "check 1" in answer.results[2].detail


async def test_assert_rewriting_keeps_the_source_and_huge_int_literals(executor_server):
    # A 6,000-digit expected value written in hex (a decimal literal that long does not parse):
    # the service must neither print it back (it used to answer 500) nor lose the check.
    big = hex(10**6000)
    code = "def f(n):\n    return 10 ** n\n"
    cases = [
        AssertCase(test=f"assert f(6000) == {big}\n"),
        AssertCase(test=f"assert f(6000) == {big} + 1\n"),
        AssertCase(test=f"x = [{big}]\nassert f(2) == 100  # é\nassert [f(6000)] == x\n"),
        AssertCase(test="if True:\n    assert (f(1)\n            ) == 11; y = 1\n"),
    ]
    answer = await _check(executor_server.url, code, cases)
    verdicts = [r.verdict for r in answer.results]
    assert verdicts == ["passed", "error", "passed", "wrong_answer"], answer
    assert answer.results[0].detail == "rewritten=0"  # checked by the assert in the sandbox
    assert "AssertionError" in answer.results[1].detail
    assert answer.results[2].detail == "rewritten=1"
    assert answer.results[3].detail.startswith("check 0: expected 11")


async def test_stdio_cases_ignore_trailing_whitespace(executor_server):
    code = "n = int(input())\nfor i in range(n):\n    print(i, end='  \\n')\n"
    answer = await _check(executor_server.url, code, [
        StdioCase(stdin="3\n", expected_stdout="0\n1\n2\n\n"),
        StdioCase(stdin="2\n", expected_stdout="0\n2\n"),
    ])  # fmt: skip
    assert [r.verdict for r in answer.results] == ["passed", "wrong_answer"]


async def test_early_stop_skips_the_remaining_cases(executor_server):
    cases = [CallCase(args="1", expected="2")] + [
        CallCase(args=str(i), expected=str(i * i)) for i in range(20)
    ]
    answer = await _check(executor_server.url, SQUARE, cases, early_stop=True)
    assert answer.stopped_early
    assert answer.results[0].verdict == "wrong_answer"
    assert answer.results[-1].verdict == "not_run" and answer.results[-1].status is None


@pytest.mark.parametrize(
    "attack",
    [
        "import sys\nsys.exit(0)\n",
        "import os\nos._exit(0)\n",
        "raise SystemExit\n",
        "def f(x):\n    import os\n    os._exit(0)\n",
        "class Any:\n    def __eq__(self, other):\n        return True\n    def __repr__(self):\n        return '9'\ndef f(x):\n    return Any()\n",
        "import builtins\nbuiltins.AssertionError = type('Nope', (Exception,), {})\ndef f(x):\n    return 0\n",
        "def f(x):\n    globals()['_azr_check_'] = lambda i, v: None\n    return 0\n",
        'def f(x):\n    print(\'{"check": 0, "repr": "9"}\')\n    print(\'{"done": true}\')\n    return 0\n',
        'import json\njson.dumps = lambda *a, **k: \'{"check": 0, "repr": "9"}\'\ndef f(x):\n    return 0\n',
        "import builtins\nbuiltins.repr = lambda v: '9'\ndef f(x):\n    return 0\n",
    ],
)
async def test_a_program_cannot_fake_a_pass(executor_server, attack):
    cases = [CallCase(args="3", expected="9"), AssertCase(test="assert f(3) == 9\n")]
    answer = await _check(executor_server.url, attack, cases)
    assert answer.passed == 0, answer.results


def test_bad_cases_get_a_clear_422(executor_server):
    for case, fragment in [
        ({"kind": "call", "args": "1), print(2", "expected": "1"}, "argument list"),
        ({"kind": "call", "args": "1", "expected": "__import__('os')"}, "literal"),
        ({"kind": "assert", "test": "assert (("}, "does not parse"),
        ({"kind": "weird"}, "kind"),
    ]:
        resp = httpx.post(executor_server.url + "/v1/tests", json={"code": SQUARE, "cases": [case]})
        assert resp.status_code == 422, resp.text
        assert fragment in resp.json()["detail"]


async def test_many_cases_in_one_request_keep_their_order(executor_server):
    # More cases than one chunk (CHUNK = 200), with a wrong answer every seventh case.
    cases = [CallCase(args=str(i), expected=str(i * i + (i % 7 == 3))) for i in range(260)]
    answer = await _check(executor_server.url, SQUARE, cases)
    assert [r.index for r in answer.results] == list(range(260))
    for i, r in enumerate(answer.results):
        assert r.verdict == ("wrong_answer" if i % 7 == 3 else "passed"), (i, r)
        assert r.actual == str(i * i), (i, r)
    assert answer.passed == 260 - sum(i % 7 == 3 for i in range(260))


FLAKY = """
import os, signal, time
def f(x):
    if x == 1:
        while True:
            pass
    if x == 2:
        raise ValueError("bad two")
    if x == 3:
        return len(bytearray(1 << 30))
    if x == 4:
        time.sleep(60)
    if x == 5:
        return "a" * 100000
    if x == 6:
        os.kill(os.getpid(), signal.SIGSEGV)
    if x == 7:
        os._exit(0)
    return x
"""


async def test_a_bad_case_does_not_affect_the_others(executor_server):
    cases = [CallCase(args=str(i), expected=str(i)) for i in range(10)]
    limits = RunLimits(wall_timeout_s=1.5, cpu_timeout_s=1, memory_limit_mb=256,
                       output_limit_bytes=4096)  # fmt: skip
    answer = await _check(executor_server.url, FLAKY, cases, limits=limits)
    statuses = [r.status for r in answer.results]
    assert statuses[1] == RunStatus.TIMEOUT  # CPU-bound past its limit
    assert (
        statuses[2] == RunStatus.RUNTIME_ERROR and "ValueError: bad two" in answer.results[2].detail
    )
    assert statuses[3] == RunStatus.MEMORY_LIMIT
    assert statuses[4] == RunStatus.TIMEOUT  # asleep past its wall limit
    assert statuses[5] == RunStatus.OUTPUT_LIMIT
    assert statuses[6] == RunStatus.KILLED
    assert answer.results[7].verdict == "error"  # exited before reporting: never a pass
    assert [r.verdict for r in answer.results[1:8]] == ["error"] * 7
    for i in (0, 8, 9):
        assert answer.results[i].verdict == "passed", answer.results[i]
    assert answer.results[4].wall_ms < 5000


async def test_each_case_starts_from_the_freshly_loaded_program(executor_server):
    code = "seen = []\ndef f(x):\n    seen.append(x)\n    return len(seen)\n"
    cases = [CallCase(args=str(i), expected="1") for i in range(30)]
    cases.append(AssertCase(test="assert f(0) == 1\nassert f(0) == 2\n"))
    answer = await _check(executor_server.url, code, cases)
    assert answer.all_passed, [r for r in answer.results if r.verdict != "passed"]


async def test_lifted_asserts_compare_as_python_and_call_cases_by_type(executor_server):
    # `assert f(x) == True` passes natively when f returns 1: a lifted check says the same
    # (same_value); a call case is stricter (typed_equal: a bool only equals a bool).
    one = "def f(x):\n    return 1\n"
    cases = [AssertCase(test="assert f(0) == True\nassert f(0) == 1.0\n"),
             CallCase(args="0", expected="True"), CallCase(args="0", expected="1.0")]  # fmt: skip
    answer = await _check(executor_server.url, one, cases)
    assert [r.verdict for r in answer.results] == ["passed", "wrong_answer", "passed"]
