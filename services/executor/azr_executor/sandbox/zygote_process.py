"""One zygote process seen from the server: start it, feed it jobs, read its frames.

The wire format is `azr_executor.inside.protocol` (the zygote imports the same module). Jobs go
down as `marshal` frames (the zygote trusts the server); frames come back as a small JSON header
and raw stdout/stderr bytes, each length checked against the job's output cap before a byte is
read (the server trusts nothing that ran next to submitted code: no `marshal.loads` here).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import signal
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azr_executor.inside import protocol
from azr_executor.inside.zygote import BOOTSTRAP
from azr_executor.sandbox.jobs import Job

__all__ = ["NotStarted", "ZygoteConfig", "ZygoteDied", "ZygoteProcess"]

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # azr_executor/, as the zygote imports it
_MAGIC = importlib.util.MAGIC_NUMBER.hex()  # `Job.compiled` is sent only to zygotes with this one


class ZygoteDied(Exception):
    """The zygote exited or broke its protocol; the job it was running is lost."""


class NotStarted(ZygoteDied):
    """The zygote went away before it read this job: the job may run on another zygote."""


@dataclass(slots=True)
class ZygoteConfig:
    """How to start one zygote."""

    index: int
    hash_seed: int
    uid: int | None
    work_root: str
    command_prefix: list[str]  # e.g. runsc ... do; empty in process mode
    python: str
    preload: list[str]
    scratch_mb: int
    scratch_inodes: int
    private_mounts: bool
    seccomp: bool
    spare: bool = False
    cgroup: dict[str, Any] | None = None  # the zygote's run group (`inside.cgroup.RunGroup`)
    userns: bool = False  # no root: the zygote is pid 1 of user, mount, PID, IPC namespaces
    mask_paths: list[str] = field(default_factory=list)  # hidden from the runs (secrets)

    def argv(self) -> list[str]:
        cfg = {
            "uid": self.uid,
            "work_root": self.work_root,
            "preload": self.preload,
            "scratch_mb": self.scratch_mb,
            "scratch_inodes": self.scratch_inodes,
            "private_mounts": self.private_mounts,
            "seccomp": self.seccomp,
            "gvisor": bool(self.command_prefix),
            "cgroup": self.cgroup,
            "userns": self.userns,
            "mask_paths": self.mask_paths,
        }
        return [*self.command_prefix, self.python, "-s", "-S", "-P", "-c",
                BOOTSTRAP % str(PACKAGE_DIR), json.dumps(cfg)]  # fmt: skip

    def env(self) -> dict[str, str]:
        # Nothing of the server's environment (tokens, database URLs) reaches a zygote.
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONHASHSEED": str(self.hash_seed),
            "PYTHONDONTWRITEBYTECODE": "1",
            # Every library symbol is resolved once, at the zygote's start: with lazy binding
            # each forked run resolved again the ones only runs call, writing (and so copying)
            # the GOT pages: about 13 page faults per run.
            "LD_BIND_NOW": "1",
        }


@dataclass(slots=True)
class _InFlight:
    job_id: int
    future: asyncio.Future[tuple[dict[str, Any], float]]
    t_submit: float
    wall_s: float
    output_cap: int | None  # None: a frame of no run (stats)


@dataclass
class ZygoteProcess:
    """A running zygote and the jobs it has been sent but not yet answered (in order)."""

    config: ZygoteConfig
    proc: asyncio.subprocess.Process
    pid_inside: int
    magic: str = ""  # the zygote interpreter's bytecode magic number (hex)
    inflight: deque[_InFlight] = field(default_factory=deque)
    last_progress: float = 0.0
    alive: bool = True
    _reader: asyncio.Task[None] | None = None
    _stderr_task: asyncio.Task[None] | None = None
    _next_id: int = 0

    @classmethod
    async def spawn(cls, config: ZygoteConfig, *, ready_timeout_s: float = 60.0) -> ZygoteProcess:
        """Start the zygote and wait for its `ready` frame."""
        proc = await asyncio.create_subprocess_exec(
            *config.argv(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=config.env(),
            start_new_session=True,
        )
        try:
            hello = await asyncio.wait_for(_read_frame(proc, None), ready_timeout_s)
        except (TimeoutError, ZygoteDied, ValueError) as exc:
            _kill(proc)
            await proc.wait()
            err = b""
            if proc.stderr is not None:
                with contextlib.suppress(Exception):
                    err = await asyncio.wait_for(proc.stderr.read(4000), 1)
            raise ZygoteDied(
                f"zygote {config.index} did not start: {exc!r} {err.decode()!r}"
            ) from None
        if hello.get("status") != "ready":
            _kill(proc)
            raise ZygoteDied(f"zygote {config.index} sent {hello!r} instead of ready")
        for warning in hello.get("warnings", []):
            logger.warning("zygote=%d %s", config.index, warning)
        zyg = cls(config=config, proc=proc, pid_inside=int(hello["pid"]),
                  magic=str(hello.get("magic", "")))  # fmt: skip
        zyg.last_progress = asyncio.get_running_loop().time()
        zyg._reader = asyncio.create_task(zyg._read_results())
        zyg._stderr_task = asyncio.create_task(zyg._log_stderr())
        return zyg

    @property
    def hash_seed(self) -> int:
        return self.config.hash_seed

    def submit(
        self, job: Job, layout_salt: int = 0
    ) -> asyncio.Future[tuple[dict[str, Any], float]]:
        """Send one job; the future resolves to (raw result, submit time)."""
        if not self.alive or self.proc.stdin is None:
            raise ZygoteDied(f"zygote {self.config.index} is gone")
        loop = asyncio.get_running_loop()
        self._next_id += 1
        code: str | bytes = job.code
        flags = 0
        if job.compiled is not None and self.magic == _MAGIC:
            code, flags = job.compiled, protocol.FLAG_COMPILED
        msg = ("run", self._next_id, code, job.stdin, tuple(job.files.items()),
               job.limits.as_tuple(), flags, layout_salt)  # fmt: skip
        if not self.inflight:
            self.last_progress = loop.time()
        self.proc.stdin.write(protocol.encode_job(msg))
        fut: asyncio.Future[tuple[dict[str, Any], float]] = loop.create_future()
        self.inflight.append(_InFlight(self._next_id, fut, loop.time(), job.limits.wall_s,
                                       job.limits.output_bytes))  # fmt: skip
        return fut

    async def stats(self) -> dict[str, Any]:
        """Ask the zygote about its scratch root and stray children (for tests and /readyz)."""
        if not self.alive or self.proc.stdin is None:
            raise ZygoteDied(f"zygote {self.config.index} is gone")
        loop = asyncio.get_running_loop()
        self.proc.stdin.write(protocol.encode_job(("stats", 0)))
        fut: asyncio.Future[tuple[dict[str, Any], float]] = loop.create_future()
        self.inflight.append(_InFlight(0, fut, loop.time(), 5.0, None))
        raw, _ = await fut
        return raw

    def overdue(self, now: float, grace_s: float) -> bool:
        """True when the head job has run far past its wall limit: the zygote is stuck."""
        if not self.inflight:
            return False
        return now - self.last_progress > self.inflight[0].wall_s + grace_s

    async def _read_results(self) -> None:
        retired = False
        try:
            while True:
                head = await _read_head(self.proc)
                if not self.inflight:
                    raise ZygoteDied("frame without a job")
                raw = await _read_body(self.proc, head, self.inflight[0].output_cap)
                self.last_progress = asyncio.get_running_loop().time()
                item = self.inflight.popleft()
                if raw.get("retire"):
                    # It exits after this frame: nothing queued behind it was read.
                    retired, self.alive = True, False
                if not item.future.done():
                    item.future.set_result((raw, item.t_submit))
        except (ZygoteDied, ValueError, asyncio.IncompleteReadError, ConnectionError) as exc:
            self._fail_all(f"zygote {self.config.index} died: {exc}", head_started=not retired)
        except asyncio.CancelledError:
            self._fail_all(f"zygote {self.config.index} stopped", head_started=not retired)
            raise

    def _fail_all(self, reason: str, *, head_started: bool = True) -> None:
        """Fail what is in flight: the head job may have run (ZygoteDied); the zygote never
        read the jobs behind it (NotStarted: the pool sends them to another zygote)."""
        self.alive = False
        first = head_started
        while self.inflight:
            item = self.inflight.popleft()
            if not item.future.done():
                exc = ZygoteDied(reason) if first else NotStarted(reason)
                item.future.set_exception(exc)
            first = False

    async def _log_stderr(self) -> None:
        assert self.proc.stderr is not None
        with contextlib.suppress(Exception):
            while line := await self.proc.stderr.readline():
                logger.warning(
                    "zygote=%d stderr: %s",
                    self.config.index,
                    line[:500].decode(errors="replace").rstrip(),
                )

    async def close(self) -> None:
        """Kill the zygote (and, through it, every run it was serving) and reap it."""
        self.alive = False
        _kill(self.proc)
        with contextlib.suppress(ProcessLookupError):
            await self.proc.wait()
        for task in (self._reader, self._stderr_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._fail_all(f"zygote {self.config.index} closed")


async def _read_frame(proc: asyncio.subprocess.Process, output_cap: int | None) -> dict[str, Any]:
    """One frame: the header as a dict, with the streams decoded into `stdout` and `stderr`."""
    return await _read_body(proc, await _read_head(proc), output_cap)


async def _read_head(proc: asyncio.subprocess.Process) -> bytes:
    assert proc.stdout is not None
    try:
        return await proc.stdout.readexactly(protocol.RESULT_HEAD.size)
    except asyncio.IncompleteReadError:
        raise ZygoteDied("end of stream") from None


async def _read_body(
    proc: asyncio.subprocess.Process, head: bytes, output_cap: int | None
) -> dict[str, Any]:
    assert proc.stdout is not None
    n_header, n_out, n_err = protocol.parse_head(head, output_cap)  # caps checked first
    value = protocol.parse_header(await proc.stdout.readexactly(n_header))
    out = await proc.stdout.readexactly(n_out) if n_out else b""
    err = await proc.stdout.readexactly(n_err) if n_err else b""
    value["stdout"] = out.decode("utf-8", "replace")
    value["stderr"] = err.decode("utf-8", "replace") if "detail" not in value else value["detail"]
    return value


def _kill(proc: asyncio.subprocess.Process) -> None:
    # The zygote leads its own session: kill the group (runsc's helpers, the zygote itself);
    # the zygote's runs die with it through PR_SET_PDEATHSIG and the next zygote's uid sweep.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
