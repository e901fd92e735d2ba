"""Prompts: the R1 wrapper, the contents each role needs, and round trips through the parser."""

from __future__ import annotations

import pytest
from azr_trainer.parsing import (
    IOProposal,
    fenced_blocks,
    parse_io_proposal,
    parse_solver_answer,
)
from azr_trainer.prompts import (
    DEFAULT_BANNED_WORDS,
    INDUCTION_PLACEHOLDER,
    Snippet,
    propose_induction_prompt,
    propose_io_prompt,
    r1_wrap,
    solve_abduction_prompt,
    solve_deduction_prompt,
    solve_induction_prompt,
)

ZERO = Snippet(program="def f(a):\n    return a", input='"Hello world"', output="'Hello world'")


def test_r1_wrap_puts_prompt_after_user_and_ends_in_think():
    text = r1_wrap("solve this")
    assert text.startswith("A conversation between User and Assistant.")
    assert "<think> </think> and <answer> </answer>" in text
    assert text.endswith("\nUser: solve this\nAssistant: <think>")


@pytest.mark.parametrize("task_type", ["deduction", "abduction"])
def test_io_proposer_prompt_carries_every_reference(task_type):
    refs = [ZERO, Snippet("def f(x):\n    return x * 2", "3", "6")]
    text = propose_io_prompt(task_type, refs)
    assert f"Propose a new {task_type} task" in text
    assert text.count("<snippet_") == 2
    assert "</snippet_1>" in text
    assert "return x * 2" in text
    assert "```output\n6\n```" in text
    for word in DEFAULT_BANNED_WORDS:
        assert word in text


def test_io_proposer_prompt_rejects_induction():
    with pytest.raises(ValueError, match="deduction"):
        propose_io_prompt("induction", [ZERO])


def test_io_proposer_prompt_format_example_parses():
    # The example in the prompt must itself be a valid answer shape, or we teach a bad format.
    text = propose_io_prompt("deduction", [ZERO])
    example = text[text.index("<answer>\n```python") : text.index("</answer>") + len("</answer>")]
    got = parse_io_proposal("plan </think>\n" + example)
    assert isinstance(got, IOProposal)
    assert got.input == "'John', {'age': 20, 'city': 'New York'}"


def test_induction_proposer_prompt_shows_program_with_placeholder():
    text = propose_induction_prompt(ZERO.program, 10)
    assert "Exactly 10 inputs" in text
    assert f"return a\n\n{INDUCTION_PLACEHOLDER}" in text
    assert "```message" in text


def test_induction_proposer_needs_two_inputs():
    with pytest.raises(ValueError):
        propose_induction_prompt(ZERO.program, 1)


def test_deduction_solver_prompt_shows_program_and_input_not_output():
    text = solve_deduction_prompt(ZERO.program, ZERO.input)
    blocks = {b.label: b.body for b in fenced_blocks(text)}
    assert blocks["python"] == ZERO.program
    assert blocks["input"] == ZERO.input
    assert "'Hello world'" not in text.replace(ZERO.input, "")


def test_abduction_solver_prompt_shows_output():
    text = solve_abduction_prompt(ZERO.program, ZERO.output)
    blocks = {b.label: b.body for b in fenced_blocks(text)}
    assert blocks["output"] == ZERO.output
    assert "input" not in blocks or blocks["input"] == "<the input>"


def test_induction_solver_prompt_numbers_pairs_and_hides_program():
    text = solve_induction_prompt([("1", "1"), ("'a'", "'a'")], "returns its input")
    labels = [b.label for b in fenced_blocks(text)]
    assert labels[-4:] == ["input_0", "output_0", "input_1", "output_1"]
    assert "return a" not in text
    assert "returns its input" in text


@pytest.mark.parametrize(
    ("task_type", "block"),
    [("deduction", "output"), ("abduction", "input"), ("induction", "python")],
)
def test_solver_prompt_answer_format_matches_the_parser(task_type, block):
    prompts = {
        "deduction": solve_deduction_prompt(ZERO.program, ZERO.input),
        "abduction": solve_abduction_prompt(ZERO.program, ZERO.output),
        "induction": solve_induction_prompt([("1", "1")], "identity"),
    }
    assert f"```{block}\n" in prompts[task_type]
    body = "def f(a):\n    return a" if block == "python" else "'x'"
    completion = f"think </think>\n<answer>\n```{block}\n{body}\n```\n</answer>"
    assert parse_solver_answer(completion, task_type) == body
