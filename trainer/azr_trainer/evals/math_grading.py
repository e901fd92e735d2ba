"""Grades extracted math answers against gold answers with HuggingFace `math-verify`.

Both sides are parsed as LaTeX (wrapped in `\\boxed{}`, so plain `27` and `\\frac{1}{2}` parse
alike) and compared symbolically and numerically by `math_verify.verify`. math-verify's own
timeouts use SIGALRM, which only works in the main thread; elsewhere they are turned off.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

__all__ = ["grade_math", "parse_math"]

logger = logging.getLogger(__name__)

_CONFIG = (LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig())


def _timeout_s(seconds: int) -> int | None:
    return seconds if threading.current_thread() is threading.main_thread() else None


def parse_math(answer: str) -> list[Any]:
    """math-verify's parse of one answer string (empty when nothing parses)."""
    text = answer.strip()
    if not text:
        return []
    try:
        return list(
            parse(f"\\boxed{{{text}}}", extraction_config=_CONFIG, parsing_timeout=_timeout_s(5))
        )
    except Exception:  # math-verify raises on pathological LaTeX; an unparsable answer is wrong
        logger.debug("math-verify could not parse an answer of %d chars", len(text))
        return []


def grade_math(answer: str | None, golds: tuple[str, ...] | list[str]) -> bool:
    """True when `answer` equals any of `golds` for math-verify.

    >>> grade_math("0.5", ["\\\\frac{1}{2}"])
    True
    """
    if answer is None:
        return False
    pred = parse_math(answer)
    if not pred:
        return False
    for gold in golds:
        target = parse_math(gold)
        if not target:
            continue
        try:
            if verify(target, pred, timeout_seconds=_timeout_s(5)):
                return True
        except Exception:
            logger.debug("math-verify failed to compare an answer", exc_info=True)
    return False
