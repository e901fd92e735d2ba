"""The grammar writes valid, diverse programs whose outputs the oracle computes."""

from __future__ import annotations

import ast
import random

import pytest
from azr_trainer import parsing
from azr_trainer.toy.grammar import random_input, sample_program
from azr_trainer.toy.oracle import Job, SubprocessOracle
from azr_trainer.toy.tasks import make_induction_tasks, make_triplets


@pytest.fixture(scope="module")
def oracle() -> SubprocessOracle:
    return SubprocessOracle(trusted=True)


def test_subprocess_oracle_refuses_without_trust() -> None:
    with pytest.raises(ValueError, match="not a sandbox"):
        SubprocessOracle()


def test_programs_parse_and_define_f() -> None:
    rng = random.Random(0)
    for _ in range(300):
        prog = sample_program(rng)
        for trace in (False, True):
            tree = ast.parse(prog.source(trace=trace))
            names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
            assert names[-1] == "f"
            assert len(names) == 1 + len(prog.helpers)


def test_grammar_covers_every_construct() -> None:
    rng = random.Random(1)
    sources = "\n".join(sample_program(rng).source() for _ in range(400))
    for construct in ("if ", "for ", "def g(", ".items()", "sorted(", ".upper()", " % ", "[::-1]"):
        assert construct in sources, construct


def test_same_seed_same_programs() -> None:
    a = [sample_program(random.Random(5)).source() for _ in range(3)]
    b = [sample_program(random.Random(5)).source() for _ in range(3)]
    assert a == b


def test_inputs_are_literals_of_their_kind() -> None:
    rng = random.Random(2)
    kinds = {"int": int, "str": str, "list": list, "dict": dict}
    for kind, typ in kinds.items():
        for _ in range(20):
            assert isinstance(ast.literal_eval(random_input(rng, kind)), typ)  # type: ignore[arg-type]


def test_triplets_carry_the_oracle_output_and_trace(oracle: SubprocessOracle) -> None:
    triplets = make_triplets(random.Random(3), 40, oracle)
    assert len(triplets) == 40
    assert len({(t.source, t.input) for t in triplets}) == 40
    results = oracle.run([Job(t.source, (t.input,)) for t in triplets])
    for t, (r,) in zip(triplets, results, strict=True):
        assert r.ok and r.output == t.output
        assert t.trace[-1] == t.output
        assert len(t.trace) == len(t.program.steps)


def test_oracle_reports_errors_as_data(oracle: SubprocessOracle) -> None:
    (res,) = oracle.run([Job("def f(x):\n    return 1 // x\n", ("1", "0", "'a'"))])
    assert res[0].ok and res[0].output == "1"
    assert not res[1].ok and "ZeroDivisionError" in res[1].error
    assert not res[2].ok and "TypeError" in res[2].error


def test_induction_tasks_have_distinct_inputs_and_varied_outputs(oracle: SubprocessOracle) -> None:
    tasks = make_induction_tasks(random.Random(4), 20, oracle, n_inputs=6)
    for t in tasks:
        assert len(t.inputs) == len(set(t.inputs)) == 6
        assert len(set(t.outputs)) >= 2
        assert t.n_shown == 3
        assert t.message.startswith("Given a ")
        assert parsing.fenced_blocks(f"```python\n{t.source}```")[0].label == "python"


def test_tiny_world_is_one_line_steps_on_small_domains(oracle: SubprocessOracle) -> None:
    rng = random.Random(6)
    sources = set()
    for _ in range(100):
        prog = sample_program(rng, max_steps=1, world="tiny")
        assert prog.kind == "int" and len(prog.steps) == 1 and not prog.helpers
        assert prog.steps[0].inverse is not None
        sources.add(prog.source())
        assert 1 <= ast.literal_eval(random_input(rng, prog.kind, "tiny")) <= 9
    assert len(sources) == 3  # x + 10, x * 10, x * 11: the whole world
    # Lists are the tiny world's wrong-kind arguments (invalid proposals): distinct digits.
    value = ast.literal_eval(random_input(rng, "list", "tiny"))
    assert 2 <= len(value) <= 3 and len(set(value)) == len(value)
    with pytest.raises(ValueError, match="unknown toy world"):
        sample_program(rng, world="huge")  # type: ignore[arg-type]


def test_tiny_world_inverse_gives_the_input_back(oracle: SubprocessOracle) -> None:
    for t in make_triplets(random.Random(7), 60, oracle, max_steps=1, world="tiny", distinct=False):
        (step,) = t.program.steps
        assert repr(eval(step.worked(t.input))) == t.output  # the worked deduction
        assert repr(eval(step.worked_inverse(t.output))) == t.input  # the worked abduction
