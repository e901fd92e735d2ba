"""The AST policy check: which imports, names and attributes a program, input or answer may use.

The policy (`azr_proto.azr.Policy`) is data; this module applies it to a parsed tree before any
run. It keeps tasks meaningful (no randomness, clocks or I/O) and shuts the easy escapes.

Guarantees:
- `import a.b`, `from a.b import c`, `from . import x` (relative imports are always rejected) and
  aliases (`import os as o; o.path` resolves to `os.path`) are checked against the module list.
- Forbidden names (`eval`, `__import__`, `getattr`...) are rejected wherever they appear as an
  identifier, and forbidden attributes (`__globals__`, `__subclasses__`...) wherever accessed,
  including inside string constants (`"{0.__globals__}".format(f)`).

Does not guarantee:
- that a program cannot reach a forbidden object through a path the lists do not name. The
  sandbox is the security boundary; the policy is a filter in front of it.
"""

from __future__ import annotations

import ast

from azr_proto.azr import Policy

__all__ = ["DEFAULT_POLICY", "PolicyChecker", "first_violation", "walk_nodes"]

DEFAULT_POLICY = Policy()


class PolicyChecker:
    """A policy compiled to sets, reusable across many trees."""

    def __init__(self, policy: Policy) -> None:
        self.modules = frozenset(policy.forbidden_modules)
        self.names = frozenset(policy.forbidden_names)
        self.attributes = frozenset(policy.forbidden_attributes)
        self.dotted = frozenset(policy.forbidden_dotted)
        self._dunder_attributes = tuple(a for a in self.attributes if a.startswith("__"))
        # Equal policies check alike: the key of results remembered across requests.
        self.key = (self.modules, self.names, self.attributes, self.dotted)

    def first_violation(self, tree: ast.AST) -> str | None:
        """The first violation found in `tree` as a human message, or None when it is clean."""
        aliases: dict[str, str] = {}
        nodes = walk_nodes(tree)
        # Imports first, so that aliases resolve wherever the names are used.
        for node in nodes:
            problem = self._check_import(node, aliases)
            if problem:
                return problem
        for node in nodes:
            problem = self._check_node(node, aliases)
            if problem:
                return problem
        return None

    def _check_import(self, node: ast.AST, aliases: dict[str, str]) -> str | None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                problem = self._check_module(alias.name, node)
                if problem:
                    return problem
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    aliases[root] = root
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                return f"relative import (line {node.lineno}) is not allowed"
            module = node.module or ""
            problem = self._check_module(module, node)
            if problem:
                return problem
            for alias in node.names:
                if alias.name == "*":
                    continue
                full = f"{module}.{alias.name}"
                # `from a import b` may import the submodule a.b, or the name b of a.
                problem = self._check_module(full, node) or self._check_name(alias.name, node)
                if problem:
                    return problem
                aliases[alias.asname or alias.name] = full
        return None

    def _check_node(self, node: ast.AST, aliases: dict[str, str]) -> str | None:
        if isinstance(node, ast.Name):
            return self._check_name(node.id, node) or self._check_dotted(
                aliases.get(node.id, node.id), node
            )
        if isinstance(node, ast.Attribute):
            if node.attr in self.attributes:
                return f"access to attribute {node.attr!r} (line {node.lineno}) is forbidden"
            dotted = _dotted_name(node, aliases)
            return self._check_dotted(dotted, node) if dotted else None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for attr in self._dunder_attributes:
                if attr in node.value:
                    return (
                        f"string mentioning forbidden attribute {attr!r} (line {node.lineno}) "
                        "is not allowed"
                    )
        return None

    def _check_module(self, module: str, node: ast.stmt) -> str | None:
        parts = module.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in self.modules or prefix in self.dotted:
                return f"import of forbidden module {prefix!r} (line {node.lineno})"
        return None

    def _check_name(self, name: str, node: ast.AST) -> str | None:
        if name in self.names:
            line = getattr(node, "lineno", "?")
            return f"use of forbidden name {name!r} (line {line})"
        return None

    def _check_dotted(self, dotted: str, node: ast.AST) -> str | None:
        if not self.dotted:
            return None
        parts = dotted.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in self.dotted:
                line = getattr(node, "lineno", "?")
                return f"use of forbidden name {prefix!r} (line {line})"
        return None


def walk_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of `tree`, in `ast.walk`'s order (breadth first, fields in order), as a list;
    about 1.6x faster than `list(ast.walk(tree))`, which builds two generators per node."""
    out = [tree]
    add = out.append
    i = 0
    while i < len(out):
        node = out[i]
        i += 1
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, ast.AST):
                add(value)
            elif type(value) is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        add(item)
    return out


def _dotted_name(node: ast.Attribute, aliases: dict[str, str]) -> str | None:
    """`a.b.c` for an attribute chain rooted at a plain name (aliases resolved), else None."""
    parts: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name):
        return None
    parts.append(aliases.get(current.id, current.id))
    return ".".join(reversed(parts))


def first_violation(tree: ast.AST, policy: Policy | None = None) -> str | None:
    """Check `tree` against `policy` (default: `DEFAULT_POLICY`); the first violation or None."""
    return PolicyChecker(policy or DEFAULT_POLICY).first_violation(tree)
