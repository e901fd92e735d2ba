"""A typed grammar of small Python programs for the toy world: `f` is a pipeline of steps.

Each program takes one argument and passes it through 1 to `max_steps` typed steps (int, str,
list of ints, dict of str to int). A step is an expression, a conditional, a short loop, a dict
update or a call of a helper function defined above `f`. Every step carries a short English
description, so a program comes with a message for induction tasks, and every program has a
*trace* twin that returns the list of intermediate values (used for step-by-step think texts).

A second, much narrower *world* ("tiny": the one-line steps `x + 10`, `x * 10` and `x * 11` on the
digits 1-9) is what the CI learning test trains in.

The grammar only writes source text; it never runs it. Outputs come from the executor.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["WORLDS", "Kind", "Step", "ToyProgram", "World", "random_input", "sample_program"]

Kind = Literal["int", "str", "list", "dict"]
# "default": every kind and step below. "tiny": `x + 10`, `x * 10`, `x * 11` on the digits 1-9
# (3 programs, 27 tasks per io type, worked answers copied from the prompt), a world a model of
# half a million parameters learns in a couple of CPU-minutes (the CI learning test's world).
World = Literal["default", "tiny"]
WORLDS: tuple[World, ...] = ("default", "tiny")

_VARS = ("x", "y", "z", "w", "v")
_LETTERS = "abcde"


@dataclass(frozen=True)
class Step:
    """One step of the pipeline: code lines reading `{i}` and writing `{o}`."""

    src: Kind
    dst: Kind
    lines: tuple[str, ...]
    description: str
    helper: str | None = None  # source of a helper function this step calls
    # The tiny world's steps are one line `{o} = <expression of {i}>`; `inverse` is the
    # expression of `{o}` that gives `{i}` back (the worked abduction answer).
    inverse: str | None = None

    def worked(self, value: str) -> str:
        """The step's expression on `value` (a repr), for a worked answer: `4 + 3`."""
        return self.lines[0].split(" = ", 1)[1].format(i=value)

    def worked_inverse(self, value: str) -> str:
        """The inverse expression on the output `value`: `7 - 3`."""
        if self.inverse is None:
            raise ValueError("this step has no inverse")
        return self.inverse.format(o=value)


@dataclass(frozen=True)
class ToyProgram:
    """A program of the grammar, with what the generator needs to know about it."""

    kind: Kind  # the kind of the argument
    steps: tuple[Step, ...]
    helpers: tuple[str, ...] = field(default=())

    @property
    def out_kind(self) -> Kind:
        return self.steps[-1].dst

    @property
    def message(self) -> str:
        """The induction hint: what `f` does, step by step, without the code."""
        parts = [s.description for s in self.steps]
        return f"Given a {_KIND_NAMES[self.kind]}, " + ", then ".join(parts) + "."

    def _body(self, trace: bool) -> list[str]:
        lines: list[str] = []
        for n, step in enumerate(self.steps):
            for line in step.lines:
                lines.append("    " + line.format(i=_VARS[n], o=_VARS[n + 1]))
        last = _VARS[len(self.steps)]
        if trace:
            lines.append("    return [" + ", ".join(_VARS[1 : len(self.steps) + 1]) + "]")
        else:
            lines.append(f"    return {last}")
        return lines

    def source(self, *, trace: bool = False) -> str:
        """Python source with entry function `f` (the trace twin returns every intermediate)."""
        parts = [*self.helpers, "def f(x):\n" + "\n".join(self._body(trace))]
        return "\n\n".join(parts) + "\n"


_KIND_NAMES: dict[str, str] = {
    "int": "number",
    "str": "string",
    "list": "list of numbers",
    "dict": "dict of counts",
}


def _steps(rng: random.Random, src: Kind) -> list[Step]:
    """Every step the grammar offers from kind `src`, with fresh random constants."""
    a = rng.randint(1, 5)
    b = rng.randint(2, 4)
    c = rng.choice(_LETTERS)
    s: list[Step] = []
    if src == "int":
        s += [
            Step("int", "int", ("{o} = {i} + " + str(a),), f"add {a}"),
            Step("int", "int", ("{o} = {i} * " + str(b),), f"multiply by {b}"),
            Step("int", "int", ("{o} = {i} - " + str(a),), f"subtract {a}"),
            Step("int", "int", ("{o} = {i} % " + str(b + 3),), f"take the remainder by {b + 3}"),
            Step(
                "int",
                "int",
                ("if {i} % 2 == 0:", "    {o} = {i} // 2", "else:", "    {o} = {i} + " + str(a)),
                f"halve it if even, else add {a}",
            ),
            Step(
                "int",
                "int",
                ("{o} = 0", "for k in range({i} % 4 + 1):", "    {o} += k + " + str(a)),
                f"sum k + {a} for k up to the remainder by 4",
            ),
            Step("int", "str", ("{o} = str({i})",), "turn it into a string"),
            Step("int", "str", ("{o} = '" + c + "' * ({i} % 4 + 1)",), f"repeat '{c}' that often"),
            Step("int", "list", ("{o} = list(range({i} % 5))",), "list the numbers below it mod 5"),
            Step(
                "int", "list", ("{o} = [{i}, {i} + " + str(a) + "]",), f"pair it with itself + {a}"
            ),
        ]
        helper = f"def g(n):\n    return n * {b} + {a}\n"
        s.append(Step("int", "int", ("{o} = g({i})",), f"map n to n * {b} + {a}", helper))
    elif src == "str":
        s += [
            Step("str", "str", ("{o} = {i}[::-1]",), "reverse it"),
            Step("str", "str", ("{o} = {i}.upper()",), "make it upper case"),
            Step("str", "str", ("{o} = {i} + '" + c + "'",), f"append '{c}'"),
            Step("str", "str", ("{o} = {i}.replace('" + c + "', '')",), f"remove every '{c}'"),
            Step("str", "str", ("{o} = ''.join(sorted({i}))",), "sort its letters"),
            Step("str", "str", ("{o} = {i}[:" + str(b) + "]",), f"keep the first {b} letters"),
            Step(
                "str",
                "str",
                (
                    "if len({i}) > " + str(b) + ":",
                    "    {o} = {i}[1:]",
                    "else:",
                    "    {o} = {i} * 2",
                ),
                f"drop the first letter if longer than {b}, else double it",
            ),
            Step(
                "str",
                "str",
                (
                    "{o} = ''",
                    "for ch in {i}:",
                    "    if ch in 'ae':",
                    "        {o} += ch.upper()",
                    "    else:",
                    "        {o} += ch",
                ),
                "upper-case every a and e",
            ),
            Step("str", "int", ("{o} = len({i})",), "take its length"),
            Step("str", "int", ("{o} = {i}.count('" + c + "')",), f"count the '{c}'s"),
            Step(
                "str", "list", ("{o} = [ord(ch) - 96 for ch in {i}]",), "map letters to positions"
            ),
            Step(
                "str",
                "dict",
                ("{o} = {{}}", "for ch in {i}:", "    {o}[ch] = {o}.get(ch, 0) + 1"),
                "count each letter",
            ),
        ]
        helper = "def g(t):\n    return t[-1] + t[:-1] if t else t\n"
        s.append(
            Step("str", "str", ("{o} = g({i})",), "rotate the last letter to the front", helper)
        )
    elif src == "list":
        s += [
            Step("list", "list", ("{o} = sorted({i})",), "sort it"),
            Step("list", "list", ("{o} = {i}[::-1]",), "reverse it"),
            Step(
                "list",
                "list",
                ("{o} = [n * " + str(b) + " for n in {i}]",),
                f"multiply each by {b}",
            ),
            Step(
                "list", "list", ("{o} = [n for n in {i} if n % 2 == 0]",), "keep the even numbers"
            ),
            Step("list", "list", ("{o} = {i} + [" + str(a) + "]",), f"append {a}"),
            Step(
                "list",
                "list",
                ("{o} = []", "t = 0", "for n in {i}:", "    t += n", "    {o}.append(t)"),
                "take running sums",
            ),
            Step("list", "int", ("{o} = sum({i})",), "add them up"),
            Step("list", "int", ("{o} = len({i})",), "count them"),
            Step(
                "list",
                "int",
                ("{o} = 0", "for n in {i}:", "    if n > " + str(b) + ":", "        {o} += 1"),
                f"count those above {b}",
            ),
            Step(
                "list",
                "dict",
                ("{o} = {{}}", "for n in {i}:", "    {o}['k' + str(n % 3)] = n"),
                "file each under k plus its remainder by 3, last one wins",
            ),
        ]
        helper = f"def g(n):\n    return n + {a} if n < {b + 2} else n\n"
        s.append(
            Step(
                "list",
                "list",
                ("{o} = [g(n) for n in {i}]",),
                f"add {a} to each below {b + 2}",
                helper,
            )
        )
    else:
        s += [
            Step("dict", "int", ("{o} = sum({i}.values())",), "add up the values"),
            Step("dict", "int", ("{o} = len({i})",), "count the keys"),
            Step("dict", "list", ("{o} = sorted({i}.values())",), "sort the values"),
            Step("dict", "str", ("{o} = ''.join(sorted({i}))",), "join the sorted keys"),
            Step(
                "dict",
                "dict",
                ("{o} = {{k: n + " + str(a) + " for k, n in {i}.items()}}",),
                f"add {a} to each value",
            ),
            Step(
                "dict",
                "dict",
                ("{o} = dict({i})", "{o}['" + c + "'] = {o}.get('" + c + "', 0) + " + str(a)),
                f"add {a} to the count of '{c}'",
            ),
            Step(
                "dict",
                "dict",
                ("{o} = {{k: n for k, n in {i}.items() if n > " + str(b) + "}}",),
                f"keep the entries above {b}",
            ),
        ]
    return s


def _tiny_steps(rng: random.Random, src: Kind) -> list[Step]:
    """The tiny world's steps (on an int from 1 to 9).

    Their worked answers are copying from the prompt: `3 + 10 = 13`, `3 * 10 = 30`,
    `3 * 11 = 33`, and back (`33 // 11 = 3`), which a model of half a million parameters learns
    in a couple of CPU-minutes. The careful style is then mostly right and the guess style (the
    given value copied unchanged) wrong: the gap self-play needs to raise the solver's reward.
    """
    if src == "int":
        return [
            Step("int", "int", ("{o} = {i} + 10",), "add 10", inverse="{o} - 10"),
            Step("int", "int", ("{o} = {i} * 10",), "multiply by 10", inverse="{o} // 10"),
            Step("int", "int", ("{o} = {i} * 11",), "multiply by 11", inverse="{o} // 11"),
        ]
    raise ValueError(f"the tiny world has no {src} steps")


def _world_kinds(world: World) -> tuple[Kind, ...]:
    if world == "default":
        return ("int", "str", "list", "dict")
    if world == "tiny":
        return ("int",)
    raise ValueError(f"unknown toy world {world!r}; choose from {WORLDS}")


def sample_program(
    rng: random.Random, *, max_steps: int = 3, world: World = "default"
) -> ToyProgram:
    """Draw a program of `world`: an argument kind, then 1..max_steps steps chained by kind."""
    kind: Kind = rng.choice(_world_kinds(world))
    step_maker = _tiny_steps if world == "tiny" else _steps
    n_steps = rng.randint(1, max_steps)
    steps: list[Step] = []
    cur: Kind = kind
    for _ in range(n_steps):
        step = rng.choice(step_maker(rng, cur))
        # One helper named g per program keeps the source unambiguous.
        if step.helper is not None and any(s.helper for s in steps):
            continue
        steps.append(step)
        cur = step.dst
    if not steps:
        steps.append(next(s for s in step_maker(rng, kind) if s.helper is None))
    helpers = tuple(s.helper for s in steps if s.helper is not None)
    return ToyProgram(kind=kind, steps=tuple(steps), helpers=helpers)


_INPUT_MAKERS: dict[str, Callable[[random.Random], str]] = {
    "int": lambda r: repr(r.randint(0, 19)),
    "str": lambda r: repr("".join(r.choice(_LETTERS + "fgst") for _ in range(r.randint(2, 6)))),
    "list": lambda r: repr([r.randint(0, 9) for _ in range(r.randint(0, 5))]),
    "dict": lambda r: repr({k: r.randint(0, 9) for k in r.sample(_LETTERS, r.randint(1, 3))}),
}


_TINY_INPUT_MAKERS: dict[str, Callable[[random.Random], str]] = {
    "int": lambda r: repr(r.randint(1, 9)),
    # The tiny world's programs take ints; a list is its wrong-kind argument (invalid proposals).
    "list": lambda r: repr(r.sample(range(10), r.randint(2, 3))),
}


def random_input(rng: random.Random, kind: Kind, world: World = "default") -> str:
    """A random argument of `kind`, as the Python source that goes inside `f(...)`.

    The tiny world draws its own kinds (int, str) from its small domains; any other kind (a
    deliberately wrong argument) comes from the default world's makers.
    """
    if world == "tiny" and kind in _TINY_INPUT_MAKERS:
        return _TINY_INPUT_MAKERS[kind](rng)
    return _INPUT_MAKERS[kind](rng)
