"""What the pool runs and what it answers: `Limits`, `Job`, `ExceptionInfo`, `JobResult`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from azr_proto.statuses import RunStatus

__all__ = ["ExceptionInfo", "Job", "JobPair", "JobResult", "Limits", "PairMember"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits of one run: the wall limit and the output cap are enforced by the zygote;
    memory and processes by the run's cgroup (as root) and by rlimits; the rest by rlimits."""

    wall_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 512
    output_bytes: int = 64 * 1024  # per stream; past it the run ends with `output_limit`
    processes: int = 32  # RLIMIT_NPROC of the run's sandbox uid (threads count too)
    open_files: int = 64
    file_size_mb: int = 16

    def as_tuple(self) -> tuple[float, int, int, int, int, int, int]:
        """The wire order the zygote expects."""
        return (
            float(self.wall_s),
            int(self.cpu_s),
            int(self.memory_mb),
            int(self.output_bytes),
            int(self.processes),
            int(self.open_files),
            int(self.file_size_mb),
        )


@dataclass(slots=True)
class Job:
    """One program run: code, stdin, files written into its working directory, limits."""

    code: str
    stdin: bytes = b""
    files: dict[str, bytes] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    # False for long jobs (many programs each): sent only to a zygote with nothing in flight, so
    # that none waits in one zygote's pipe while another zygote is idle (jobs cannot move once
    # sent). Short runs are pipelined (`zygote_window`) to hide the round trip to the zygote.
    pipelined: bool = True
    # The server's own code only (never submitted code): `marshal.dumps(compile(code, ...))` made
    # by this interpreter. Sent instead of `code` to zygotes of the same bytecode version, so
    # the run skips compiling it (the AZR harness: ~7 ms of CPU per job).
    compiled: bytes | None = None
    # Memory-layout salt of the run (`inside/layout.py`): 0 leaves the layout as forked. A
    # `JobPair`'s follower gets its pair's salt, so the two runs differ in object addresses.
    layout_salt: int = 0


@dataclass(frozen=True, eq=False, slots=True)
class PairMember:
    """One of the two jobs of a `JobPair`: pass it as `SandboxPool.run(job, member=...)`."""

    pair: JobPair
    lead: bool


class JobPair:
    """Two jobs that must run on zygotes with different hash seeds, and may run at the same time.

    The leader goes to the first zygote free for it, like any job. The follower is not dispatched
    before the leader is, and then only to a zygote whose seed differs from the one the leader
    went to; so when the leader waits, both wait, and whichever zygote frees up first takes the
    leader. (Two runs of one program with different hash seeds, without waiting for the first to
    end: AZR validation.) Submit both, in any order: a follower whose leader is refused (queue
    full) ends as `sandbox_error` instead of waiting.

    The two runs also differ in memory layout: the leader runs as forked, the follower with
    `layout_salt` (non-zero), so programs whose output depends on object addresses differ.
    """

    __slots__ = ("abandoned", "follower", "follower_seed", "layout_salt", "leader", "leader_seed")

    def __init__(self) -> None:
        self.leader_seed: int | None = None  # set when the leader is dispatched
        self.follower_seed: int | None = None  # set when the follower is dispatched
        self.layout_salt = 1 + secrets.randbelow(2**31 - 1)
        self.abandoned = False  # the leader was refused: the follower must not wait
        self.leader = PairMember(self, lead=True)
        self.follower = PairMember(self, lead=False)


@dataclass(frozen=True, slots=True)
class ExceptionInfo:
    """An uncaught exception of the program, as the program's own process reported it."""

    type: str
    message: str
    traceback: str


@dataclass(slots=True)
class JobResult:
    """The outcome of one run. Exactly one status; `sandbox_error` is never the program's fault."""

    status: RunStatus
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    exit_code: int | None = None
    signal: int | None = None
    exception: ExceptionInfo | None = None
    wall_ms: float = 0.0
    cpu_ms: float = 0.0
    peak_rss_kb: int = 0
    queue_ms: float = 0.0
    hash_seed: int = 0
    kill_reason: str | None = None  # wall, cpu, output, memory, signal, confinement, zygote

    @classmethod
    def sandbox_error(cls, detail: str, *, queue_ms: float = 0.0, hash_seed: int = 0) -> JobResult:
        """An infrastructure fault: the run did not happen, or its result was lost."""
        return cls(
            status=RunStatus.SANDBOX_ERROR,
            stderr=detail,
            queue_ms=queue_ms,
            hash_seed=hash_seed,
            kill_reason="zygote",
        )

    @classmethod
    def from_zygote(cls, raw: dict[str, Any], *, queue_ms: float, hash_seed: int) -> JobResult:
        """Build a result from the zygote's JSON answer (validated field by field)."""
        exc = raw.get("exception")
        info = None
        if isinstance(exc, dict):
            info = ExceptionInfo(
                type=str(exc.get("type", "")),
                message=str(exc.get("message", "")),
                traceback=str(exc.get("traceback", "")),
            )
        return cls(
            status=RunStatus(raw["status"]),
            stdout=str(raw.get("stdout", "")),
            stderr=str(raw.get("stderr", "")),
            truncated=bool(raw.get("truncated", False)),
            exit_code=_opt_int(raw.get("exit_code")),
            signal=_opt_int(raw.get("signal")),
            exception=info,
            wall_ms=float(raw.get("wall_ms", 0.0)),
            cpu_ms=float(raw.get("cpu_ms", 0.0)),
            peak_rss_kb=int(raw.get("peak_rss_kb", 0)),
            queue_ms=queue_ms,
            hash_seed=hash_seed,
            kill_reason=raw.get("reason") if isinstance(raw.get("reason"), str) else None,
        )


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)
