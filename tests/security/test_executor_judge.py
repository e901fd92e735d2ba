"""The judge: model-written inputs and answers are data, never code; programs whose outputs hang
on hash seeds, addresses or clocks never validate; AZR jobs stay inside the service's limits.
One hostile property per test, several spellings each (issue 22, classes 2, 3, 7 and 9)."""

from __future__ import annotations

import concurrent.futures

import httpx
import pytest
from azr_proto.azr import Reason, ValidationStatus, Verdict

IDENTITY = "def f(x):\n    return x\n"


def _post(ex, path: str, body: dict, timeout: float = 120) -> dict:
    resp = httpx.post(ex.url + path, json=body, timeout=timeout)
    assert resp.status_code == 200, resp.text[:500]
    return resp.json()


def _verdicts(ex, task: dict, answers: list[str]) -> list[dict]:
    body = {"items": [{"task": task, "answers": answers}]}
    return _post(ex, "/v1/azr/verify", body)["results"][0]["verdicts"]


# Wrong answers that were graded correct when an answer was evaluated as an expression: each
# builds an object whose behaviour fakes the gold output, or patches what the program calls.
FAKES = [
    # f(x) = x * 2, gold 10: an object whose __mul__ answers 10
    ("def f(x):\n    return x * 2", "10", "type('A', (), {'__mul__': lambda s, o: 10})()"),
    # f(x) = sorted(x), gold [1, 2]: a list whose iteration lies
    ("def f(x):\n    return sorted(x)", "[1, 2]",
     "type('L', (list,), {'__iter__': lambda s: iter([1, 2])})()"),
    # f(x) = len(x), gold 3: an object with any length it likes
    ("def f(x):\n    return len(x)", "3", "type('S', (), {'__len__': lambda s: 3})()"),
    # a lambda argument that walks from a function object to its module's namespace
    ("def f(g):\n    return g(2)", "4", "lambda x: type(x).__dict__ and 4"),
    # the answer reaches the program's objects through a default argument's closure
    ("def f(x, k=[]):\n    k.append(x)\n    return len(k)", "1",
     "[], (lambda: None)"),
]  # fmt: skip


@pytest.mark.parametrize(("program", "gold", "answer"), FAKES)
def test_an_abduction_answer_that_is_code_is_invalid_never_correct(ex, program, gold, answer):
    task = {"task_type": "abduction", "program": program, "inputs": ["0"], "outputs": [gold]}
    (verdict,) = _verdicts(ex, task, [answer])
    assert verdict["verdict"] == Verdict.INVALID, verdict
    assert verdict["reason"] == Reason.BAD_INPUT


def test_abduction_answers_never_share_a_program_process(ex):
    # Every answer must see the program as loaded: an earlier answer's call cannot change what
    # a later one gets (the learnability hack: wrong answers counted right after a patch).
    program = "seen = []\ndef f(x):\n    seen.append(x)\n    return len(seen)"
    task = {"task_type": "abduction", "program": program, "inputs": ["0"], "outputs": ["1"]}
    answers = ["1", "2", "3", "'a'", "None", "[4]", "5.0", "(6,)"]
    verdicts = _verdicts(ex, task, answers)
    assert [v["verdict"] for v in verdicts] == [Verdict.CORRECT] * len(answers)
    body = {"items": [{"task": task, "answers": answers}]}
    learn = _post(ex, "/v1/azr/learnability", body)["results"][0]
    assert learn["solve_rate"] == 1.0


@pytest.mark.parametrize(
    "source",
    [
        "type('A', (), {'__eq__': lambda s, o: True})()",
        "[6, 4, 2], (lambda x: x.reverse())",
        "dict(k=lambda: 0)",
        "{1: (lambda: 0)}",
        "'abc'.upper()",
        "__import__('os').getpid()",
        "[i for i in range(3)]",
        "(x := 1)",
    ],
)
def test_a_proposal_input_that_is_code_is_invalid(ex, source):
    proposal = {"task_type": "deduction", "program": "def f(*a, **k):\n    return 1",
                "inputs": [source]}  # fmt: skip
    (result,) = _post(ex, "/v1/azr/validate", {"proposals": [proposal]})["results"]
    assert result["status"] == ValidationStatus.INVALID and result["reason"] == Reason.BAD_INPUT


def test_a_tests_call_case_whose_args_are_code_is_refused(ex):
    for args in ("type('A', (), {'__eq__': lambda s, o: True})()", "(lambda: 9)()", "[1][0]"):
        body = {"code": IDENTITY, "cases": [{"kind": "call", "args": args, "expected": "9"}]}
        resp = httpx.post(ex.url + "/v1/tests", json=body, timeout=60)
        assert resp.status_code == 422, (args, resp.text[:300])
        assert "args" in resp.json()["detail"]


# Determinism across really different processes (class 3): each program is validated 100 times,
# in 100 requests, and must be invalid every time.
HASH_DEPENDENT = [
    "def f(x):\n    return hash(str(x))",
    "def f(x):\n    return hash('abc') % 1000 + x",
    "def f(n):\n    return list({str(i) for i in range(n)})",
    "def f(n):\n    return ''.join({chr(97 + i): 0 for i in range(n)}.keys() ^ set())",
    # the full hash: a few bits of it coincide for two given seeds with a fair chance, and a
    # zygote keeps its seed for life, so a coincidence would repeat in every validation
    "def f(n):\n    return [hash((str(n), b'x')) for _ in range(2)]",
]
ADDRESS_DEPENDENT = [
    "def f(x):\n    return hash(object()) + x",
    "def f(x):\n    return repr(object())[-6:]",
    "def f(x):\n    return object.__repr__(f)[-8:]",
    "def f(x):\n    return sorted([object() for _ in range(5)], key=hash).index(0) if 0 else "
    "[hash(o) % 97 for o in [object() for _ in range(5)]]",
]
# Reaching a clock or the process's identity through another module (class 9): refused by the
# policy before any run, so never valid.
CLOCK_DEPENDENT = [
    "import contextlib\ndef f(x):\n    return contextlib.os.getpid() + x",
    "import email.utils\ndef f(x):\n    return email.utils.time.time_ns() + x",
    "import queue\ndef f(x):\n    return int(queue.time() * 1e9) + x",
    "import collections\ndef f(x):\n    return collections._sys.maxsize + x",
    "import contextlib\ndef f(x):\n    return contextlib.__dict__['os'].getpid()",
    "import operator, contextlib\ndef f(x):\n    return operator.attrgetter('os')(contextlib).getpid()",
    "import timeit\ndef f(x):\n    return int(timeit.default_timer() * 1e9)",
    "from queue import *\ndef f(x):\n    return time()",
    "import _strptime\ndef f(x):\n    return _strptime.time.time_ns()",
]


def _validate_100_times(ex, programs: list[str]) -> list[list[dict]]:
    body = {
        "proposals": [{"task_type": "deduction", "program": p, "inputs": ["20"]} for p in programs]
    }

    def one(_: int) -> list[dict]:
        return _post(ex, "/v1/azr/validate", body)["results"]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(100)))


def _valid_counts(rounds: list[list[dict]], programs: list[str]) -> dict[str, int]:
    return {p: sum(r[i]["status"] == "valid" for r in rounds) for i, p in enumerate(programs)}


def test_hash_dependent_programs_are_invalid_every_time(ex):
    rounds = _validate_100_times(ex, HASH_DEPENDENT)
    assert _valid_counts(rounds, HASH_DEPENDENT) == dict.fromkeys(HASH_DEPENDENT, 0)
    assert all(r["reason"] == Reason.NONDETERMINISTIC for rnd in rounds for r in rnd)


def test_address_dependent_programs_are_invalid_every_time(ex):
    rounds = _validate_100_times(ex, ADDRESS_DEPENDENT)
    assert _valid_counts(rounds, ADDRESS_DEPENDENT) == dict.fromkeys(ADDRESS_DEPENDENT, 0)


def test_clock_dependent_programs_are_invalid_every_time(ex):
    rounds = _validate_100_times(ex, CLOCK_DEPENDENT)
    assert _valid_counts(rounds, CLOCK_DEPENDENT) == dict.fromkeys(CLOCK_DEPENDENT, 0)
    assert all(r["reason"] == Reason.POLICY_VIOLATION for rnd in rounds for r in rnd)


@pytest.mark.parametrize(
    ("path", "options"),
    [
        ("/v1/azr/validate", {"memory_limit_mb": 8192}),
        ("/v1/azr/validate", {"timeout_s": 45}),
        ("/v1/azr/verify", {"memory_limit_mb": 8000}),
        ("/v1/azr/learnability", {"timeout_s": 59.5}),
    ],
)
def test_azr_options_above_the_service_maxima_are_refused(ex, path, options):
    # Within the wire's own bounds (60 s, 8,192 MB) but above this server's maxima (30 s, 4,096 MB)
    proposal = {"task_type": "deduction", "program": IDENTITY, "inputs": ["1"]}
    task = {"task_type": "deduction", "program": IDENTITY, "inputs": ["1"], "outputs": ["1"]}
    body = (
        {"proposals": [proposal]}
        if "validate" in path
        else {"items": [{"task": task, "answers": ["1"]}]}
    )
    # The shared server's wall maximum is the wire's own 60 s: lowered to 30 s for this request
    # only (the route reads the settings at request time).
    saved = ex.settings.max_wall_timeout_s
    ex.settings.max_wall_timeout_s = 30.0
    try:
        resp = httpx.post(ex.url + path, json=body | {"options": options}, timeout=60)
    finally:
        ex.settings.max_wall_timeout_s = saved
    assert resp.status_code == 422, resp.text[:300]
    assert f"options.{next(iter(options))}" in resp.json()["detail"]


def test_a_unit_cannot_read_the_other_units_of_its_job(ex):
    # The job's spec (every unit's program and arguments) arrives on the harness's stdin; a unit
    # that rewinds or reopens its stdin must find nothing there, however it asks.
    probes = [
        "import os\nos.lseek(0, 0, 0)\nDATA = os.read(0, 1 << 20)",
        "import os\nDATA = os.pread(0, 1 << 20, 0)",
        "DATA = open('/proc/self/fd/0', 'rb').read()",
        "import sys\nsys.stdin.buffer.seek(0)\nDATA = sys.stdin.buffer.read()",
    ]
    for probe in probes:
        program = (
            "try:\n" + "".join(f"    {line}\n" for line in probe.splitlines())
            + "except Exception:\n    DATA = b''\n"
            "def f(x):\n    return b'SECRET-7f3a' in DATA\n"
        )  # fmt: skip
        cases = [{"kind": "call", "args": "0", "expected": "False"},
                 {"kind": "call", "args": "'SECRET-7f3a'", "expected": "False"}]  # fmt: skip
        resp = httpx.post(ex.url + "/v1/tests", json={"code": program, "cases": cases}, timeout=60)
        assert resp.status_code == 200, resp.text[:300]
        assert resp.json()["passed"] == 2, (probe, resp.json())
