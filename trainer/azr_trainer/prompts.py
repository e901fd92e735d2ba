"""Prompt text for the six AZR roles, wrapped in the paper's R1 template.

Every prompt the trainer sends to the model (proposer and solver, trained and learnability
rollouts, seeding) is `r1_wrap(<role prompt>)`: the R1 conversation preamble, then
`User: <role prompt>` and a line `Assistant: <think>`, so generation starts inside the think
block. The model is expected to answer

    ... reasoning ... </think>
    <answer>
    <fenced blocks>
    </answer>

and `azr_trainer.parsing` reads the fenced blocks back. The blocks each role must write:

| role                               | blocks inside <answer>                               |
|------------------------------------|------------------------------------------------------|
| deduction / abduction proposer     | one ```python (program, entry `f`) then one ```input |
| induction proposer                 | N ```input blocks then one ```message                |
| deduction solver                   | one ```output                                        |
| abduction solver                   | one ```input                                         |
| induction solver                   | one ```python (program, entry `f`)                   |

An input is the argument list exactly as written inside `f(...)` (e.g. `'abc', [1, 2]`); an
output is the `repr` of the return value. Public, stable names: `R1_TEMPLATE`, `r1_wrap`,
`Snippet`, `DEFAULT_BANNED_WORDS`, `propose_io_prompt`, `propose_induction_prompt`,
`solve_deduction_prompt`, `solve_abduction_prompt`, `solve_induction_prompt`, `TASK_TYPES`.
All functions are pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "DEFAULT_BANNED_WORDS",
    "INDUCTION_PLACEHOLDER",
    "R1_TEMPLATE",
    "R1_TEMPLATES",
    "TASK_TYPES",
    "Snippet",
    "propose_induction_prompt",
    "propose_io_prompt",
    "r1_wrap",
    "solve_abduction_prompt",
    "solve_deduction_prompt",
    "solve_induction_prompt",
]

TASK_TYPES: tuple[str, str, str] = ("deduction", "abduction", "induction")

# The DeepSeek-R1 "zero" template the paper uses for every prompt (azr-reference.md 10.1).
R1_TEMPLATE = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and <answer> </answer> tags, respectively, i.e., "
    "<think> reasoning process here </think> <answer> answer here </answer>.\n"
    "User: {prompt}\n"
    "Assistant: <think>"
)
# The released code's template byte for byte (`instruction_following` in its process_data.py):
# a space, not a newline, before "User:". The `reference` preset uses it.
R1_TEMPLATE_REFERENCE = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and <answer> </answer> tags, respectively, i.e., "
    "<think> reasoning process here </think> <answer> answer here </answer>. "
    "User: {prompt}\n"
    "Assistant: <think>"
)
R1_TEMPLATES = {"default": R1_TEMPLATE, "reference": R1_TEMPLATE_REFERENCE}

# The words the proposer is told never to use; the executor's policy is what really enforces.
DEFAULT_BANNED_WORDS: tuple[str, ...] = (
    "logging",
    "random",
    "multiprocessing",
    "pebble",
    "subprocess",
    "threading",
    "datetime",
    "time",
    "hashlib",
    "hmac",
    "bcrypt",
    "os",
    "sys",
    "shutil",
    "calendar",
)

INDUCTION_PLACEHOLDER = "f(<|YOUR INPUT WILL BE PLUGGED HERE|>)"


@dataclass(frozen=True)
class Snippet:
    """A reference task shown to a proposer: program, input (argument list) and output (repr)."""

    program: str
    input: str
    output: str


def r1_wrap(prompt: str, template: str = R1_TEMPLATE) -> str:
    """Wrap a role prompt in the R1 template; the text ends with `Assistant: <think>`."""
    return template.format(prompt=prompt)


def _fence(label: str, body: str) -> str:
    return f"```{label}\n{body.strip()}\n```"


def _snippets_text(references: Sequence[Snippet]) -> str:
    parts = []
    for i, ref in enumerate(references):
        parts.append(
            f"<snippet_{i}>\n{_fence('python', ref.program)}\n{_fence('input', ref.input)}\n"
            f"{_fence('output', ref.output)}\n</snippet_{i}>"
        )
    return "\n".join(parts)


_IO_GOAL = {
    "abduction": (
        "Design a new Python program and one input for it, such that a solver who is shown only "
        "the program and the output it returns must reason carefully, step by step, to recover an "
        "input that produces that output."
    ),
    "deduction": (
        "Design a new Python program and one input for it, such that a solver who is shown the "
        "program and the input must trace the execution carefully, step by step, to predict the "
        "output."
    ),
}

_IO_FORMAT_EXAMPLE = (
    "<answer>\n"
    "```python\n"
    "def f(name: str, info: dict):\n"
    "    # imports and helper definitions go above f\n"
    "    return ...\n"
    "```\n"
    "```input\n"
    "'John', {'age': 20, 'city': 'New York'}\n"
    "```\n"
    "</answer>"
)


def propose_io_prompt(
    task_type: str,
    references: Sequence[Snippet],
    *,
    banned_words: Sequence[str] = DEFAULT_BANNED_WORDS,
) -> str:
    """The deduction or abduction proposer prompt (not yet wrapped), with K reference snippets.

    The model must answer with one ```python block (a program whose entry function is `f`)
    followed by one ```input block; the executor computes the output.
    """
    if task_type not in _IO_GOAL:
        raise ValueError(f"task_type must be 'deduction' or 'abduction', got {task_type!r}")
    banned = ", ".join(banned_words)
    refs = _snippets_text(references)
    return (
        f"## Task: Propose a new {task_type} task: a Python program and one input.\n\n"
        f"{_IO_GOAL[task_type]}\n\n"
        "### Requirements for the program\n"
        "- The entry function is named `f`; it takes at least one parameter and returns a value.\n"
        "- It is deterministic: the same input always gives the same output.\n"
        "- It needs several steps of state tracking to follow; it is not trivial.\n"
        "- No randomness, date or time, file or network I/O, printing or logging, or external "
        "state. It finishes well within 10 seconds.\n"
        "- Imports and helper functions or classes go at the top; `f` comes last.\n"
        f"- Never use these words, in any form, even in comments: {banned}.\n"
        "- It must differ clearly from the reference snippets below.\n\n"
        "### Requirements for the input\n"
        "- The argument list exactly as written inside `f(...)`: comma-separated, strings "
        "quoted, on one line.\n\n"
        "### Answer format\n"
        "Plan in <think>, then write the program in a ```python block followed by the input in "
        "an ```input block, both inside <answer>:\n"
        f"{_IO_FORMAT_EXAMPLE}\n\n"
        f"### Reference snippets\n{refs}"
    )


def propose_induction_prompt(program: str, n_inputs: int, *, message_hint: str = "") -> str:
    """The induction proposer prompt: one program from the buffer; ask for N inputs + a message.

    The model must answer with `n_inputs` ```input blocks and one ```message block. The
    message is a hint for a solver who will see some input/output pairs but not the code.
    """
    if n_inputs < 2:
        raise ValueError("n_inputs must be at least 2 (half are shown, half are hidden)")
    shown = f"{program.strip()}\n\n{INDUCTION_PLACEHOLDER}"
    example_inputs = "\n".join(_fence("input", f"<input {i}>") for i in range(2))
    hint = f"\n{message_hint.strip()}\n" if message_hint.strip() else ""
    return (
        f"## Task: Write {n_inputs} inputs for the program below, and a message.\n\n"
        "A solver will be shown some of the inputs with the outputs the program returns for "
        "them, plus your message, and must write the program. The other inputs are kept to "
        "check the solver's program.\n\n"
        "### Requirements\n"
        f"- Exactly {n_inputs} inputs, each in its own ```input block: the argument list exactly "
        "as written inside `f(...)`, strings quoted, on one line.\n"
        "- Every input runs without error. Together they cover the input space and are "
        "diverse, so the program's behaviour can be inferred from them.\n"
        "- One ```message block: a hint, a coding question or a description of what the program "
        "does. It must not reveal the code.\n"
        "- The task is challenging but not impossible.\n"
        f"{hint}\n"
        "### Program\n"
        f"{_fence('python', shown)}\n\n"
        "### Answer format\n"
        "<answer>\n"
        f"{example_inputs}\n"
        "...\n"
        "```message\n<your message>\n```\n"
        "</answer>"
    )


def solve_deduction_prompt(program: str, input_args: str) -> str:
    """The deduction solver prompt: predict the output of `f(<input>)` in an ```output block."""
    return (
        "## Task: Predict the output of the program for the given input.\n\n"
        "Trace the program step by step. Write the output exactly as Python's `repr` of the "
        "returned value (strings quoted, several return values as a tuple) in an ```output "
        "block inside <answer>:\n"
        "<answer>\n```output\n<the output>\n```\n</answer>\n\n"
        f"### Program\n{_fence('python', program)}\n\n"
        f"### Input\n{_fence('input', input_args)}"
    )


def solve_abduction_prompt(program: str, output: str) -> str:
    """The abduction solver prompt: find any input for which `f` returns `output`."""
    return (
        "## Task: Find an input that makes the program return the given output.\n\n"
        "Any input that produces the output is correct. Write it as the argument list exactly "
        "as written inside `f(...)` (comma-separated, strings quoted) in an ```input block "
        "inside <answer>:\n"
        "<answer>\n```input\n<the input>\n```\n</answer>\n\n"
        f"### Program\n{_fence('python', program)}\n\n"
        f"### Output\n{_fence('output', output)}"
    )


def solve_induction_prompt(pairs: Sequence[tuple[str, str]], message: str) -> str:
    """The induction solver prompt: write `f` from shown input/output pairs and a message."""
    shown = "\n".join(
        f"{_fence(f'input_{i}', inp)}\n{_fence(f'output_{i}', out)}"
        for i, (inp, out) in enumerate(pairs)
    )
    return (
        "## Task: Write the program that maps the inputs to the outputs.\n\n"
        "The program's entry function is named `f`; `f(<input>)` must return the matching "
        "output for every pair below and for held-out pairs of the same kind. Put imports at "
        "the top. Write the program in a ```python block inside <answer>:\n"
        "<answer>\n```python\ndef f(...):\n    ...\n```\n</answer>\n\n"
        f"### Message\n{message.strip()}\n\n"
        f"### Input/output pairs\n{shown}"
    )
