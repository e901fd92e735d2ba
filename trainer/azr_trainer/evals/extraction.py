"""Pulls the final answer out of a completion, as the paper's evaluation does.

Math (`extract_math_answer`): inside the last `<answer>...</answer>`, the last `\\boxed{}` if there
is one, else the whole answer; without an answer tag, the last `\\boxed{}` anywhere; else the last
`\\[...\\]`. Code (`extract_code`): the last ```python block inside the answer (else anywhere).
CRUXEval (`extract_fenced`): the last ```output / ```input block inside the answer, else the
answer text itself.
"""

from __future__ import annotations

import re

__all__ = ["answer_span", "extract_code", "extract_fenced", "extract_math_answer", "last_boxed"]

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_OPEN_ANSWER = re.compile(r"<answer>(.*)$", re.DOTALL)
_DISPLAY = re.compile(r"\\\[(.*?)\\\]", re.DOTALL)


def answer_span(text: str) -> str | None:
    """The content of the last `<answer>` block; an unclosed last tag runs to the end."""
    closed = _ANSWER.findall(text)
    tail = text.rfind("<answer>")
    if tail != -1 and text.find("</answer>", tail) == -1:
        # An answer cut off by max_tokens: the reference harness still reads it.
        match = _OPEN_ANSWER.search(text[tail:])
        return match.group(1) if match else None
    return closed[-1] if closed else None


def last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` (or `\\fbox{...}`), braces balanced.

    >>> last_boxed(r"so \\boxed{\\frac{1}{2}} and \\boxed{3}")
    '3'
    """
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start == -1:
        return None
    i = text.find("{", start)
    if i == -1:
        # `\boxed 5`: the reference accepts the token after a space.
        rest = text[start:].split(None, 1)
        return rest[1].split("$")[0].strip() if len(rest) == 2 else None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None


def extract_math_answer(text: str) -> str | None:
    """The final math answer of a completion, or None when it gave none."""
    span = answer_span(text)
    if span is not None:
        boxed = last_boxed(span)
        return (boxed if boxed is not None else span).strip()
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed.strip()
    display = _DISPLAY.findall(text)
    return display[-1].strip() if display else None


def _fenced_blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}[ \t]*\n(.*?)```", text, re.DOTALL)


def extract_code(text: str) -> str | None:
    """The last ```python block inside the answer, else in the whole text, else None."""
    span = answer_span(text)
    for where in (span, text):
        if where is None:
            continue
        blocks = _fenced_blocks(where, "python") or _fenced_blocks(where, "")
        if blocks:
            return blocks[-1].strip("\n")
    return None


def extract_fenced(text: str, lang: str) -> str | None:
    """The last ```<lang> block in the answer (AZR solver format), else the bare answer text."""
    span = answer_span(text)
    blocks = _fenced_blocks(text if span is None else span, lang)
    if blocks:
        # An empty block is an answer too: CRUXEval has a call `f()` with no arguments.
        return blocks[-1].strip()
    return None if span is None else (span.strip() or None)
