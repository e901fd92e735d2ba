"""Absolute Zero task semantics on the wire: tasks, proposals, policies, verdicts, learnability.

A task is built from a program (Python source with an entry function, `f` by default), inputs
and outputs:

- an *input* is the source of one argument list, as written inside `f(...)`: `"'abc', 2"`,
  `"[1, 2], key=3"`; it is data in the literal grammar (`azr_proto.literals`), never code: no
  names, calls (but `set()`, `dict()`...), attributes or lambdas;
- an *output* is the `repr` of a return value, which must be a plain Python literal (None, bool,
  int, float, complex, str, bytes, tuple, list, dict, set, frozenset, nested), so that the same
  grammar reads it back to an equal value and no comparison runs model code.

`deduction` and `abduction` tasks have one input/output pair; `induction` tasks have several, the
first `n_shown` shown to the solver and the rest hidden (the default split is half and half).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from azr_proto.tasks import TaskType

__all__ = [
    "DEFAULT_ALLOWED_MODULES",
    "DEFAULT_FORBIDDEN_ATTRIBUTES",
    "DEFAULT_FORBIDDEN_MODULES",
    "DEFAULT_FORBIDDEN_NAMES",
    "AnswerVerdict",
    "ExecutionOptions",
    "LearnabilityItem",
    "LearnabilityOptions",
    "LearnabilityRequest",
    "LearnabilityResponse",
    "LearnabilityResult",
    "Policy",
    "Proposal",
    "Reason",
    "Task",
    "TaskType",
    "ValidateRequest",
    "ValidateResponse",
    "ValidationResult",
    "ValidationStatus",
    "Verdict",
    "VerifyItem",
    "VerifyOptions",
    "VerifyRequest",
    "VerifyResponse",
    "VerifyResult",
]

MAX_SOURCE_CHARS = 100_000  # one program or answer
MAX_BATCH = 4096  # proposals or tasks per request
MAX_ANSWERS = 256  # answers per task


class Reason(StrEnum):
    """Why a proposal is invalid, or why an answer is incorrect or invalid. Stable wire strings."""

    # static checks (no sandbox run)
    SYNTAX_ERROR = "syntax_error"  # the program or answer does not parse
    MISSING_ENTRY = "missing_entry"  # no top-level `def <entry>`
    ENTRY_WITHOUT_PARAMETERS = "entry_without_parameters"  # the entry takes no argument
    POLICY_VIOLATION = "policy_violation"  # forbidden import, name or attribute
    BAD_INPUT = "bad_input"  # not an argument list of data (azr_proto.literals)
    MISSING_MESSAGE = "missing_message"  # an induction proposal without its message
    NOT_A_LITERAL = "not_a_literal"  # a deduction answer (or gold output) is not a literal value
    # runs
    PROGRAM_ERROR = "program_error"  # the module body raised while loading
    INPUT_ERROR = "input_error"  # no longer produced: inputs are data, never evaluated
    RUNTIME_ERROR = "runtime_error"  # the call raised (any BaseException)
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"  # the job printed past the sandbox's output cap
    CRASHED = "crashed"  # the process died (signal, os._exit) before reporting
    OUTPUT_TOO_LONG = "output_too_long"  # repr over `max_output_chars`
    OUTPUT_NOT_LITERAL = "output_not_literal"  # return value is not a plain, round-tripping literal
    NONDETERMINISTIC = "nondeterministic"  # outputs differ across processes / hash seeds
    STATE_DEPENDENT = "state_dependent"  # an output depends on calls made before it
    MALFORMED_RESULT = "malformed_result"  # the job's result document was missing or corrupt
    # verdicts
    WRONG_OUTPUT = "wrong_output"  # ran fine, value differs from the gold output
    SANDBOX_ERROR = "sandbox_error"  # the service failed; never a verdict on the program


class Policy(BaseModel):
    """What a program, an input or an answer may not use: an AST check, done before any run.

    - `allowed_modules` (default: pure-computation modules of the standard library,
      `DEFAULT_ALLOWED_MODULES`): an import must name one of these exactly (a submodule is
      listed on its own: `collections.abc`); `["*"]` allows every module that is not
      forbidden. Why a list of what is allowed: the standard library is full of modules
      that read files and clocks, evaluate strings or hand out frames (`traceback`, `doctest`,
      `cProfile`, `codecs`...), and a list of what is forbidden kept missing one.
    - `forbidden_modules`: `import a.b.c` and `from a.b import c` are rejected when `a`, `a.b`,
      `a.b.c` (or `a.b.c` as a module path of `from a.b import c`) is listed. Listing `os` forbids
      every submodule of `os`, and reaching it through another module: the attribute `os` or
      `_os` of any object, `from m import os`. With any module listed, private modules
      (`_thread`) and star imports (except from a few pure modules) are forbidden too.
    - `forbidden_names`: identifiers that may not appear at all (`eval`, `open`, `__import__`).
    - `forbidden_attributes`: attribute names that may not be accessed (`x.__globals__`), however
      the access is written: `x.attr`, `from m import attr`, or a class pattern's keyword
      (`case object(attr=v)`). With any attribute listed, a module may only be used through
      its attributes (`math.sqrt`, never `m = math`), and never its private ones (`m._x`).
    - `forbidden_dotted`: dotted names, after resolving import aliases (`import os as o; o.path`
      is `os.path`); `sys.exit` forbids `sys.exit` and `sys.exit.x` but not `sys`.

    The policy keeps tasks meaningful (no randomness, clocks, I/O) and closes the easy escapes. It
    is not the security boundary: the sandbox is.
    """

    model_config = ConfigDict(extra="forbid")

    allowed_modules: list[str] = Field(default_factory=lambda: list(DEFAULT_ALLOWED_MODULES))
    forbidden_modules: list[str] = Field(default_factory=lambda: list(DEFAULT_FORBIDDEN_MODULES))
    forbidden_names: list[str] = Field(default_factory=lambda: list(DEFAULT_FORBIDDEN_NAMES))
    forbidden_attributes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FORBIDDEN_ATTRIBUTES)
    )
    forbidden_dotted: list[str] = Field(default_factory=list)


DEFAULT_ALLOWED_MODULES: tuple[str, ...] = (
    # numbers
    "math", "cmath", "numbers", "decimal", "fractions", "statistics",
    # iteration, functions, containers
    "itertools", "functools", "operator", "collections", "collections.abc", "heapq", "bisect",
    "array", "copy", "graphlib", "queue",
    # text and bytes
    "string", "re", "textwrap", "unicodedata", "difflib", "json", "struct", "base64",
    "binascii", "reprlib", "pprint",
    # types and classes
    "typing", "dataclasses", "enum", "abc", "keyword",
)  # fmt: skip

DEFAULT_FORBIDDEN_MODULES: tuple[str, ...] = (
    # the reference's banned list, each word a module (os.sys/os.path/sys.exit/os.environ are
    # covered by forbidding os and sys outright)
    "logging", "random", "multiprocessing", "pebble", "subprocess", "threading", "datetime",
    "time", "hashlib", "hmac", "bcrypt", "calendar",
    # process, file system, network, interpreter internals, code loading
    "os", "sys", "shutil", "socket", "ctypes", "importlib", "builtins", "io", "pathlib", "signal",
    "resource", "gc", "inspect", "pickle", "marshal", "shelve", "dbm", "tempfile", "glob",
    "fnmatch", "fcntl", "pty", "tty", "termios", "posix", "nt", "pwd", "grp", "_thread",
    "_posixsubprocess", "asyncio", "concurrent", "selectors", "select", "mmap", "ssl", "urllib",
    "http", "ftplib", "smtplib", "telnetlib", "xmlrpc", "socketserver", "webbrowser", "code",
    "codeop", "runpy", "pdb", "bdb", "trace", "tracemalloc", "faulthandler", "sysconfig", "site",
    "zipimport", "pkgutil", "platform", "getpass", "atexit", "weakref", "uuid", "secrets",
    "types", "dis", "ast", "linecache", "tokenize", "compileall", "py_compile", "zipfile",
    "tarfile", "gzip", "bz2", "lzma", "sqlite3", "csv", "configparser", "__main__", "__future__",
    # read a clock or randomness inside their own functions, or resolve names to objects
    "email", "timeit", "sched", "pydoc", "unittest", "zoneinfo", "imaplib", "mailbox",
    # hand out frames, run strings as code, or read files (each one validated a clock reading)
    "traceback", "doctest", "profile", "cProfile", "pstats", "rlcompleter", "codecs",
    "fileinput", "cgitb", "warnings", "contextlib", "copyreg",
)  # fmt: skip

DEFAULT_FORBIDDEN_NAMES: tuple[str, ...] = (
    # code loading and evaluation: each would run a string the policy never saw
    "__import__", "eval", "exec", "compile", "importlib",
    # I/O and interaction
    "open", "input", "breakpoint", "help", "exit", "quit",
    # namespace and attribute access by string: would reach anything the attribute rules forbid
    "globals", "locals", "vars", "getattr", "setattr", "delattr", "__builtins__", "__loader__",
    "__spec__",
    # object addresses differ between processes
    "id",
    # attribute access by string (operator's helpers)
    "attrgetter", "methodcaller",
    # evaluate strings as code (typing's forward references, which singledispatch evaluates
    # too) or look attributes up by string (string.Formatter's fields, functools' wrapper
    # copiers: `update_wrapper(w, f, assigned=(name,))` hands `f.<name>` to `w.__setattr__`),
    # inside allowed modules
    "get_type_hints", "ForwardRef", "singledispatch", "singledispatchmethod", "Formatter",
    "update_wrapper", "wraps",
)  # fmt: skip

DEFAULT_FORBIDDEN_ATTRIBUTES: tuple[str, ...] = (
    # the classic sandbox escapes from any object to builtins, frames or code objects
    "__subclasses__", "__globals__", "__builtins__", "__code__", "__closure__", "__bases__",
    "__base__", "__mro__", "__getattribute__", "__reduce__", "__reduce_ex__", "__loader__",
    "__spec__", "__import__", "__self__", "__func__", "__defaults__", "__kwdefaults__",
    "__setattr__", "__delattr__", "__init_subclass__", "__class_getitem__", "mro",
    "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "f_globals", "f_locals",
    "f_builtins", "f_back", "f_code", "tb_frame", "tb_next",
    # attribute access by string: a module's namespace, and helpers that resolve a name
    "__dict__", "__getattr__", "attrgetter", "methodcaller", "get_field", "resolve_name",
    "locate", "import_module",
    # a module's namespace again (`m.__getstate__()`), code objects (an async generator's, a
    # forward reference's compiled string) and what evaluates strings, as above
    "__getstate__", "ag_code", "__forward_code__", "_evaluate", "get_type_hints", "ForwardRef",
    "singledispatch", "singledispatchmethod", "Formatter", "update_wrapper", "wraps",
)  # fmt: skip


class ExecutionOptions(BaseModel):
    """Options shared by every AZR endpoint. `policy=None` uses the service's default policy."""

    model_config = ConfigDict(extra="forbid")

    entry: str = Field(default="f", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    policy: Policy | None = None
    timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="wall-clock limit of one program's batch of calls; a service refuses (422) "
        "more than its own maximum wall limit",
    )
    memory_limit_mb: int = Field(
        default=512,
        ge=32,
        le=8192,
        description="a service refuses (422) more than its own maximum memory limit",
    )
    max_output_chars: int = Field(default=1000, ge=1, le=100_000)
    fresh_process_per_call: bool = Field(
        default=False,
        description="validation's second run: false (default) runs the inputs in reverse order "
        "in one process, each call on a fresh exec of the program (a new namespace); true gives "
        "every input its own fork of the loaded program (also a pristine interpreter per call: "
        "module caches, heap; one fork per input, much slower under gVisor)",
    )


class Proposal(BaseModel):
    """A proposer's artefact: a program and its inputs (one for deduction/abduction, N for
    induction, with a message)."""

    model_config = ConfigDict(extra="forbid")

    task_type: TaskType
    program: str = Field(max_length=MAX_SOURCE_CHARS)
    inputs: list[str] = Field(min_length=1, max_length=64)
    message: str | None = Field(default=None, max_length=MAX_SOURCE_CHARS)

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.task_type is not TaskType.INDUCTION and len(self.inputs) != 1:
            raise ValueError(f"a {self.task_type} proposal has exactly one input")
        if any(len(i) > MAX_SOURCE_CHARS for i in self.inputs):
            raise ValueError(f"an input is longer than {MAX_SOURCE_CHARS} characters")
        return self


class ValidateRequest(BaseModel):
    """`POST /v1/azr/validate`: many proposals, validated concurrently."""

    model_config = ConfigDict(extra="forbid")

    proposals: list[Proposal] = Field(min_length=1, max_length=MAX_BATCH)
    options: ExecutionOptions = Field(default_factory=ExecutionOptions)


class ValidationStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    SANDBOX_ERROR = "sandbox_error"  # not a verdict on the proposal: retry it


class ValidationResult(BaseModel):
    """One proposal's fate. A valid proposal carries one output repr per input."""

    status: ValidationStatus
    reason: Reason | None = None
    message: str = ""
    outputs: list[str] | None = None
    input_index: int | None = Field(default=None, description="the input that failed, if known")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def valid(self) -> bool:
        return self.status is ValidationStatus.VALID


class ValidateResponse(BaseModel):
    results: list[ValidationResult]


class Task(BaseModel):
    """A validated task. Deduction/abduction: one pair. Induction: N pairs, the first `n_shown`
    shown to the solver (default N // 2), the rest hidden and used for grading."""

    model_config = ConfigDict(extra="forbid")

    task_type: TaskType
    program: str = Field(max_length=MAX_SOURCE_CHARS)
    inputs: list[str] = Field(min_length=1, max_length=64)
    outputs: list[str] = Field(min_length=1, max_length=64)
    message: str | None = Field(default=None, max_length=MAX_SOURCE_CHARS)
    n_shown: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if len(self.inputs) != len(self.outputs):
            raise ValueError("a task has as many outputs as inputs")
        if self.task_type is not TaskType.INDUCTION and len(self.inputs) != 1:
            raise ValueError(f"a {self.task_type} task has exactly one input/output pair")
        if self.task_type is TaskType.INDUCTION and not self.hidden_indices:
            raise ValueError("an induction task needs at least one hidden pair")
        return self

    @property
    def hidden_indices(self) -> list[int]:
        """Indices of the pairs an induction answer is graded on."""
        n = len(self.inputs)
        shown = n // 2 if self.n_shown is None else self.n_shown
        return list(range(min(shown, n), n))


class VerifyOptions(ExecutionOptions):
    induction_rule: Literal["all", "fraction"] = Field(
        default="all",
        description="`all`: an induction answer scores 1 only when every hidden pair passes; "
        "`fraction`: it scores the fraction passed (its verdict is still `correct` only when all "
        "pass)",
    )


class VerifyItem(BaseModel):
    """One task and the answers to grade against it (identical answers are graded once)."""

    model_config = ConfigDict(extra="forbid")

    task: Task
    answers: list[str] = Field(min_length=1, max_length=MAX_ANSWERS)

    @model_validator(mode="after")
    def _sizes(self) -> Self:
        if any(len(a) > MAX_SOURCE_CHARS for a in self.answers):
            raise ValueError(f"an answer is longer than {MAX_SOURCE_CHARS} characters")
        return self


class VerifyRequest(BaseModel):
    """`POST /v1/azr/verify`: many tasks, each with many answers."""

    model_config = ConfigDict(extra="forbid")

    items: list[VerifyItem] = Field(min_length=1, max_length=MAX_BATCH)
    options: VerifyOptions = Field(default_factory=VerifyOptions)


class Verdict(StrEnum):
    CORRECT = "correct"
    INCORRECT = "incorrect"  # parsed and ran (or failed to run) but does not reproduce the gold
    INVALID = "invalid"  # cannot be parsed, or breaks the policy
    SANDBOX_ERROR = "sandbox_error"  # the service failed; never a verdict on the answer


class AnswerVerdict(BaseModel):
    verdict: Verdict
    score: float = Field(ge=0, le=1, description="1/0, or the fraction passed (induction)")
    reason: Reason | None = None
    message: str = ""


class VerifyResult(BaseModel):
    verdicts: list[AnswerVerdict]


class VerifyResponse(BaseModel):
    results: list[VerifyResult]


class LearnabilityOptions(VerifyOptions):
    extreme_reward: float = Field(
        default=0.0,
        description="reward of a task solved always or never (the paper: 0; the reference "
        "trainer: -0.5)",
    )


class LearnabilityItem(VerifyItem):
    """A task and its K solver rollouts (the paper uses K = 8)."""


class LearnabilityRequest(BaseModel):
    """`POST /v1/azr/learnability`: many tasks, each with K answers."""

    model_config = ConfigDict(extra="forbid")

    items: list[LearnabilityItem] = Field(min_length=1, max_length=MAX_BATCH)
    options: LearnabilityOptions = Field(default_factory=LearnabilityOptions)


class LearnabilityResult(BaseModel):
    """`solve_rate` is the mean score; `reward` is `1 - s` for 0 < s < 1, else `extreme_reward`.
    Both are null when any answer hit a sandbox error: an outage never becomes a reward."""

    verdicts: list[AnswerVerdict]
    solve_rate: float | None
    reward: float | None


class LearnabilityResponse(BaseModel):
    results: list[LearnabilityResult]
