"""The reference's answer parsing, with its fallbacks (`answer_parsing: lenient`), next to the
strict parser of `azr_trainer.parsing`; `PARSERS` holds both behind one interface.

As the released code reads a completion (azr-reference.md sections 3 and 4.3):

- the text it judges is `<think>` + the completion up to any `Assistant:` the model writes,
  stripped of surrounding spaces and quotes; it is well-formed when it matches
  `<think>.*?</think>\\s*<answer>.*?</answer>` at its start (trailing text allowed);
- the answer is what lies between the last `<answer>` and the next `</answer>`;
- deduction/abduction proposal: the first fenced block (``` with or without `python`) is the
  program, which must define exactly one function (at any indentation; it is renamed `f`, its
  recursive calls too); the input is the first ```input block, else a `# Input:` line;
- induction proposal: the last N ```input blocks (N or more needed); the message is a
  ```message block, else `<message>` tags, else a `# Message:` line;
- solver: the last ```output/```input block, else `# Output:`/`# Input:`, `output(...)`/
  `input(...)`, `<output>`/`<input>` tags, "the output/input is ...", else the whole answer;
  induction: the last fenced block.

Inputs and answers stay data either way: the executor reads them with its literal grammar.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from azr_trainer import parsing
from azr_trainer.parsing import FormatError, InductionProposal, IOProposal

__all__ = ["PARSERS", "Parser", "reference_answer"]

_FLAGS = re.DOTALL | re.IGNORECASE
_FORMAT = re.compile(r"(?s)<think>.*?</think>\s*<answer>.*?</answer>")
_CODE = re.compile(r"```(?:python\s*)?\n?(.*?)\n?```", _FLAGS)
_DEFS = re.compile(r"^\s*def\s+(\w+)\s*\(", re.MULTILINE)


def _block(label: str) -> re.Pattern[str]:
    return re.compile(rf"```{label}\s*\n?(.*?)\n?```", _FLAGS)


def reference_answer(completion: str) -> str | FormatError:
    """The answer the reference reads from a completion (after the prompt's `<think>`)."""
    generation = (" <think>" + completion).split("Assistant:")[0].strip().strip("\"'")
    if not _FORMAT.match(generation):
        return FormatError("not <think>...</think> <answer>...</answer>")
    return generation.split("<answer>")[-1].split("</answer>")[0].strip()


def parse_io_proposal(completion: str) -> IOProposal | FormatError:
    answer = reference_answer(completion)
    if isinstance(answer, FormatError):
        return answer
    code = _CODE.search(answer)
    given = _block("input").search(answer) or re.search(
        r"# Input:\s*(.*?)(?=\n```|$)", answer, _FLAGS
    )
    if code is None or given is None:
        return FormatError("no code block or no input")
    program = code.group(1).strip()
    names = _DEFS.findall(program)
    if len(names) != 1:
        return FormatError(f"the program defines {len(names)} functions, the reference wants one")
    if names[0] != "f":
        program = re.sub(rf"def\s+{re.escape(names[0])}\s*\(", "def f(", program)
        program = re.sub(rf"\b{re.escape(names[0])}\s*\(", "f(", program)
    return IOProposal(program=program, input=given.group(1).strip())


def parse_induction_proposal(completion: str, n_inputs: int) -> InductionProposal | FormatError:
    answer = reference_answer(completion)
    if isinstance(answer, FormatError):
        return answer
    inputs = [m.group(1).strip() for m in _block("input").finditer(answer)]
    if len(inputs) < n_inputs:
        return FormatError(f"expected {n_inputs} input blocks, got {len(inputs)}")
    message = (
        _block("message").search(answer)
        or re.search(r"<message>\s*(.*?)\s*</message>", answer, _FLAGS)
        or re.search(r"# Message:\s*(.*?)(?=\n```|$)", answer, _FLAGS)
    )
    if message is None:
        return FormatError("no message")
    return InductionProposal(inputs=tuple(inputs[-n_inputs:]), message=message.group(1).strip())


def _last(answer: str, word: str) -> str:
    patterns = [
        rf"```{word}\s*\n?(.*?)\n?```",
        rf"# {word}:\s*(.*?)(?=\n```|$)",
        rf"{word}\s*\((.*?)\)",
        rf"<{word}>\s*(.*?)(?:</{word}>|\s*$)",
        rf"the {word} is\s*(.*?)\.?$",
    ]
    for pattern in patterns:
        found = list(re.finditer(pattern, answer, _FLAGS))
        if found:
            return found[-1].group(1)
    return answer


def parse_solver_answer(completion: str, task_type: str) -> str | FormatError:
    answer = reference_answer(completion)
    if isinstance(answer, FormatError):
        return answer
    if task_type == "induction":
        blocks = list(_CODE.finditer(answer))
        return blocks[-1].group(1).strip() if blocks else FormatError("no code block")
    if task_type not in ("deduction", "abduction"):
        return FormatError(f"unknown task type {task_type!r}")
    got = _last(answer, "output" if task_type == "deduction" else "input").strip()
    return got or FormatError("empty answer")


@dataclass(frozen=True)
class Parser:
    """The three parse functions the step uses."""

    io_proposal: Callable[[str], IOProposal | FormatError]
    induction_proposal: Callable[[str, int], InductionProposal | FormatError]
    solver_answer: Callable[[str, str], str | FormatError]


PARSERS = {
    "strict": Parser(
        parsing.parse_io_proposal, parsing.parse_induction_proposal, parsing.parse_solver_answer
    ),
    "lenient": Parser(parse_io_proposal, parse_induction_proposal, parse_solver_answer),
}
