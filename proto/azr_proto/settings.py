"""How the services read their environment settings: one list format, one-line errors, a help list.

Both services (`azr-executor`, `azr-buffer`) read `AZR_<SERVICE>_*` variables with
pydantic-settings. This module is the one owner of what they have in common:

- a list setting (tokens, preload modules) is comma-separated, `a,b,c`; a JSON list,
  `["a","b","c"]`, is accepted too (`split_list`);
- a malformed setting is one line naming the variable, its value and the expected form, with
  exit status 2, never a traceback (`settings_or_exit`);
- `serve --help` lists every variable with its default (`settings_help`).
"""

from __future__ import annotations

import json
import re
import sys
import types
import typing
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

__all__ = ["LIST_FORM", "settings_help", "settings_or_exit", "split_list"]

T = TypeVar("T", bound=BaseModel)

LIST_FORM = 'comma-separated values (a,b) or a JSON list (["a","b"])'


def split_list(value: object) -> object:
    """A list setting from the environment: `a, b` or `["a", "b"]` -> `["a", "b"]`.

    Anything but a string (a list passed in code) is returned as is, for pydantic to check.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON list ({exc.msg}); use {LIST_FORM}") from None
        if not isinstance(loaded, list) or not all(isinstance(v, str) for v in loaded):
            raise ValueError(f"a JSON list must hold strings; use {LIST_FORM}")
        return [v.strip() for v in loaded if v.strip()]
    return [v.strip() for v in text.split(",") if v.strip()]


def _prefix(cls: type[BaseModel]) -> str:
    return str(cls.model_config.get("env_prefix", ""))


def _form(annotation: Any) -> str:
    """The expected form of a setting, in words, from its type."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Annotated:
        return _form(args[0])
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _form(args[0]) + " (or unset)"
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin is list:
        return LIST_FORM
    names = {bool: "true or false", int: "an integer", float: "a number", str: "text"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)).lower())


def _explain(cls: type[BaseModel], exc: Exception) -> str:
    prefix = _prefix(cls)
    if not isinstance(exc, ValidationError):
        # pydantic-settings' SettingsError: a complex value that is not JSON.
        found = re.search(r'field "(\w+)"', str(exc))
        if found and found.group(1) in cls.model_fields:
            name = found.group(1)
            annotation = cls.model_fields[name].annotation
            return f"{prefix}{name.upper()}: expected {_form(annotation)}"
        return str(exc)
    parts = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
        if not err["loc"]:
            parts.append(msg)
            continue
        name = str(err["loc"][0])
        value = err.get("input")
        shown = f"={value}" if isinstance(value, str | int | float) else ""
        parts.append(f"{prefix}{name.upper()}{shown}: {msg}")
    return "; ".join(parts)


def settings_or_exit(cls: type[T], prog: str, **overrides: Any) -> T:
    """`cls(**overrides)`, or exit with status 2 and one line naming the bad variable."""
    try:
        return cls(**overrides)
    except ValueError as exc:  # ValidationError and pydantic-settings' SettingsError
        _exit(f"{prog}: error: {_explain(cls, exc)}")


def _exit(message: str) -> NoReturn:
    sys.stderr.write(message + "\n")
    raise SystemExit(2)


def settings_help(cls: type[BaseModel], readme: str) -> str:
    """An argparse epilog: every environment variable of `cls`, with its form and default."""
    lines = [f"settings (environment variables; what each does: {readme}):"]
    for name, field in cls.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, list):
            default = ",".join(str(v) for v in default)
        shown = "unset" if default in (None, "") else str(default)
        shown = shown.lower() if isinstance(default, bool) else shown
        lines.append(
            f"  {_prefix(cls)}{name.upper():<24} {_form(field.annotation)}; default {shown}"
        )
    return "\n".join(lines)
