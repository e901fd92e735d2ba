"""Toy texts are exactly the trainer's format: its parsers read every completion back."""

from __future__ import annotations

import random
import re

import pytest
from azr_trainer import parsing, prompts
from azr_trainer.toy.corpus import CorpusSpec, build_corpus
from azr_trainer.toy.oracle import SubprocessOracle
from azr_trainer.toy.tasks import make_induction_tasks, make_triplets, task_key
from azr_trainer.toy.texts import (
    GUESS_THINK,
    Example,
    induction_proposer_example,
    io_proposer_example,
    solver_example,
)


@pytest.fixture(scope="module")
def oracle() -> SubprocessOracle:
    return SubprocessOracle(trusted=True)


def test_careful_solver_answers_parse_to_the_truth(oracle: SubprocessOracle) -> None:
    rng = random.Random(0)
    for t in make_triplets(rng, 20, oracle):
        ded = solver_example(rng, "deduction", t, careful=True)
        assert ded.prompt == prompts.r1_wrap(prompts.solve_deduction_prompt(t.source, t.input))
        assert parsing.parse_solver_answer(ded.completion, "deduction") == t.output
        abd = solver_example(rng, "abduction", t, careful=True)
        assert parsing.parse_solver_answer(abd.completion, "abduction") == t.input
    for task in make_induction_tasks(rng, 5, oracle):
        ind = solver_example(rng, "induction", task, careful=True)
        assert parsing.parse_solver_answer(ind.completion, "induction") == task.source.strip()


def test_guess_answers_are_well_formed_and_marked(oracle: SubprocessOracle) -> None:
    rng = random.Random(1)
    a, b = make_triplets(rng, 2, oracle)
    ex = solver_example(rng, "deduction", a, careful=False, wrong=b)
    assert ex.completion.startswith(GUESS_THINK)
    assert parsing.parse_solver_answer(ex.completion, "deduction") == b.output
    assert not ex.correct


def test_proposals_parse_and_broken_ones_change_the_input(oracle: SubprocessOracle) -> None:
    rng = random.Random(2)
    new, r1, r2 = make_triplets(rng, 3, oracle)
    good = io_proposer_example(rng, "abduction", new, [r1, r2], valid=True)
    parsed = parsing.parse_io_proposal(good.completion)
    assert isinstance(parsed, parsing.IOProposal)
    assert (parsed.program, parsed.input) == (new.source.strip(), new.input)
    bad = io_proposer_example(rng, "abduction", new, [r1, r2], valid=False)
    broken = parsing.parse_io_proposal(bad.completion)
    assert isinstance(broken, parsing.IOProposal) and broken.input != new.input
    (task,) = make_induction_tasks(rng, 1, oracle)
    ind = induction_proposer_example(rng, task, valid=True)
    got = parsing.parse_induction_proposal(ind.completion, len(task.inputs))
    assert isinstance(got, parsing.InductionProposal)
    assert got.inputs == task.inputs and got.message == task.message


def test_corpus_mix_follows_the_spec(oracle: SubprocessOracle) -> None:
    spec = CorpusSpec(n_solver_per_type=100, n_proposer_per_type=30, careful_fraction=0.4)
    examples = build_corpus(random.Random(3), spec, oracle)
    solve = [e for e in examples if e.role == "solve"]
    propose = [e for e in examples if e.role == "propose"]
    assert len(solve) == 300 and len(propose) == 90
    assert {e.task_type for e in solve} == {e.task_type for e in propose} == set(prompts.TASK_TYPES)
    careful = sum(e.correct for e in solve) / len(solve)
    valid = sum(e.correct for e in propose) / len(propose)
    assert 0.3 < careful < 0.5
    assert 0.45 < valid < 0.75
    for e in examples:
        assert e.prompt.endswith("Assistant: <think>")
        assert not parsing.is_format_error(parsing.split_answer(e.completion))


def test_corpus_excludes_given_tasks(oracle: SubprocessOracle) -> None:
    spec = CorpusSpec(n_solver_per_type=40, n_proposer_per_type=5)
    first = build_corpus(random.Random(4), spec, oracle)

    def block(e: Example, label: str) -> str:
        return next(b.body for b in parsing.fenced_blocks(e.prompt) if b.label == label)

    ded = next(e for e in first if e.role == "solve" and e.task_type == "deduction")
    source, arg = block(ded, "python") + "\n", block(ded, "input")
    again = build_corpus(random.Random(4), spec, oracle, exclude={task_key(source, arg)})
    solved = [
        (block(e, "python") + "\n", block(e, "input"))
        for e in again
        if e.role == "solve" and e.task_type == "deduction"
    ]
    assert solved and (source, arg) not in solved


def test_prompt_tokens_are_a_prefix_of_prompt_and_completion(oracle: SubprocessOracle) -> None:
    from azr_trainer.toy.model import train_tokenizer

    spec = CorpusSpec(n_solver_per_type=30, n_proposer_per_type=8)
    examples = build_corpus(random.Random(5), spec, oracle)
    tok = train_tokenizer((e.prompt + e.completion for e in examples), 1500)
    for e in examples:
        prompt_ids = tok(e.prompt).input_ids
        assert tok(e.prompt + e.completion).input_ids[: len(prompt_ids)] == prompt_ids


def test_tiny_world_careful_answers_are_worked_and_right(oracle: SubprocessOracle) -> None:
    rng = random.Random(6)
    for t in make_triplets(rng, 20, oracle, max_steps=1, world="tiny", distinct=False):
        ded = solver_example(rng, "deduction", t, careful=True, world="tiny")
        assert f"= {t.output}." in ded.completion.split("</think>")[0]
        assert parsing.parse_solver_answer(ded.completion, "deduction") == t.output
        abd = solver_example(rng, "abduction", t, careful=True, world="tiny")
        assert parsing.parse_solver_answer(abd.completion, "abduction") == t.input


def test_tiny_world_guesses_copy_the_given_value_and_are_wrong(oracle: SubprocessOracle) -> None:
    rng = random.Random(8)
    triplets = make_triplets(rng, 40, oracle, max_steps=1, world="tiny", distinct=False)
    for t in triplets:
        for task_type, given, right in (
            ("deduction", t.input, t.output),
            ("abduction", t.output, t.input),
        ):
            ex = solver_example(rng, task_type, t, careful=False, wrong=triplets[0], world="tiny")
            assert ex.completion.startswith(GUESS_THINK) and not ex.correct
            answer = parsing.parse_solver_answer(ex.completion, task_type)
            assert answer == given and answer != right


def test_tiny_corpus_repeats_tasks_and_keeps_its_world(oracle: SubprocessOracle) -> None:
    spec = CorpusSpec(world="tiny", n_solver_per_type=200, n_proposer_per_type=40)
    examples = build_corpus(random.Random(7), spec, oracle)
    assert len(examples) == 3 * 200 + 3 * 40  # more io tasks than the world holds: repeats
    step = re.compile(r"    y = x( \+ 10| \* 10| \* 11)")
    for e in examples:
        if e.role == "solve" and e.task_type != "induction":
            program = next(b.body for b in parsing.fenced_blocks(e.prompt) if b.label == "python")
            assert step.fullmatch(program.splitlines()[1]), program
    with pytest.raises(ValueError, match="unknown toy world"):
        CorpusSpec(world="huge")  # type: ignore[arg-type]
