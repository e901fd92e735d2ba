"""Hypothesis strategies for buffer tasks as a hostile client would send them: text with lone
surrogates, NUL, U+2028 and other line separators; metadata with NaN, infinities, huge integers,
deep nesting, export keywords ("kind": "run") and sizes around the limits. Shared by the model
property tests (tests/unit/buffer) and the HTTP ones (tests/integration)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

__all__ = ["JSON_VALUES", "METADATA", "TASKS", "TEXT", "canonical"]

NASTY = '\ud800\udbff\udc00\udfff\x00\u2028\u2029\x85\x1e\n\r\t"\\\x7f\ufeff\U0001f600\u00e9'


def _now_and_then(
    rare: st.SearchStrategy, usual: st.SearchStrategy, one_in: int
) -> st.SearchStrategy:
    """`rare` about once in `one_in` draws (one_of's branches are not drawn evenly)."""
    # The middle value: hypothesis favours the ends of a range.
    return st.integers(1, one_in).flatmap(lambda i: rare if i == one_in // 2 else usual)


CHARS = _now_and_then(
    st.sampled_from(list(NASTY)), st.characters(codec=None, exclude_categories=()), 10
)
# Whole nasty strings too: a character at a time, hypothesis reaches them too rarely.
TEXT = _now_and_then(
    st.sampled_from(["\ud800", "a\udfffb", "x\u2028y\x85", "\x00"]), st.text(CHARS, max_size=12), 8
)
KEYS = TEXT | st.sampled_from(["kind", "id", "tasks", "format"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([2**63 - 1, -(2**63 - 1), 2**63, -(2**63)])
    | st.floats()
    | TEXT
    | st.sampled_from(["run", "end", "task"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=10,
)
# What a well-behaved client sends (still any text): most generated tasks should be accepted.
PLAIN_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63 - 1), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


def _nest(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = {"a": value} if i % 2 else [value]
    return value


METADATA = st.one_of(
    st.dictionaries(st.text(max_size=8), PLAIN_VALUES, max_size=4),
    st.dictionaries(KEYS, JSON_VALUES, max_size=4),
    st.integers(29, 34).map(lambda n: {"deep": _nest(n)}),  # around the depth limit (32)
    st.integers(65_400, 65_600).map(lambda n: {"blob": "x" * n}),  # around 64 KiB
    st.just({"kind": "run", "name": "x", "capacity": None, "eviction": "fifo"}),
)


@st.composite
def _tasks(draw: st.DrawFn) -> dict[str, Any]:
    type_ = draw(st.sampled_from(["deduction", "abduction", "induction"]))
    n = draw(st.integers(1, 3)) if type_ == "induction" else 1
    task: dict[str, Any] = {
        "type": type_,
        "program": draw(st.text(CHARS, min_size=1, max_size=30)),
        "inputs": draw(st.lists(TEXT, min_size=n, max_size=n)),
        "outputs": draw(st.lists(TEXT, min_size=n, max_size=n)),
        "step": draw(st.integers(0, 2**31 - 1)),
        "source": draw(st.sampled_from(["seed", "proposed"])),
        "metadata": draw(METADATA),
    }
    if type_ == "induction":
        task["message"] = draw(TEXT)
    return task


TASKS = _tasks()


def canonical(value: Any) -> str:
    """A form that tells 1 from 1.0 and from true, unlike ==."""
    return json.dumps(value, sort_keys=True, ensure_ascii=True)
