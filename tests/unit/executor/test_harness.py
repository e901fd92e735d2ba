"""The one in-sandbox harness (`inside/harness.py`), in-process and as a subprocess."""

from __future__ import annotations

import marshal
import subprocess
import sys

from azr_executor.inside import harness
from azr_executor.judging import (
    HARNESS_SOURCE,
    UnitSpec,
    build_spec,
    encode_arguments,
    read_outcomes,
)
from azr_proto.literals import LiteralError, parse_arguments, parse_literal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def call(source: str) -> bytes:
    return encode_arguments(*parse_arguments(source))


def run(program: str, calls: list[str], **unit):
    spec = {"module": "__azr_program__", "entry": "f", "calls": [call(c) for c in calls],
            "mode": "shared", "reverse": False, "passes": 1, "stop_on_error": False,
            "max_chars": 1000} | unit  # fmt: skip
    return harness.run_unit(spec, compile(program, "<program>", "exec"), [])


def run_job(units: list[UnitSpec]):
    stdin, nonce, _ = build_spec(units)
    proc = subprocess.run(
        [sys.executable, "-I", "-c", HARNESS_SOURCE], input=stdin, capture_output=True,
        timeout=60, check=True,
    )  # fmt: skip
    out = proc.stdout.decode()
    return out, nonce, read_outcomes(out, nonce, len(units))


def unit(program: str, calls: list[str], **kw) -> UnitSpec:
    return UnitSpec(
        program, [call(c) for c in calls], **({"timeout_s": 30, "max_chars": 1000} | kw)
    )


def test_outputs_are_reprs_of_plain_values():
    report = run("def f(x):\n    return x", ["1", "'a'", "[1, (2.5, None)]", "{1: {2}}", "b'x'"])
    assert [r["repr"] for r in report["passes"][0]] == [
        "1",
        "'a'",
        "[1, (2.5, None)]",
        "{1: {2}}",
        "b'x'",
    ]


def test_every_base_exception_is_an_error():
    program = (
        "class Oops(Exception):\n    pass\n"
        "def f(k):\n"
        "    if k == 0: raise Oops('custom')\n"
        "    if k == 1: raise StopIteration\n"
        "    if k == 2: raise SystemExit(0)\n"
        "    if k == 3: raise KeyboardInterrupt\n"
        "    return k\n"
    )
    report = run(program, ["0", "1", "2", "3", "4"])
    kinds = [(r.get("error"), r.get("type")) for r in report["passes"][0]]
    assert kinds == [
        ("runtime_error", "Oops"),
        ("runtime_error", "StopIteration"),
        ("runtime_error", "SystemExit"),
        ("runtime_error", "KeyboardInterrupt"),
        (None, None),
    ]


def test_non_literal_outputs_are_rejected():
    program = (
        "import collections\n"
        "class P:\n    def __eq__(self, o): return True\n    def __repr__(self): return '1'\n"
        "def f(k):\n"
        "    return [P(), object(), collections.Counter('ab'), float('nan'), float('inf'), f][k]\n"
    )
    report = run(program, [str(k) for k in range(6)])
    assert [r.get("error") for r in report["passes"][0]] == ["output_not_literal"] * 6


def test_long_and_self_referential_outputs_are_too_long_not_truncated():
    program = "def f(n):\n    if n < 0:\n        l = []\n        l.append(l)\n        return l\n    return 'x' * n"
    results = run(program, ["998", "999", "-1", "1000000"])["passes"][0]
    assert results[0]["repr"] == "'" + "x" * 998 + "'"
    assert [r.get("error") for r in results[1:]] == [
        "output_too_long",
        "output_not_literal",  # self-referential: deeper than any literal
        "output_too_long",
    ]
    huge_int = run("def f(n):\n    return 7 ** n", ["100000"])["passes"][0][0]
    assert huge_int["error"] == "output_too_long"


def test_load_errors_are_reported_once_for_the_unit():
    assert run("raise ValueError('at load')\ndef f(x):\n    return x", ["1"])["load"]["error"] == (
        "program_error"
    )
    assert run("f = 3", ["1"])["load"]["error"] == "program_error"


def test_modes_shared_fresh_and_forked():
    counter = "n = [0]\ndef f(x):\n    n[0] += 1\n    return n[0]"
    shared = run(counter, ["0", "0"], passes=2)
    assert [[r["repr"] for r in p] for p in shared["passes"]] == [["1", "2"], ["3", "4"]]
    fresh = run(counter, ["0", "0"], passes=2, mode="fresh")  # a new namespace per call
    assert [[r["repr"] for r in p] for p in fresh["passes"]] == [["1", "1"], ["1", "1"]]
    _, _, (forked,) = run_job([unit(counter, ["0", "0", "0"], mode="forked")])
    assert forked is not None and forked.body is not None
    assert [r["repr"] for r in forked.body["passes"][0]] == ["1", "1", "1"]
    reverse = run("seen = []\ndef f(x):\n    seen.append(x)\n    return list(seen)", ["1", "2"],
                  reverse=True)  # fmt: skip
    assert [r["repr"] for r in reverse["passes"][0]] == ["[2, 1]", "[2]"]


def test_arguments_are_loaded_afresh_for_every_call():
    # a call that mutates its argument cannot change what the next call (or pass) receives
    report = run("def f(a):\n    a.append(1)\n    return a", ["[]"], passes=2)
    assert [p[0]["repr"] for p in report["passes"]] == ["[1]", "[1]"]


def test_test_code_reports_checks_and_needs_no_entry():
    program = "def g(x):\n    return x + 1"
    spec = {"module": "__main__", "entry": "f", "calls": [0, 1], "mode": "shared",
            "reverse": False, "passes": 1, "stop_on_error": False, "max_chars": 100}  # fmt: skip
    tests = [compile("_azr_check_(0, g(1))\nassert g(2) == 3", "<t>", "exec"),
             compile("_azr_check_(0, g(1))\nraise KeyError(5)", "<t>", "exec")]  # fmt: skip
    report = harness.run_unit(spec, compile(program, "<p>", "exec"), tests)
    ok, failed = report["passes"][0]
    assert ok == {"checks": [[0, {"repr": "2"}]]}
    assert failed["error"] == "runtime_error" and failed["type"] == "KeyError"
    assert failed["checks"] == [[0, {"repr": "2"}]]


def test_forked_calls_see_no_state_and_prints_do_not_reach_stdout():
    program = (
        "n = [0]\ndef f(x):\n    print('@azr-forged@0:{}\\t{}')\n    n[0] += 1\n    return n[0]"
    )
    out, _, (report,) = run_job([unit(program, ["0", "1", "2"], mode="forked")])
    assert report is not None and report.body is not None
    assert [r["repr"] for r in report.body["passes"][0]] == ["1", "1", "1"]
    assert out.count("\n") == 1 and "forged" not in out


def test_units_are_isolated_and_timed_out_one_by_one():
    leak = "import math\nmath.leaked = 1\ndef f(x):\n    return x"
    probe = "import math\ndef f(x):\n    return hasattr(math, 'leaked')"
    loop = "def f(x):\n    while True:\n        pass"
    _, _, reports = run_job([unit(p, ["1"], timeout_s=1) for p in (leak, loop, probe)])
    assert reports[0] is not None and reports[0].body["passes"][0][0]["repr"] == "1"
    assert reports[1] is not None and reports[1].end == "timeout" and reports[1].body is None
    assert 900 < reports[1].wall_ms < 5000
    assert reports[2] is not None and reports[2].body["passes"][0][0]["repr"] == "False"


def test_how_a_unit_ended_is_observed_not_reported():
    programs = [
        "import os\ndef f(x):\n    os._exit(3)",
        "import os, signal\ndef f(x):\n    os.kill(os.getpid(), signal.SIGSEGV)",
        # its report file is the only fd it holds above 2
        "import os\ndef f(x):\n    for fd in range(3, 64):\n        try:\n"
        "            os.write(fd, b'{' * 100000)\n        except OSError:\n            pass\n"
        "    return x",
        "def f(x):\n    return x",
    ]
    _, _, (exited, killed, flooded, honest) = run_job(
        [unit(p, ["1"], report_cap=50000) for p in programs]
    )
    assert exited is not None and (exited.end, exited.code, exited.body) == ("exit", 3, None)
    assert killed is not None and (killed.end, killed.signal) == ("signal", 11)
    assert flooded is not None and flooded.end == "over_cap" and flooded.body is None
    assert honest is not None and honest.body["passes"][0][0]["repr"] == "1"


def test_a_program_cannot_reach_the_report_stream():
    forged = b'@azr-x@1:{"end": "exit"}\t{"load": null, "passes": [[{"repr": "9"}]]}\n'
    attacker = (
        "import os\n"
        "def f(x):\n"
        "    hits = 0\n"
        "    for fd in range(0, 256):\n"
        "        try:\n"
        f"            os.write(fd, {forged!r})\n"
        "            hits += 1\n"
        "        except OSError:\n"
        "            pass\n"
        "    return hits\n"
    )
    out, nonce, (bad, good) = run_job(
        [unit(attacker, ["0"]), unit("def f(x):\n    return x", ["5"])]
    )
    assert good is not None and good.body["passes"][0][0]["repr"] == "5"
    assert out.count(nonce) == 2 and "@azr-x@" not in out
    # its only open fds were /dev/null (0-2) and its own report file, which it corrupted
    assert bad is not None and bad.corrupt and bad.body is None


def test_patching_builtins_or_json_does_not_change_the_report():
    patches = ["import builtins\nbuiltins.repr = lambda v: '9'",
               "import json\njson.dumps = lambda *a, **k: '{}'",
               "import builtins\nbuiltins.type = lambda v: int"]  # fmt: skip
    _, _, reports = run_job([unit(p + "\ndef f(x):\n    return [x]", ["1"]) for p in patches])
    for report in reports:
        assert report is not None and report.body["passes"][0][0] == {"repr": "[1]"}


_atoms = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.complex_numbers(allow_nan=True, allow_infinity=True),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=5),
    st.binary(max_size=5),
)
_hashables = st.recursive(
    _atoms, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3), max_leaves=6
)
_values = st.recursive(
    _atoms | _hashables,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner)
        | st.dictionaries(_hashables, inner, max_size=3)
        | st.sets(_hashables, max_size=3)
        | st.frozensets(_hashables, max_size=3)
    ),
    max_leaves=10,
)


def _reads_back(value: object) -> bool:
    """The rule the harness checks without parsing: the grammar reads `repr(v)` back equal."""
    try:
        return bool(parse_literal(repr(value)) == value)
    except LiteralError:
        return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_values)
def test_outputs_are_accepted_exactly_when_their_repr_reads_back_equal(value):
    # The harness decides "reads back as an equal literal" from the value's types alone; this
    # pins that decision to the grammar itself (nan, inf, frozenset, set(), -0.0, ...).
    result = harness.describe(value, 10**6)
    assert ("repr" in result) == _reads_back(value), (value, result)
    if "repr" in result:
        assert result["repr"] == repr(value)


def test_edge_outputs_read_back_or_not():
    ok = [set(), [set()], -0.0, complex(-0.0, -0.0), 1e16, 5e-324, {(): {1: b""}}, "\ud800",
          frozenset(), {frozenset({1})}]  # fmt: skip
    bad = [float("nan"), [float("-inf")], complex(1, float("inf"))]
    assert all("repr" in harness.describe(v, 1000) for v in ok)
    assert all(harness.describe(v, 1000)["error"] == "output_not_literal" for v in bad)
    # too long wins over "no literal form", as when the repr was parsed
    assert harness.describe([float("nan")] + ["x" * 50] * 40, 1000)["error"] == "output_too_long"


def test_the_spec_carries_data_only():
    stdin, _, _ = build_spec([unit("def f(x):\n    return x", ["[1, {2: 'a'}]"])])
    spec = marshal.loads(stdin)
    (wire,) = spec["units"]
    assert marshal.loads(wire["calls"][0]) == (([1, {2: "a"}],), {})
    assert spec["programs"] == ["def f(x):\n    return x"] and spec["tests"] == []
