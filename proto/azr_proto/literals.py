"""Model-written data: the literal grammar of inputs, answers and outputs, and the two equality
rules every verdict uses. Standard library only; no value read here ever runs code.

Grammar. `parse_literal` reads one value, `parse_arguments` the argument list of one call (what
is written inside `f(...)`). A value is, recursively:

- a constant: `None`, `True`, `False`, an int (any base), a float, an imaginary number, a
  string or bytes (implicit concatenation `'a' 'b'` included);
- `+`/`-` before a number, and `a + bj` / `a - bj` (`ast.literal_eval`'s complex rule);
- `s1 + s2` for two strings or two bytes (CRUXEval writes inputs that way);
- a tuple, list, set or dict display of values (no `*`/`**` unpacking);
- `set()`, `set(v)`, `frozenset()`, `frozenset(v)`, `dict()`, `dict(v)`, `dict(k=v, ...)`;
- `float(s)` for a string `s` such as `'inf'`, `'-inf'` or `'nan'` (non-finite floats have no
  literal), `complex(x, y)` for two numbers.

That is `ast.literal_eval` plus what real benchmark data needs (measured on CRUXEval, HumanEval+
and MBPP+: see proto/README.md). The builtin names above mean the builtins whatever a program
defines: a value is read here, never looked up in a program's namespace. Everything else is
refused with `LiteralError`: names, attributes, subscripts, calls of anything else, comprehensions,
f-strings, `...`, and lambdas. A lambda is code, not data: an "input" holding one could walk the
object graph from inside the call and patch the task's function (the reward hack this grammar
exists to close), so it is refused, not sandboxed.

Bounds: containers nest at most `MAX_DEPTH` deep and a text has at most `MAX_CHARS` characters;
the walk is iterative, and the parser's own `RecursionError`/`MemoryError` on deeply nested text
become `LiteralError`, so no input makes a caller fail any other way. A set, frozenset or dict
whose keys share one hash more than `MAX_SHARED_HASH` times is refused: ints, floats, complex
numbers and tuples of them collide at will (`k * (2**61 - 1)` all hash to 0), and each colliding
key costs a probe of all the others, so 20,000 of them took 8.6 s to read (a 2 MB text,
minutes); honest data never comes near the bound.

Equality. Values read here are compared with one of two named rules, and nowhere else:
- `same_value` (AZR): Python `==` (`1 == 1.0 == True`, `(1,) != [1]`, `nan != nan`);
- `typed_equal` (`/v1/tests` call cases): `==` with the same top-level type, except that an int
  and a float compare by value; a bool equals only a bool.
"""

from __future__ import annotations

import ast
from typing import Any

__all__ = [
    "MAX_CHARS",
    "MAX_DEPTH",
    "MAX_SHARED_HASH",
    "LiteralError",
    "parse_arguments",
    "parse_literal",
    "same_value",
    "typed_equal",
]

MAX_DEPTH = 128  # container nesting; the sandbox's output check refuses deeper than 100
MAX_SHARED_HASH = 64  # keys of one set or dict with the same hash (see the docstring)
MAX_CHARS = 1 << 21  # 2 Mi characters: the largest text any route accepts (1 MiB) fits

_CONSTANTS = (type(None), bool, int, float, complex, str, bytes)
_NUMBERS = (int, float, complex)
_CONSTRUCTORS = frozenset({"set", "frozenset", "dict", "float", "complex"})
_WRAPPER = "_azr_args_"


class LiteralError(ValueError):
    """The text is not a value of the literal grammar (the message says why)."""


def parse_literal(text: str) -> Any:
    """The value `text` denotes, e.g. `parse_literal("[1, 'a', {2: (3.5, None)}]")`.

    Raises `LiteralError` for anything else (see the module docstring).
    """
    tree = _parse(text.lstrip(" \t") if isinstance(text, str) else text)
    return _value(tree.body)


def parse_arguments(text: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The positional and keyword arguments written inside `f(...)`, e.g.
    `parse_arguments("[1, 2], key='a'") == (([1, 2],), {"key": "a"})`.

    Raises `LiteralError` when `text` is not exactly one argument list of literal values.
    """
    # The newline lets a trailing comment end without swallowing the closing parenthesis.
    tree = _parse(f"{_WRAPPER}({text}\n)")
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
        raise LiteralError("not a single argument list")
    if call.func.id != _WRAPPER:
        raise LiteralError("not a single argument list")
    args = tuple(_value(arg) for arg in call.args)
    kwargs: dict[str, Any] = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise LiteralError("`**` unpacking is not data")
        if keyword.arg in kwargs:
            raise LiteralError(f"keyword {keyword.arg!r} given twice")
        kwargs[keyword.arg] = _value(keyword.value)
    return args, kwargs


def same_value(a: Any, b: Any) -> bool:
    """AZR's rule: Python `==` on two values of this grammar (no model code can run: builtin
    types only). Too deep to compare counts as different."""
    try:
        return bool(a == b)
    except (RecursionError, MemoryError):
        return False


def typed_equal(value: Any, expected: Any) -> bool:
    """`/v1/tests`' rule for call cases: `==` and the same type at the top level, or an int and a
    float of equal value; a bool matches only a bool (`f(x) -> 1` does not pass `expected=True`).
    """
    try:
        if type(value) is type(expected):
            return bool(value == expected)
    except (RecursionError, MemoryError):
        return False
    numbers = (int, float)
    if isinstance(value, bool) or isinstance(expected, bool):
        return False
    return isinstance(value, numbers) and isinstance(expected, numbers) and value == expected


def _parse(text: str) -> ast.Expression:
    if not isinstance(text, str):
        raise LiteralError(f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise LiteralError(f"over {MAX_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise LiteralError(f"does not parse: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL, surrogates, deep nesting
        raise LiteralError(f"does not parse ({type(exc).__name__})") from None
    return tree


def _value(root: ast.expr) -> Any:
    """Build the value of `root` without recursion: a stack of (node, depth) to visit and a
    stack of built values, each container built from its children's values once they exist."""
    todo: list[tuple[ast.AST, int, bool]] = [(root, 0, False)]
    built: list[Any] = []
    while todo:
        node, depth, ready = todo.pop()
        if depth > MAX_DEPTH:
            raise LiteralError(f"nested deeper than {MAX_DEPTH}")
        kind = type(node)
        if kind is ast.Constant:
            value = node.value  # type: ignore[attr-defined]
            if type(value) not in _CONSTANTS:
                raise LiteralError(f"{value!r} is not data")
            built.append(value)
            continue
        children = _children(node)
        if not ready:
            todo.append((node, depth, True))
            inner = depth + 1 if kind in _CONTAINERS else depth
            todo.extend((child, inner, False) for child in reversed(children))
            continue
        n = len(children)
        values = built[len(built) - n :] if n else []
        del built[len(built) - n :]
        built.append(_combine(node, values))
    return built[0]


_CONTAINERS = (ast.Tuple, ast.List, ast.Set, ast.Dict, ast.Call)


def _children(node: ast.AST) -> list[ast.AST]:
    """The sub-expressions whose values `_combine` needs, after checking the node's shape."""
    kind = type(node)
    if kind in (ast.Tuple, ast.List, ast.Set):
        elts = node.elts  # type: ignore[attr-defined]
        if any(type(e) is ast.Starred for e in elts):
            raise LiteralError("`*` unpacking is not data")
        return list(elts)
    if kind is ast.Dict:
        keys = node.keys  # type: ignore[attr-defined]
        if any(k is None for k in keys):
            raise LiteralError("`**` unpacking is not data")
        out: list[ast.AST] = []
        for key, value in zip(keys, node.values, strict=True):  # type: ignore[attr-defined]
            out += (key, value)
        return out
    if kind is ast.UnaryOp:
        if type(node.op) not in (ast.USub, ast.UAdd):  # type: ignore[attr-defined]
            raise LiteralError("only `+` and `-` apply to a number")
        return [node.operand]  # type: ignore[attr-defined]
    if kind is ast.BinOp:
        if type(node.op) not in (ast.Add, ast.Sub):  # type: ignore[attr-defined]
            raise LiteralError(f"`{type(node.op).__name__}` is not data")  # type: ignore[attr-defined]
        return [node.left, node.right]  # type: ignore[attr-defined]
    if kind is ast.Call:
        func = node.func  # type: ignore[attr-defined]
        if not (type(func) is ast.Name and func.id in _CONSTRUCTORS):
            raise LiteralError(_what_call(func))
        keywords = node.keywords  # type: ignore[attr-defined]
        if any(type(a) is ast.Starred for a in node.args) or any(  # type: ignore[attr-defined]
            k.arg is None for k in keywords
        ):
            raise LiteralError("unpacking is not data")
        if keywords and func.id != "dict":
            raise LiteralError(f"`{func.id}()` takes no keyword here")
        return [*node.args, *(k.value for k in keywords)]  # type: ignore[attr-defined]
    raise LiteralError(_what(node))


def _combine(node: ast.AST, values: list[Any]) -> Any:
    kind = type(node)
    try:
        if kind is ast.Tuple:
            return tuple(values)
        if kind is ast.List:
            return values
        if kind is ast.Set:
            return set(_few_collisions(values))
        if kind is ast.Dict:
            return dict(zip(_few_collisions(values[::2]), values[1::2], strict=True))
        if kind is ast.UnaryOp:
            (operand,) = values
            if type(operand) not in _NUMBERS:
                raise LiteralError("`+`/`-` apply only to a number")
            return -operand if type(node.op) is ast.USub else +operand  # type: ignore[attr-defined]
        if kind is ast.BinOp:
            return _binop(node, *values)
        return _call(node, values)  # ast.Call, checked by _children
    except (TypeError, ValueError, OverflowError) as exc:  # unhashable keys, bad float text...
        if isinstance(exc, LiteralError):
            raise
        raise LiteralError(f"{type(exc).__name__}: {exc}") from None


def _binop(node: ast.AST, left: Any, right: Any) -> Any:
    op = type(node.op)  # type: ignore[attr-defined]
    if type(left) is type(right) and type(left) in (str, bytes) and op is ast.Add:
        return left + right
    # literal_eval's complex rule: a real number, then `+`/`-`, then an imaginary constant
    if type(left) in (int, float) and type(right) is complex and not right.real:
        right_node = node.right  # type: ignore[attr-defined]
        if type(right_node) is ast.Constant:
            return left + right if op is ast.Add else left - right
    raise LiteralError(
        "`+`/`-` join only two strings, two bytes, or a real and an imaginary number"
    )


def _call(node: ast.AST, values: list[Any]) -> Any:
    name = node.func.id  # type: ignore[attr-defined]
    n_args = len(node.args)  # type: ignore[attr-defined]
    args, kwargs = values[:n_args], values[n_args:]
    if name == "dict":
        if n_args > 1:
            raise LiteralError("`dict()` takes at most one positional value")
        keys = [k.arg for k in node.keywords]  # type: ignore[attr-defined]
        pairs = [tuple(p) for p in args[0]] if args and not isinstance(args[0], dict) else []
        if any(len(p) != 2 for p in pairs):
            raise LiteralError("`dict()` takes pairs")
        _few_collisions([p[0] for p in pairs])
        return dict(*args, **dict(zip(keys, kwargs, strict=True)))
    if name in ("set", "frozenset"):
        if n_args > 1:
            raise LiteralError(f"`{name}()` takes at most one value")
        kind = set if name == "set" else frozenset
        if args and not isinstance(args[0], set | frozenset | dict):
            _few_collisions(list(args[0]))
        return kind(*args)
    if name == "float":
        if n_args != 1 or type(args[0]) is not str or len(args[0]) > 64:
            raise LiteralError("`float()` takes one short string, e.g. float('inf')")
        return float(args[0])
    if n_args != 2 or any(type(a) not in (int, float) for a in args):  # complex
        raise LiteralError("`complex()` takes two real numbers")
    return complex(args[0], args[1])


def _few_collisions(keys: list[Any]) -> list[Any]:
    """`keys`, unless more than `MAX_SHARED_HASH` distinct ones share a hash (building the set
    or dict would then cost the square of their number). Each key is compared with at most
    `MAX_SHARED_HASH` others of its hash, so this is linear in the keys; the hashes themselves
    key a dict of plain ints, which do not collide among themselves. An unhashable key is left
    for the caller's own TypeError."""
    seen: dict[int, list[Any]] = {}
    for key in keys:
        try:
            same = seen.setdefault(hash(key), [])
        except TypeError:
            return keys
        if not any(key == other for other in same):
            same.append(key)
            if len(same) > MAX_SHARED_HASH:
                raise LiteralError(f"more than {MAX_SHARED_HASH} keys share one hash")
    return keys


def _what_call(func: ast.AST) -> str:
    if type(func) is ast.Name:
        return f"a call of `{func.id}` is not data"
    if type(func) is ast.Attribute:
        return f"a method call (`.{func.attr}(...)`) is not data"
    return "a call is not data"


def _what(node: ast.AST) -> str:
    kind = type(node)
    if kind is ast.Name:
        return f"the name `{node.id}` is not data"  # type: ignore[attr-defined]
    if kind is ast.Lambda:
        return "a lambda is code, not data"
    if kind is ast.Attribute:
        return f"an attribute (`.{node.attr}`) is not data"  # type: ignore[attr-defined]
    return f"`{kind.__name__}` is not data"
