"""AZR validation, verification and learnability against a real (subprocess) runner.

Each test here would fail on the reference's behaviour (spec/azr-reference.md 10.7): the test
names say which quirk it pins.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from azr_executor.azr import score_learnability, validate_proposals, verify_items
from azr_executor.azr.learnability import learnability_reward
from azr_proto.azr import (
    ExecutionOptions,
    LearnabilityItem,
    LearnabilityOptions,
    Proposal,
    Reason,
    Task,
    ValidationStatus,
    Verdict,
    VerifyItem,
    VerifyOptions,
)

IDENTITY = "def f(a):\n    return a"


def ded(program: str, inp: str) -> Proposal:
    return Proposal(task_type="deduction", program=program, inputs=[inp])


async def test_validation_quirks_are_fixed(runner):
    cases = {
        # exceptions whose names lack "Error" were valid in the reference, with output ''
        "custom_exception": (
            ded("class Oops(Exception): pass\ndef f(x):\n    raise Oops()", "1"),
            Reason.RUNTIME_ERROR,
        ),
        "stop_iteration": (ded("def f(x):\n    return next(iter([]))", "1"), Reason.RUNTIME_ERROR),
        "system_exit": (ded("def f(x):\n    raise SystemExit(0)", "1"), Reason.RUNTIME_ERROR),
        # an in-process double call misses hash-seed dependence
        "hash_seed": (ded("def f(x):\n    return hash(x)", "'abc'"), Reason.NONDETERMINISTIC),
        "set_order": (
            ded("def f(n):\n    return list({str(i) for i in range(n)})", "30"),
            Reason.NONDETERMINISTIC,
        ),
        # global state between calls
        "global_counter": (
            ded("n = [0]\ndef f(x):\n    n[0] += 1\n    return x + n[0]", "1"),
            Reason.STATE_DEPENDENT,
        ),
        "mutable_default": (
            ded("def f(x, acc=[]):\n    acc.append(x)\n    return len(acc)", "1"),
            Reason.STATE_DEPENDENT,
        ),
        # import-only banned-word check with ineffective dotted entries
        "import_os_path": (
            ded("import os.path\ndef f(x):\n    return x", "1"),
            Reason.POLICY_VIOLATION,
        ),
        "dunder_import": (
            ded("def f(x):\n    return __import__('os').getcwd()", "1"),
            Reason.POLICY_VIOLATION,
        ),
        "import_sys": (ded("import sys\ndef f(x):\n    return x", "1"), Reason.POLICY_VIOLATION),
        # input injection (the reference evals the last line)
        "newline_injection": (ded(IDENTITY, "1)\nTrue or f(1"), Reason.BAD_INPUT),
        # outputs: the reference truncated at 400 chars and accepted any repr
        "too_long": (ded("def f(n):\n    return 'x' * n", "2000"), Reason.OUTPUT_TOO_LONG),
        "object_repr": (
            ded("class A: pass\ndef f(x):\n    return A()", "1"),
            Reason.OUTPUT_NOT_LITERAL,
        ),
        "timeout": (ded("def f(x):\n    while True:\n        pass", "1"), Reason.TIMEOUT),
    }
    proposals = [p for p, _ in cases.values()]
    results = await validate_proposals(runner, proposals, ExecutionOptions(timeout_s=2))
    got = {name: r.reason for name, r in zip(cases, results, strict=True)}
    assert got == {name: reason for name, (_, reason) in cases.items()}
    assert all(r.status is ValidationStatus.INVALID and r.message for r in results)


async def test_valid_proposals_keep_exact_outputs(runner):
    proposals = [
        # 500 characters: the reference cut this to 200 + '...' + 200
        ded("def f(n):\n    return 'ab' * n", "249"),
        # helper functions and classes (the reference rejected a second `def`)
        ded("class Box:\n    def __init__(self, v):\n        self.v = v\n\ndef g(b):\n    return b.v * 2\n\ndef f(x):\n    return g(Box(x))", "21"),
        # `parse_input(` was refused by the reference's substring check
        ded("def parse_input(s):\n    return s.split(',')\n\ndef f(s):\n    return parse_input(s)", "'a,b'"),
        # a set output compares by value across hash seeds
        ded("def f(n):\n    return {str(i) for i in range(n)}", "20"),
        Proposal(task_type="induction", program="def f(a, b=0):\n    return sorted(a)[b:]",
                 inputs=["[3, 1, 2]", "[5, 4], 1", "[], b=0", "'cba'"], message="sort"),
    ]  # fmt: skip
    results = await validate_proposals(runner, proposals, ExecutionOptions())
    assert [r.status for r in results] == [ValidationStatus.VALID] * 5, results
    assert results[0].outputs == ["'" + "ab" * 249 + "'"]
    assert results[1].outputs == ["42"]
    assert results[2].outputs == ["['a', 'b']"]
    assert ast.literal_eval(results[3].outputs[0]) == {str(i) for i in range(20)}
    assert results[4].outputs == ["[1, 2, 3]", "[5]", "[]", "['a', 'b', 'c']"]


async def test_induction_needs_a_message(runner):
    proposal = Proposal(task_type="induction", program=IDENTITY, inputs=["1", "2"], message="  ")
    (result,) = await validate_proposals(runner, [proposal], ExecutionOptions())
    assert result.reason is Reason.MISSING_MESSAGE


async def test_induction_state_between_inputs_is_caught(runner):
    program = "seen = set()\ndef f(x):\n    seen.add(x)\n    return len(seen)"
    proposal = Proposal(task_type="induction", program=program, inputs=["1", "2", "3"], message="m")
    (result,) = await validate_proposals(runner, [proposal], ExecutionOptions())
    assert result.reason is Reason.STATE_DEPENDENT


async def test_deduction_answers_compare_by_value_without_running(runner, tmp_path: Path):
    task = Task(task_type="deduction", program=IDENTITY, inputs=["1"], outputs=["1"])
    marker = tmp_path / "pwned"
    answers = ["1", "1.0", "True", " 1 ", "2", "(1,)", f"open({str(marker)!r}, 'w')", "1 +"]
    (verdicts,) = await verify_items(
        runner, [VerifyItem(task=task, answers=answers)], VerifyOptions()
    )
    assert [v.verdict for v in verdicts] == [
        Verdict.CORRECT, Verdict.CORRECT, Verdict.CORRECT, Verdict.CORRECT,
        Verdict.INCORRECT, Verdict.INCORRECT, Verdict.INVALID, Verdict.INVALID,
    ]  # fmt: skip
    assert not marker.exists()  # the reference eval-ed answers in the trainer process
    tuple_task = Task(
        task_type="deduction", program=IDENTITY, inputs=["(1, 2)"], outputs=["(1, 2)"]
    )
    (verdicts,) = await verify_items(
        runner, [VerifyItem(task=tuple_task, answers=["[1, 2]", "(1, 2)"])], VerifyOptions()
    )
    assert [v.verdict for v in verdicts] == [Verdict.INCORRECT, Verdict.CORRECT]


async def test_abduction_and_induction_resist_always_equal_objects(runner):
    abduction = Task(task_type="abduction", program=IDENTITY, inputs=["5"], outputs=["5"])
    cheat = "type('A', (), {'__eq__': lambda s, o: True, '__hash__': lambda s: 0})()"
    answers = ["5", "5.0", "6", cheat, "1)\nTrue or f(1", "while True: pass", "[5][0]"]
    induction = Task(
        task_type="induction", program="def f(x):\n    return x * 2",
        inputs=["1", "2", "3", "4"], outputs=["2", "4", "6", "8"], message="double",
    )  # fmt: skip
    programs = [
        "def f(x):\n    return x + x",
        "def f(x):\n    return 2 * x if x < 4 else 0",
        "class A:\n    def __eq__(self, o):\n        return True\ndef f(x):\n    return A()",
        "import os\ndef f(x):\n    return x * 2",
        "def g(x):\n    return x",
    ]
    items = [
        VerifyItem(task=abduction, answers=answers),
        VerifyItem(task=induction, answers=programs),
    ]
    abd, ind = await verify_items(runner, items, VerifyOptions())
    # answers are data: an object built by a call, or `[5][0]`, is code and never runs
    assert [v.verdict for v in abd] == [
        Verdict.CORRECT, Verdict.CORRECT, Verdict.INCORRECT, Verdict.INVALID,
        Verdict.INVALID, Verdict.INVALID, Verdict.INVALID,
    ]  # fmt: skip
    assert abd[3].reason is abd[6].reason is Reason.BAD_INPUT
    assert [v.verdict for v in ind] == [
        Verdict.CORRECT, Verdict.INCORRECT, Verdict.INCORRECT, Verdict.INVALID, Verdict.INVALID,
    ]  # fmt: skip
    assert [v.reason for v in ind[2:]] == [
        Reason.OUTPUT_NOT_LITERAL,
        Reason.POLICY_VIOLATION,
        Reason.MISSING_ENTRY,
    ]
    # the fraction rule gives partial credit: hidden pairs are inputs 2 and 3 (x=3 passes, x=4 fails)
    (fractions,) = await verify_items(
        runner,
        [VerifyItem(task=induction, answers=programs[:2])],
        VerifyOptions(induction_rule="fraction"),
    )
    assert [v.score for v in fractions] == [1.0, 0.5]


async def test_a_looping_abduction_answer_does_not_sink_the_others(runner):
    program = "def f(n):\n    while n > 10:\n        pass\n    return n"
    task = Task(task_type="abduction", program=program, inputs=["3"], outputs=["3"])
    (verdicts,) = await verify_items(
        runner, [VerifyItem(task=task, answers=["3", "11", "3.0"])], VerifyOptions(timeout_s=1)
    )
    assert [v.verdict for v in verdicts] == [Verdict.CORRECT, Verdict.INCORRECT, Verdict.CORRECT]
    assert verdicts[1].reason is Reason.TIMEOUT


@pytest.mark.parametrize(
    ("rate", "extreme", "reward"),
    [
        (0.0, 0.0, 0.0),
        (1.0, 0.0, 0.0),
        (0.25, 0.0, 0.75),
        (0.0, -0.5, -0.5),
        (1.0, -0.5, -0.5),
        (0.5, -0.5, 0.5),
    ],
)
def test_learnability_reward(rate, extreme, reward):
    assert learnability_reward(rate, extreme) == reward


async def test_learnability_solve_rate(runner):
    task = Task(task_type="deduction", program=IDENTITY, inputs=["[1]"], outputs=["[1]"])
    answers = ["[1]", "[1]", "[2]", "(1,)", "[1.0]", "x", "[1]", "[]"]
    items = [
        LearnabilityItem(task=task, answers=answers),
        LearnabilityItem(task=task, answers=["[1]"] * 8),
    ]
    mixed, solved = await score_learnability(
        runner, items, LearnabilityOptions(extreme_reward=-0.5)
    )
    assert mixed.solve_rate == 0.5 and mixed.reward == 0.5
    assert solved.solve_rate == 1.0 and solved.reward == -0.5


# Validation still rejects programs whose outputs depend on the order or the number of calls,
# whatever the state is kept in (issue 20: B runs a fresh exec per call in reverse order, in one
# process, instead of a fork per input). Each program is right on a fresh load, wrong after
# other calls.
ORDER_AND_COUNT = {
    # a counter in the program's namespace: A's second pass differs
    "global_counter": ("calls = [0]\ndef f(x):\n    calls[0] += 1\n    return x + calls[0]",
                       Reason.STATE_DEPENDENT),
    # the first call wins, in the program's namespace: A's passes agree, B's fresh execs do not
    "first_call_wins": ("seen = []\ndef f(x):\n    seen.append(x)\n    return seen[0] + x",
                        Reason.NONDETERMINISTIC),
    # the same two kept as attributes of an imported module, which a fresh exec does not reset
    # (a module is used only through its attributes: the policy refuses `hasattr(string, ...)`)
    "module_counter": ("import string\ndef f(x):\n    try:\n        string.n += 1\n"
                       "    except AttributeError:\n        string.n = 1\n    return x + string.n",
                       Reason.STATE_DEPENDENT),
    "module_first_call_wins": ("import string\ndef f(x):\n    try:\n        first = string.first\n"
                               "    except AttributeError:\n        first = string.first = x\n"
                               "    return first + x", Reason.NONDETERMINISTIC),
    # an input that sets what a later one reads (order: x == 3 must come first)
    "one_input_sets_another": ("import string\ndef f(x):\n    if x == 3:\n        string.mark = 2\n"
                               "    try:\n        return x * string.mark\n"
                               "    except AttributeError:\n        return x",
                               Reason.NONDETERMINISTIC),
    # a cache filled by the calls made before (lru_cache on a module-level function)
    "cache_counts": ("import functools\nhits = []\n@functools.lru_cache\ndef g(x):\n"
                     "    hits.append(x)\n    return len(hits)\ndef f(x):\n    return g(x % 2)",
                     Reason.NONDETERMINISTIC),
}  # fmt: skip


@pytest.mark.parametrize("fresh", [False, True])
async def test_order_and_call_count_dependent_programs_are_rejected(runner, fresh):
    names = list(ORDER_AND_COUNT)
    proposals = [
        Proposal(task_type="induction", program=ORDER_AND_COUNT[n][0], inputs=["3", "1", "2", "5"],
                 message="m")
        for n in names
    ]  # fmt: skip
    options = ExecutionOptions(fresh_process_per_call=fresh)
    results = await validate_proposals(runner, proposals, options)
    got = {n: (r.status, r.reason) for n, r in zip(names, results, strict=True)}
    assert got == {n: (ValidationStatus.INVALID, ORDER_AND_COUNT[n][1]) for n in names}
