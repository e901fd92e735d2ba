"""Strict parsing of model completions into typed answers, or a `FormatError` with a reason.

A completion is the text generated after the prompt's `Assistant: <think>`. It is well-formed
when it reads

    <reasoning> </think> <whitespace> <answer> <body> </answer> [anything]

with no `<answer>`/`</answer>` tag inside the reasoning. Fenced blocks inside the answer body
are ```` ```label\\n...\\n``` ````. The parse functions never raise on model text: they return
either the typed result or `FormatError(reason)`; `is_format_error` tells them apart.

Which block is taken (the choices are strict; there are no free-text fallbacks):

| function                       | needs                                  | takes            |
|--------------------------------|----------------------------------------|------------------|
| `parse_io_proposal`            | >= 1 python block, >= 1 input block    | first of each    |
| `parse_induction_proposal`     | exactly N input blocks, 1 message      | all / the one    |
| `parse_solver_answer(ded)`     | >= 1 output block                      | last             |
| `parse_solver_answer(abd)`     | >= 1 input block                       | last             |
| `parse_solver_answer(ind)`     | >= 1 python block                      | last             |

Programs must define `f` (`def f(`); inputs and outputs must be non-empty. Whether a program
runs, or an input parses as an argument list, is the executor's call, not a format matter.
Public, stable names: `FormatError`, `Answer`, `IOProposal`, `InductionProposal`,
`split_answer`, `fenced_blocks`, `parse_io_proposal`, `parse_induction_proposal`,
`parse_solver_answer`, `is_format_error`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeGuard

__all__ = [
    "Answer",
    "Block",
    "FormatError",
    "IOProposal",
    "InductionProposal",
    "fenced_blocks",
    "is_format_error",
    "parse_induction_proposal",
    "parse_io_proposal",
    "parse_solver_answer",
    "split_answer",
]


@dataclass(frozen=True)
class FormatError:
    """The completion does not follow the answer format; `reason` says how (a value, not raised)."""

    reason: str


@dataclass(frozen=True)
class Answer:
    """A well-formed completion split into its reasoning and its answer body."""

    think: str
    answer: str


@dataclass(frozen=True)
class Block:
    """One fenced block: its label (`python`, `input`, ...; may be empty) and its stripped body."""

    label: str
    body: str


@dataclass(frozen=True)
class IOProposal:
    """A deduction or abduction proposal: a program and one input (argument list)."""

    program: str
    input: str


@dataclass(frozen=True)
class InductionProposal:
    """An induction proposal: N inputs for a given program and a message for the solver."""

    inputs: tuple[str, ...]
    message: str


def is_format_error(value: object) -> TypeGuard[FormatError]:
    """True when a parse function returned a `FormatError`."""
    return isinstance(value, FormatError)


_THINK_CLOSE = "</think>"
_ANSWER_OPEN = "<answer>"
_ANSWER_CLOSE = "</answer>"
# A fence opens at the start of a line with ``` and a label, and closes at a line of ```.
_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_]*)[ \t]*\n(.*?)\n?[ \t]*```[ \t]*$", re.S | re.M)
_DEFINES_F = re.compile(r"^\s*(?:async\s+)?def\s+f\s*\(", re.M)


def split_answer(completion: str) -> Answer | FormatError:
    """Check the `... </think> <answer> ... </answer>` shape and split it.

    >>> split_answer("plan </think>\\n<answer>x</answer>")
    Answer(think='plan', answer='x')
    """
    if not isinstance(completion, str):
        return FormatError("completion is not text")
    text = completion
    # The prompt ends with "<think>"; tolerate the model repeating it once at the very start.
    if text.lstrip().startswith("<think>"):
        text = text.lstrip()[len("<think>") :]
    end_think = text.find(_THINK_CLOSE)
    if end_think < 0:
        return FormatError("no </think>")
    think = text[:end_think]
    if _ANSWER_OPEN in think or _ANSWER_CLOSE in think:
        return FormatError("<answer> tag inside the reasoning")
    if "<think>" in think:
        return FormatError("nested <think>")
    rest = text[end_think + len(_THINK_CLOSE) :].lstrip()
    if not rest.startswith(_ANSWER_OPEN):
        return FormatError("</think> is not followed by <answer>")
    rest = rest[len(_ANSWER_OPEN) :]
    end_answer = rest.find(_ANSWER_CLOSE)
    if end_answer < 0:
        return FormatError("no </answer>")
    body = rest[:end_answer]
    if _ANSWER_OPEN in body:
        return FormatError("nested <answer>")
    if not body.strip():
        return FormatError("empty answer")
    return Answer(think=think.strip(), answer=body.strip())


def fenced_blocks(text: str) -> list[Block]:
    """All fenced blocks of `text`, in order, with lower-cased labels and stripped bodies."""
    return [Block(m.group(1).lower(), m.group(2).strip()) for m in _FENCE.finditer(text)]


def _blocks(blocks: list[Block], *labels: str) -> list[str]:
    return [b.body for b in blocks if b.label in labels]


def _program_blocks(blocks: list[Block]) -> list[str]:
    # An unlabelled fence counts as code, as in the reference (```python is optional there).
    return _blocks(blocks, "python", "py", "")


def _check_program(program: str) -> FormatError | None:
    if not program:
        return FormatError("empty python block")
    if not _DEFINES_F.search(program):
        return FormatError("the program does not define f")
    return None


def _check_input(value: str, what: str) -> FormatError | None:
    if not value:
        return FormatError(f"empty {what} block")
    if "\n" in value.strip():
        return FormatError(f"the {what} spans several lines")
    return None


def parse_io_proposal(completion: str) -> IOProposal | FormatError:
    """Parse a deduction/abduction proposal: the first ```python and the first ```input block."""
    answer = split_answer(completion)
    if isinstance(answer, FormatError):
        return answer
    blocks = fenced_blocks(answer.answer)
    programs = _program_blocks(blocks)
    inputs = _blocks(blocks, "input")
    if not programs:
        return FormatError("no python block in the answer")
    if not inputs:
        return FormatError("no input block in the answer")
    error = _check_program(programs[0]) or _check_input(inputs[0], "input")
    if error is not None:
        return error
    return IOProposal(program=programs[0], input=inputs[0])


def parse_induction_proposal(completion: str, n_inputs: int) -> InductionProposal | FormatError:
    """Parse an induction proposal: exactly `n_inputs` ```input blocks and one ```message."""
    answer = split_answer(completion)
    if isinstance(answer, FormatError):
        return answer
    blocks = fenced_blocks(answer.answer)
    inputs = _blocks(blocks, "input")
    messages = _blocks(blocks, "message")
    if len(inputs) != n_inputs:
        return FormatError(f"expected {n_inputs} input blocks, got {len(inputs)}")
    for value in inputs:
        error = _check_input(value, "input")
        if error is not None:
            return error
    if len(messages) != 1:
        return FormatError(f"expected 1 message block, got {len(messages)}")
    if not messages[0]:
        return FormatError("empty message block")
    return InductionProposal(inputs=tuple(inputs), message=messages[0])


def parse_solver_answer(completion: str, task_type: str) -> str | FormatError:
    """Parse a solver answer: the last ```output (deduction), ```input (abduction) or
    ```python (induction) block inside <answer>.
    """
    answer = split_answer(completion)
    if isinstance(answer, FormatError):
        return answer
    blocks = fenced_blocks(answer.answer)
    if task_type == "deduction":
        found = _blocks(blocks, "output")
        if not found:
            return FormatError("no output block in the answer")
        return found[-1] or FormatError("empty output block")
    if task_type == "abduction":
        found = _blocks(blocks, "input")
        if not found:
            return FormatError("no input block in the answer")
        return _check_input(found[-1], "input") or found[-1]
    if task_type == "induction":
        found = _program_blocks(blocks)
        if not found:
            return FormatError("no python block in the answer")
        return _check_program(found[-1]) or found[-1]
    return FormatError(f"unknown task type {task_type!r}")
