"""What a buffer task's text fields and metadata may hold: the one rule that the client and the
service both apply (through the `TaskIn` model), so whatever is accepted is stored, read back,
exported and imported again unchanged.

- Text (program, inputs, outputs, message, metadata keys and strings) holds Unicode scalar values
  only: a lone UTF-16 surrogate (`"\\ud800"`, legal in JSON escapes and in Python strings) has no
  UTF-8 form, so it could be stored but never written out again.
- Metadata is plain JSON: objects with string keys, arrays, strings, booleans, null, integers of
  at most 64 bits and finite floats (NaN and Infinity are not JSON), at most `MAX_METADATA_DEPTH`
  containers deep and `MAX_METADATA_BYTES` long as compact UTF-8 JSON.

Errors are `ValueError`s that name the place (`at ['a'][3]: ...`), so a 422 carries the field path.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import AfterValidator

__all__ = [
    "MAX_METADATA_BYTES",
    "MAX_METADATA_DEPTH",
    "MAX_METADATA_INT",
    "Metadata",
    "Text",
    "check_metadata",
    "check_text",
]

MAX_METADATA_DEPTH = 32  # the object itself is depth 1; each nested object or array adds one
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_INT = 2**63 - 1  # what every JSON reader with 64-bit integers reads back exactly
_Path = tuple[str | int, ...]  # keys and indexes from the top of the metadata


def check_text(value: str) -> str:
    """`value` unchanged if it holds Unicode scalar values only; ValueError otherwise."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"lone surrogate U+{ord(value[exc.start]):04X} at index {exc.start}: "
                "text must be valid Unicode"
            ) from None
    return value


def check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    """`value` unchanged if it is plain JSON within the limits (see module); ValueError naming
    the first offending place otherwise.

    >>> check_metadata({"learnability": 0.5, "tags": ["a", "b"]})
    {'learnability': 0.5, 'tags': ['a', 'b']}
    """
    bound = _bound(value, 1)
    if 0 <= bound <= MAX_METADATA_BYTES:
        return value  # the usual case, in one pass without paths
    if bound < 0:  # not plain JSON within the depth: find and name the fault
        _find_fault(value)
    # Plain JSON: only its size is in question (the bound overestimates it).
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"{size} bytes of JSON, over the limit of {MAX_METADATA_BYTES}")
    return value


def _find_fault(value: Any) -> None:
    """Raise ValueError naming the first place (depth first) where `value` is not plain JSON
    within the depth limit. Memory grows with the depth only, never with the width: this runs
    on whatever a request holds."""
    _check_node(value, (), 1)
    stack: list[tuple[Iterator[tuple[str | int, Any]], _Path, int]] = [
        (_children(value, ()), (), 1)
    ]
    while stack:
        children, path, depth = stack[-1]
        for key, item in children:
            where = (*path, key)
            _check_node(item, where, depth + 1)
            if isinstance(item, dict | list):
                stack.append((_children(item, where), where, depth + 1))
                break
        else:
            stack.pop()


def _children(node: Any, path: _Path) -> Iterator[tuple[str | int, Any]]:
    if isinstance(node, list):
        yield from enumerate(node)
        return
    for key, item in node.items():
        if not isinstance(key, str):
            raise ValueError(f"at {_where(path)}: key {key!r} is not a string")
        _check_string(key, path, "key")
        yield key, item


def _check_node(node: Any, path: _Path, depth: int) -> None:
    if isinstance(node, dict | list):
        _check_depth(path, depth)
    elif isinstance(node, str):
        _check_string(node, path, "string")
    elif node is None or isinstance(node, bool):
        pass
    elif isinstance(node, int):
        if not -MAX_METADATA_INT <= node <= MAX_METADATA_INT:
            raise ValueError(f"at {_where(path)}: integer out of the 64-bit range")
    elif isinstance(node, float):
        if not math.isfinite(node):
            raise ValueError(f"at {_where(path)}: {node} is not a JSON number")
    else:
        raise ValueError(f"at {_where(path)}: a {type(node).__name__} is not a JSON value")


def _bound(node: Any, depth: int) -> int:
    """An upper bound of the compact JSON size of `node` in bytes, or -1 when it is not plain
    JSON within the limits (or is made of subclasses: `check_metadata`'s full walk decides)."""
    kind = type(node)
    if kind is str:
        # 6 bytes a character at most ("\u001f"); a lone surrogate cannot be encoded at all
        return 6 * len(node) + 2 if node.isascii() or _encodes(node) else -1
    if kind is float:
        return 24 if math.isfinite(node) else -1  # repr of a finite float: at most 24 chars
    if kind is int:
        return 20 if -MAX_METADATA_INT <= node <= MAX_METADATA_INT else -1
    if node is None or kind is bool:
        return 5
    if depth > MAX_METADATA_DEPTH:
        return -1
    total = 2
    if kind is dict:
        for key, item in node.items():
            size, key_size = _bound(item, depth + 1), _bound(key, depth) if type(key) is str else -1
            if size < 0 or key_size < 0:
                return -1
            total += key_size + size + 2
        return total
    if kind is list:
        for item in node:
            size = _bound(item, depth + 1)
            if size < 0:
                return -1
            total += size + 1
        return total
    return -1


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_depth(path: _Path, depth: int) -> None:
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"at {_where(path)}: nested deeper than {MAX_METADATA_DEPTH} levels")


def _check_string(text: str, path: _Path, what: str) -> None:
    try:
        check_text(text)
    except ValueError as exc:
        raise ValueError(f"at {_where(path)}: {what} has a {exc}") from None


def _where(path: _Path) -> str:
    return "".join(f"[{p!r}]" for p in path) or "the top level"


Text = Annotated[str, AfterValidator(check_text)]
Metadata = Annotated[dict[str, Any], AfterValidator(check_metadata)]
