"""The in-sandbox harness, exercised in-process (sequential mode) and as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

from azr_executor.azr import harness
from azr_executor.azr.jobs import HARNESS_SOURCE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def run(program: str, calls: list[str], **spec):
    full = {"program": program, "entry": "f", "calls": calls, "mode": "sequential",
            "passes": 1, "stop_on_error": False, "max_output_chars": 1000} | spec  # fmt: skip
    return harness.run(full)


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
    results = run(program, ["998", "999", "-1", "10**6"], max_output_chars=1000)["passes"][0]
    assert results[0]["repr"] == "'" + "x" * 998 + "'"
    assert [r.get("error") for r in results[1:]] == [
        "output_too_long",
        "output_not_literal",  # self-referential: deeper than any literal
        "output_too_long",
    ]
    huge_int = run("def f(n):\n    return 7 ** n", ["100000"])["passes"][0][0]
    assert huge_int["error"] == "output_too_long"


def test_input_errors_and_load_errors_are_told_apart():
    assert (
        run("def f(x):\n    return x", ["undefined_name"])["passes"][0][0]["error"] == "input_error"
    )
    assert (
        run("raise ValueError('at load')\ndef f(x):\n    return x", ["1"])["load"]["error"]
        == "program_error"
    )
    assert run("f = 3", ["1"])["load"]["error"] == "program_error"


def test_second_pass_reveals_state():
    report = run("n = [0]\ndef f(x):\n    n[0] += 1\n    return n[0]", ["0"], passes=2)
    assert [p[0]["repr"] for p in report["passes"]] == ["1", "2"]


def run_job(units: list[dict], unit_timeout_s: float = 30) -> tuple[str, list[dict]]:
    units = [
        {"entry": "f", "mode": "forked", "passes": 1, "stop_on_error": False} | u for u in units
    ]
    spec = {
        "nonce": "N0NCE:",
        "max_output_chars": 1000,
        "unit_timeout_s": unit_timeout_s,
        "units": units,
    }
    proc = subprocess.run(
        [sys.executable, "-I", "-c", HARNESS_SOURCE], input=json.dumps(spec).encode(),
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    out = proc.stdout.decode()
    lines = [ln for ln in out.split("\n") if ln.startswith("N0NCE:")]
    reports = []
    for line in lines:  # N0NCE:<unit>:<the unit's JSON>
        index, _, body = line[len("N0NCE:") :].partition(":")
        reports.append({"unit": int(index)} | json.loads(body))
    return out, reports


def test_forked_calls_see_no_state_and_prints_do_not_reach_stdout():
    forged = 'N0NCE:0:{"load": null, "passes": [[{"repr": "9"}]]}'
    program = f"n = [0]\ndef f(x):\n    print({forged!r})\n    n[0] += 1\n    return n[0]"
    out, reports = run_job([{"program": program, "calls": ["0", "1", "2"]}])
    assert [r["repr"] for r in reports[0]["passes"][0]] == ["1", "1", "1"]
    assert out.count("N0NCE:") == 1  # the program's forged line never reached stdout


def test_units_are_isolated_and_timed_out_one_by_one():
    leak = "import math\nmath.leaked = 1\ndef f(x):\n    return x"
    probe = "import math\ndef f(x):\n    return hasattr(math, 'leaked')"
    loop = "def f(x):\n    while True:\n        pass"
    _, reports = run_job(
        [{"program": p, "calls": ["1"], "mode": "sequential"} for p in (leak, loop, probe)],
        unit_timeout_s=1,
    )
    assert [r["unit"] for r in reports] == [0, 1, 2]
    assert reports[0]["passes"][0][0]["repr"] == "1"
    assert reports[1]["load"]["error"] == "timeout"
    assert reports[2]["passes"][0][0]["repr"] == "False"  # no state leaked from unit 0


def test_a_program_cannot_reach_the_report_stream():
    forged = b'N0NCE:1:{"load": null, "passes": [[{"repr": "9"}]]}\n'
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
    honest = "def f(x):\n    return x"
    out, reports = run_job([{"program": attacker, "calls": ["0"], "mode": "sequential"},
                            {"program": honest, "calls": ["5"], "mode": "sequential"}])  # fmt: skip
    assert [r["unit"] for r in reports] == [0, 1]
    assert reports[1]["passes"][0][0]["repr"] == "5"
    assert out.count("N0NCE:1:") == 1
    # its only open fds were /dev/null (1, 2) and its own pipe, which it corrupted
    assert reports[0]["load"]["error"] == "crashed"


def _reads_back(value: object) -> bool:
    """The rule the harness checks without parsing: `ast.literal_eval(repr(v)) == v`."""
    import ast

    try:
        return bool(ast.literal_eval(repr(value)) == value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_values)
def test_outputs_are_accepted_exactly_when_their_repr_reads_back_equal(value):
    # The harness decides "reads back as an equal literal" from the value's types alone; this
    # pins that decision to ast.literal_eval itself (nan, inf, frozenset, set(), -0.0, ...).
    result = harness._describe(value, 10**6)
    assert ("repr" in result) == _reads_back(value), (value, result)
    if "repr" in result:
        assert result["repr"] == repr(value)


def test_edge_outputs_read_back_or_not():
    ok = [set(), [set()], -0.0, complex(-0.0, -0.0), 1e16, 5e-324, {(): {1: b""}}, "\ud800"]
    bad = [float("nan"), [float("-inf")], complex(1, float("inf")), frozenset(), {frozenset()}]
    assert all("repr" in harness._describe(v, 1000) for v in ok)
    assert all(harness._describe(v, 1000)["error"] == "output_not_literal" for v in bad)
    # too long wins over "no literal form", as when the repr was parsed
    assert harness._describe([float("nan")] + ["x" * 50] * 40, 1000)["error"] == "output_too_long"


def test_units_of_a_job_share_compiled_inputs():
    # The answers to one task run on the same inputs: each distinct input is compiled once per
    # job, and every unit still gets its own results (errors included).
    unit = {"entry": "f", "mode": "sequential", "passes": 1, "stop_on_error": False,
            "max_output_chars": 1000}  # fmt: skip
    first = unit | {"program": "def f(x):\n    return x + 1", "calls": ["1", "2", "1)"]}
    second = unit | {"program": "def f(x):\n    return x * 10", "calls": ["2", "1)", "1"]}
    inputs: dict = {}
    one, two = harness.prepare(first, inputs), harness.prepare(second, inputs)
    assert sorted(inputs) == ["1", "1)", "2"]
    assert one[0][0] is two[0][2] and one[0][1] is two[0][0]  # compiled once, shared
    a, b = harness.run(first, one), harness.run(second, two)
    assert [r.get("repr") for r in a["passes"][0]] == ["2", "3", None]
    assert [r.get("repr") for r in b["passes"][0]] == ["20", None, "10"]
    assert a["passes"][0][2]["error"] == b["passes"][0][1]["error"] == "input_error"
    assert harness.run(first) == a  # the same report as without sharing
