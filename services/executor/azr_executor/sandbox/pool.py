"""The zygote pool: admission, dispatch to zygotes, replacement of dead ones, metrics hooks."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import stat
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azr_proto.asgi import ANONYMOUS, current_tenant
from azr_proto.statuses import RunStatus

from azr_executor.errors import Overloaded, RequestTooLarge
from azr_executor.inside import protocol
from azr_executor.inside.reap import children_of
from azr_executor.inside.seccomp import prctl
from azr_executor.sandbox.cgroups import GVISOR_OVERHEAD_MB, PoolGroups
from azr_executor.sandbox.fairness import FairQueue, TenantQuota
from azr_executor.sandbox.gvisor import runsc_prefix
from azr_executor.sandbox.identity import Mode, decide_mode
from azr_executor.sandbox.jobs import Job, JobPair, JobResult, PairMember
from azr_executor.sandbox.zygote_process import NotStarted, ZygoteConfig, ZygoteDied, ZygoteProcess
from azr_executor.settings import ExecutorSettings

__all__ = ["SandboxPool"]

logger = logging.getLogger(__name__)

# A zygote silent this long past a run's wall limit is killed and replaced; it is the zygote's
# bounded work after a run plus a margin (`inside/protocol.py`).
_STUCK_GRACE_S = protocol.STUCK_GRACE_S
_UID_SPAN = 4096  # sandbox uids are claimed in [sandbox_uid_base, sandbox_uid_base + span)
_UID_LOCKS = Path("/run/azr-executor-uids")
_PR_SET_CHILD_SUBREAPER = 36
# Whether a pool made this process a child subreaper (process-wide, and never undone).
_subreaper = [False]


@dataclass(slots=True)
class _Pending:
    job: Job
    future: asyncio.Future[JobResult]
    avoid_hash_seed: int | None
    t_admit: float
    member: PairMember | None = None
    output_bytes: int = 0  # reserved from the service's output budget until the job ends
    tenant: str = ""  # whose FIFO it waits in (a job sent again goes back to its head)


class SandboxPool:
    """Runs jobs on a pool of zygotes; `async with SandboxPool.start(settings) as pool`.

    Each zygote has its own random PYTHONHASHSEED (`JobResult.hash_seed`). `run(job,
    avoid_hash_seed=s)` runs the job on a zygote whose seed differs from `s`; with a single
    zygote, a spare zygote (settings.spare_zygote) serves exactly those jobs.
    """

    def __init__(self, settings: ExecutorSettings) -> None:
        self.settings = settings
        self._zygotes: list[ZygoteProcess | None] = []
        # Fairness hook (sandbox/fairness.py): queued jobs wait in one FIFO per tenant (the
        # request's token, `current_tenant`) and are served by the fair pick-next rule; each
        # tenant may hold at most its share of `max_queue`.
        self._pending: FairQueue[_Pending] = FairQueue(settings.tenant_weights)
        self._quota = TenantQuota(settings.max_queue, settings.tenant_queue_share, (ANONYMOUS,))
        self._admitted = 0
        self._closing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self._root = settings.resolved_work_root()
        self._private_root: Path | None = None
        if not (os.geteuid() == 0 and settings.private_mounts):
            # Without a private tmpfs per zygote, two pools on one host need their own paths.
            self._root.mkdir(parents=True, exist_ok=True, mode=0o711)
            self._private_root = Path(tempfile.mkdtemp(prefix="pool-", dir=self._root))
            self._root = self._private_root
        self._uid_locks: dict[int, int] = {}  # zygote index -> fd of its held uid lock
        self._uids: dict[int, int] = {}
        self._groups: PoolGroups | None = None
        self.mode: Mode = "root"
        self._slots: dict[int, dict[str, Any]] = {}  # zygote index -> its cgroup config
        self._ooms: dict[int, int] = {}  # gVisor mode: each slot's OOM-kill count at its spawn
        self._output_budget = settings.max_inflight_output_mb << 20
        self._output_reserved = 0
        self._budget_waiters: deque[tuple[int, asyncio.Future[None]]] = deque()
        self.on_result: Callable[[JobResult], None] | None = None
        self.on_zygote_death: Callable[[], None] | None = None

    # ---- lifecycle

    @classmethod
    @asynccontextmanager
    async def start(cls, settings: ExecutorSettings) -> AsyncIterator[SandboxPool]:
        """Start every zygote, yield the ready pool, and stop them all on exit."""
        pool = cls(settings)
        await pool._start()
        try:
            yield pool
        finally:
            await pool.close()

    async def _start(self) -> None:
        count = self.settings.zygotes + (1 if self._wants_spare() else 0)
        self._zygotes = [None] * count
        self.mode = await asyncio.to_thread(decide_mode, self.settings)
        if self.settings.cgroups:
            self._groups, why = PoolGroups.create(self.settings.cgroup_root)
        else:
            why = "AZR_EXECUTOR_CGROUPS=false"
        _log_enforcement(self.settings, self.mode, self._groups, why)
        if os.geteuid() == 0:
            _close_to_others(_UID_LOCKS.parent, self._root)
        if os.geteuid() == 0 and self.settings.sandbox == "process":
            # Runs orphaned by a zygote that died come back to the service, which reaps them
            # (`_reap_orphans`), instead of to an init that may never reap them. (In gVisor mode
            # a zygote's runs die with its sandbox, and runsc's own helpers go to init.)
            with contextlib.suppress(OSError):
                prctl(_PR_SET_CHILD_SUBREAPER, 1)
                _subreaper[0] = True
        try:
            spawned = await asyncio.gather(*(self._spawn(i) for i in range(count)))
        except BaseException:
            await self.close()
            raise
        self._zygotes = list(spawned)
        self._watchdog = asyncio.create_task(self._watch())

    def _wants_spare(self) -> bool:
        return self.settings.spare_zygote and self.settings.zygotes == 1

    async def _spawn(self, index: int) -> ZygoteProcess:
        s = self.settings
        root = os.geteuid() == 0
        taken = {z.hash_seed for z in self._zygotes if z is not None}
        seed = secrets.randbelow(2**32 - 1) + 1
        while seed in taken:
            seed = secrets.randbelow(2**32 - 1) + 1
        prefix: list[str] = []
        if s.sandbox == "gvisor":
            prefix = runsc_prefix(s.runsc, self._root / "state", index)
        group = None
        if self._groups is not None:
            group = self._slots[index] = self._groups.slot(index)  # emptied by root
            if prefix:  # the whole sandbox joins the slot: gVisor does not enforce memory.*
                self._groups.limit_memory(group, s.max_memory_limit_mb + GVISOR_OVERHEAD_MB)
                self._ooms[index] = self._groups.oom_kills(group)
                prefix = self._groups.join_command(group) + prefix
        config = ZygoteConfig(
            index=index,
            hash_seed=seed,
            uid=self._claim_uid(index) if root else None,
            work_root=str(self._root / f"z{index}"),
            command_prefix=prefix,
            python=s.python,
            preload=list(s.preload),
            scratch_mb=s.scratch_mb,
            scratch_inodes=s.scratch_inodes,
            private_mounts=s.private_mounts and self.mode in ("root", "userns"),
            seccomp=s.seccomp,
            spare=self._wants_spare() and index == s.zygotes,
            cgroup=group if not prefix else None,
            userns=self.mode in ("userns", "userns-nomounts") and not prefix,
            mask_paths=[str(s.token_file.resolve())] if s.token_file else [],
        )
        Path(config.work_root).mkdir(parents=True, exist_ok=True, mode=0o711)
        zygote = await ZygoteProcess.spawn(config)
        if s.pin_zygotes and s.sandbox == "process" and hasattr(os, "sched_setaffinity"):
            # Consecutive CPUs from an offset: as root, the pool's first claimed uid's place in
            # the range, so the pools of one host (distinct uids) start on different CPUs
            # instead of all on the first; a pool's own zygotes never share one while CPUs last.
            first = self._uids.get(0)
            slot = index + (0 if first is None else first - s.sandbox_uid_base)
            cpus = sorted(os.sched_getaffinity(0))
            # In user-namespace mode the zygote is the child of the process we started.
            pids = [zygote.proc.pid] + (children_of(zygote.proc.pid) if config.userns else [])
            try:
                for pid in pids:
                    os.sched_setaffinity(pid, {cpus[slot % len(cpus)]})
            except OSError as exc:  # e.g. a CPU set changed under us: run unpinned
                logger.warning("zygote=%d not pinned to a CPU: %s", index, exc)
        return zygote

    def _claim_uid(self, index: int) -> int:
        """A sandbox uid no other pool on this host uses: an flock per uid, held while we live.

        Every zygote kills all processes of its uid after each run, so two pools (two services,
        two test sessions) must never share one.
        """
        if index in self._uids:
            return self._uids[index]
        lock_dir = _UID_LOCKS
        lock_dir.mkdir(mode=0o700, exist_ok=True)
        taken = set(self._uids.values())
        base = self.settings.sandbox_uid_base
        for uid in range(base, base + _UID_SPAN):
            if uid in taken:
                continue
            fd = os.open(lock_dir / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._uid_locks[index], self._uids[index] = fd, uid
            return uid
        raise OSError(f"no free sandbox uid in [{base}, {base + _UID_SPAN})")

    async def close(self) -> None:
        """Stop the zygotes; every pending or in-flight job ends as `sandbox_error`."""
        self._closing = True
        for _, waiter in self._budget_waiters:
            if not waiter.done():
                waiter.set_exception(Overloaded("the executor is shutting down"))
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*(z.close() for z in self._zygotes if z is not None))
        if _subreaper[0]:  # what the zygotes' deaths orphaned (runsc's helpers) dies just after
            for _ in range(20 if self.settings.sandbox == "gvisor" else 5):
                await asyncio.sleep(0.05 if self.settings.sandbox == "gvisor" else 0.02)
                self._reap_orphans()
        if self._private_root is not None:
            shutil.rmtree(self._private_root, ignore_errors=True)
        for fd in self._uid_locks.values():
            os.close(fd)
        self._uid_locks.clear()
        if self._groups is not None:
            self._groups.remove()
        for item in self._pending.drain():
            if not item.future.done():
                item.future.set_result(JobResult.sandbox_error("the executor is shutting down"))

    # ---- admission and running

    @property
    def queue_depth(self) -> int:
        """Runs admitted and not finished (queued or running)."""
        return self._admitted

    @property
    def hash_seeds(self) -> list[int]:
        """The hash seed of each live zygote."""
        return [z.hash_seed for z in self._zygotes if z is not None and z.alive]

    def check_capacity(self, n: int) -> None:
        """Raise `Overloaded` when `n` more runs would overflow the queue bound."""
        if self._closing:
            raise Overloaded("the executor is shutting down", self.settings.retry_after_s)
        if self._admitted + n > self.settings.max_queue:
            raise Overloaded(
                f"queue full ({self._admitted} runs admitted, bound {self.settings.max_queue})",
                self.settings.retry_after_s,
            )
        tenant = current_tenant.get()
        if not self._quota.admits(tenant, n):
            raise Overloaded(
                f"this token's share of the queue is full ({self._quota.admitted(tenant)} runs "
                f"admitted, share {self._quota.limit} of {self.settings.max_queue})",
                self.settings.retry_after_s,
                reason="tenant_share",
            )

    async def run(
        self, job: Job, *, avoid_hash_seed: int | None = None, member: PairMember | None = None
    ) -> JobResult:
        """Run one job. Raises `Overloaded` when the queue is full; faults become sandbox_error.

        `member`: the job is one of a `JobPair` (submit both, in any order; a follower takes no
        `avoid_hash_seed`: it avoids the leader's).
        """
        if member is not None and not member.lead and avoid_hash_seed is not None:
            raise ValueError("a pair's follower avoids its leader's hash seed, and no other")
        if member is not None and member.pair.abandoned:
            return JobResult.sandbox_error("the other job of its pair was not admitted")
        try:
            self.check_capacity(1)
            await self._reserve_output(_output_bytes(job))
        except (Overloaded, RequestTooLarge, asyncio.CancelledError):
            if member is not None and member.lead:
                self._abandon(member.pair)
            raise
        return await self._submit(job, avoid_hash_seed, member)

    def _abandon(self, pair: JobPair) -> None:
        """The pair's leader will never run: its follower must not wait for it."""
        pair.abandoned = True
        for item in [i for i in self._pending if i.member is pair.follower]:
            self._pending.remove(item)
            if not item.future.done():
                item.future.set_result(
                    JobResult.sandbox_error("the other job of its pair was not admitted")
                )

    async def run_many(self, jobs: Sequence[Job]) -> list[JobResult]:
        """Run independent jobs (admitted all at once or not at all); results in order."""
        self.check_capacity(len(jobs))
        await self._reserve_output(sum(_output_bytes(job) for job in jobs))
        futures = [self._submit(job, None) for job in jobs]  # plain futures: no task per job
        return [await fut for fut in futures]

    async def _reserve_output(self, need: int) -> None:
        """Reserve `need` bytes of the service's output budget, waiting in turn for them.

        Each job reserves the most its two streams can bring back (`2 * output_bytes`) from
        admission until its result is handed over, so the output the whole service holds in
        flight never exceeds `max_inflight_output_mb`, whatever the programs print. A request
        that alone needs more is refused (413); one that waits past the longest wall limit
        gets 429. Waiters are served in order, so a large request is not starved by small ones.
        """
        if need > self._output_budget:
            raise RequestTooLarge(
                f"these runs may print {need} bytes of output together (2 streams x their "
                f"output_limit_bytes); the service holds at most {self._output_budget} bytes "
                "in flight (AZR_EXECUTOR_MAX_INFLIGHT_OUTPUT_MB): ask for less output per run "
                "or send fewer runs per request"
            )
        if not self._budget_waiters and self._output_reserved + need <= self._output_budget:
            self._output_reserved += need
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._budget_waiters.append((need, fut))
        try:
            await asyncio.wait_for(fut, self.settings.max_wall_timeout_s)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if fut.done() and not fut.cancelled():
                self._release_output(need)  # admitted at the last moment: give it back
            else:
                with contextlib.suppress(ValueError):
                    self._budget_waiters.remove((need, fut))
                self._admit_budget_waiters()
            if isinstance(exc, TimeoutError):
                raise Overloaded(
                    f"output budget in use ({self._output_reserved} of {self._output_budget} "
                    "bytes)",
                    self.settings.retry_after_s,
                ) from None
            raise

    def _release_output(self, n: int) -> None:
        self._output_reserved -= n
        self._admit_budget_waiters()

    def _admit_budget_waiters(self) -> None:
        while self._budget_waiters:
            need, fut = self._budget_waiters[0]
            if fut.done():
                self._budget_waiters.popleft()
                continue
            if self._output_reserved + need > self._output_budget:
                return
            self._budget_waiters.popleft()
            self._output_reserved += need
            fut.set_result(None)

    def _submit(
        self, job: Job, avoid_hash_seed: int | None, member: PairMember | None = None
    ) -> asyncio.Future[JobResult]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[JobResult] = loop.create_future()
        self._admitted += 1
        reserved = _output_bytes(job)  # reserved by the caller (`_reserve_output`)
        future.add_done_callback(lambda f: self._done(f, reserved))
        tenant = current_tenant.get()
        self._quota.add(tenant)
        future.add_done_callback(lambda _f: self._quota.release(tenant))
        item = _Pending(job, future, avoid_hash_seed, loop.time(), member, reserved, tenant)
        self._pending.push(item, tenant)
        self._pump()
        return future

    def _done(self, future: asyncio.Future[JobResult], reserved: int) -> None:
        self._admitted -= 1
        self._release_output(reserved)
        if self.on_result is not None and not future.cancelled() and future.exception() is None:
            self.on_result(future.result())

    def _eligible(self, zyg: ZygoteProcess, item: _Pending) -> bool:
        if not item.job.pipelined and zyg.inflight:
            return False
        avoid = item.avoid_hash_seed
        if item.member is not None and not item.member.lead:
            avoid = item.member.pair.leader_seed
            if avoid is None:  # held until its leader is dispatched
                return False
        elif item.member is not None and item.member.pair.follower_seed is not None:
            avoid = item.member.pair.follower_seed  # a leader sent again after its zygote died
        if avoid is None:
            return not zyg.config.spare
        return zyg.hash_seed != avoid

    def _pump(self) -> None:
        """Move pending jobs into zygotes with room in their window, least loaded first."""
        window = self.settings.zygote_window
        while self._pending:
            live = [z for z in self._zygotes if z is not None and z.alive]
            placed = False
            for zyg in sorted(live, key=lambda z: len(z.inflight)):
                if len(zyg.inflight) >= window:
                    continue
                for i, item in enumerate(self._pending):
                    if i >= 256:
                        break
                    if self._eligible(zyg, item):
                        self._pending.take(item)
                        self._dispatch(zyg, item)
                        placed = True
                        break
                if placed:
                    break
            if not placed:
                return

    def _dispatch(self, zyg: ZygoteProcess, item: _Pending) -> None:
        salt = item.job.layout_salt
        if item.member is not None and item.member.lead:
            item.member.pair.leader_seed = zyg.hash_seed  # releases the follower
        elif item.member is not None:
            item.member.pair.follower_seed = zyg.hash_seed
            salt = salt or item.member.pair.layout_salt  # the leader runs with salt 0
        try:
            fut = zyg.submit(item.job, salt)
        except (ZygoteDied, ConnectionError, RuntimeError) as exc:
            item.future.set_result(JobResult.sandbox_error(str(exc), hash_seed=zyg.hash_seed))
            return
        fut.add_done_callback(lambda f: self._finish(zyg, item, f))

    def _finish(self, zyg: ZygoteProcess, item: _Pending, fut: asyncio.Future[Any]) -> None:
        now = asyncio.get_running_loop().time()
        elapsed_ms = (now - item.t_admit) * 1000.0
        if item.future.done():
            pass
        elif not fut.cancelled() and isinstance(fut.exception(), NotStarted) and not self._closing:
            # Queued behind a run that took its zygote down: it never started, so it runs
            # elsewhere instead of failing.
            self._pending.push_front(item, item.tenant)
            self._replace(zyg)
        elif fut.cancelled() or fut.exception() is not None:
            detail = "zygote stopped" if fut.cancelled() else str(fut.exception())
            if self._sandbox_oom(zyg):  # the kernel OOM-killed the run's sandbox (gVisor)
                result = JobResult(status=RunStatus.MEMORY_LIMIT, stderr=detail,
                                   queue_ms=elapsed_ms, hash_seed=zyg.hash_seed,
                                   kill_reason="memory")  # fmt: skip
            else:
                result = JobResult.sandbox_error(
                    detail, queue_ms=elapsed_ms, hash_seed=zyg.hash_seed
                )
            item.future.set_result(result)
            self._replace(zyg)
        else:
            raw, _t_submit = fut.result()
            service_ms = float(raw.get("service_ms", 0.0))
            queue_ms = max(0.0, elapsed_ms - service_ms)
            try:
                result = JobResult.from_zygote(raw, queue_ms=queue_ms, hash_seed=zyg.hash_seed)
            except (KeyError, ValueError, TypeError) as exc:
                result = JobResult.sandbox_error(f"bad zygote answer: {exc}", queue_ms=queue_ms)
            item.future.set_result(result)
            if not zyg.alive:  # it retired after this run
                self._replace(zyg)
        self._pump()

    def _sandbox_oom(self, zyg: ZygoteProcess) -> bool:
        """gVisor mode: did the host kernel OOM-kill in this zygote's sandbox since its start?"""
        index = zyg.config.index
        if self._groups is None or index not in self._ooms:
            return False
        try:
            return PoolGroups.oom_kills(self._slots[index]) > self._ooms[index]
        except OSError:
            return False

    # ---- failure handling

    def _replace(self, zyg: ZygoteProcess) -> None:
        index = zyg.config.index
        if self._closing or index >= len(self._zygotes) or self._zygotes[index] is not zyg:
            return
        self._zygotes[index] = None
        if self.on_zygote_death is not None:
            self.on_zygote_death()
        task = asyncio.create_task(self._respawn(zyg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _respawn(self, dead: ZygoteProcess) -> None:
        index = dead.config.index
        logger.warning("zygote=%d died; replacing it", index)
        await dead.close()
        delay = 0.1
        while not self._closing:
            try:
                self._zygotes[index] = await self._spawn(index)
                self._pump()
                return
            except (ZygoteDied, OSError) as exc:
                logger.error("zygote=%d restart failed: %s", index, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.5)
            now = loop.time()
            for zyg in list(self._zygotes):
                if zyg is None:
                    continue
                if not zyg.alive or zyg.proc.returncode is not None:
                    zyg.alive = False
                    self._replace(zyg)
                elif zyg.overdue(now, _STUCK_GRACE_S):
                    logger.error(
                        "zygote=%d stuck past its wall limit; killing it", zyg.config.index
                    )
                    await zyg.close()
                    self._replace(zyg)
            # Jobs only some zygote may take (avoid_hash_seed) wait for one to come back.
            self._pump()
            self._reap_orphans()

    def _reap_orphans(self) -> None:
        """Reap zombies left to the service (a subreaper, or init: PID 1 of a container, as in a
        Kubernetes pod, where gVisor sends every orphan) by processes that died as orphans: runs
        of a dead zygote, processes a run left behind, or another runtime's helpers (runsc) when
        a gVisor pool shares the process. The zygotes themselves are asyncio's to wait for, so
        they are skipped; any other child of this process is waited for by whoever started it,
        which never leaves a zombie for more than an instant, and `wait` on a zombie only frees
        its process-table entry."""
        if not (_subreaper[0] or os.getpid() == 1):
            return
        ours = {z.proc.pid for z in self._zygotes if z is not None}
        for pid in _children():
            if pid in ours:
                continue
            try:
                with open(f"/proc/{pid}/stat", "rb") as fh:
                    line = fh.read()
            except OSError:
                continue
            if line[line.rfind(b")") + 2 :][:1] == b"Z":
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)

    async def zygote_stats(self) -> list[dict[str, Any]]:
        """Each live zygote's view of its scratch root and stray children."""
        out = []
        for zyg in self._zygotes:
            if zyg is not None and zyg.alive:
                stats = await zyg.stats()
                stats["index"] = zyg.config.index
                stats["uid"] = zyg.config.uid
                out.append(stats)
        return out

    @property
    def sweeps_units(self) -> bool:
        """True when a run's `kill(-1)` reaches only the run's own processes (a sandbox uid of
        its zygote's, or the zygote's PID namespace): the harness then kills what each unit
        left before the next one starts (`inside/harness.py`). Never in the weak mode, where
        it would reach the service."""
        return self.mode != "weak"

    def sandbox_uids(self) -> list[int]:
        """The uids runs execute as (empty when the service is not root)."""
        return [z.config.uid for z in self._zygotes if z is not None and z.config.uid is not None]

    @property
    def ready(self) -> bool:
        """True when at least one general-purpose zygote is alive."""
        return any(z is not None and z.alive and not z.config.spare for z in self._zygotes)


def _output_bytes(job: Job) -> int:
    return 2 * job.limits.output_bytes


def _log_enforcement(
    settings: ExecutorSettings, mode: Mode, groups: PoolGroups | None, why: str
) -> None:
    """Say once, at start, which of the sandbox's guarantees this host does not give."""
    missing = []
    if mode == "userns":
        missing.append("a sandbox uid of its own (runs are uid 0 of a user namespace that maps "
                       "only the service's uid: what the service may read on disk, a run may "
                       "too, except the masked token file)")  # fmt: skip
    elif mode == "userns-nomounts":
        missing.append("private mounts (user and PID namespaces work here, mounts inside them "
                       "do not): runs share the service's files, /tmp and each other's working "
                       "directories (AZR_EXECUTOR_ALLOW_WEAK_ISOLATION=true)")  # fmt: skip
    elif mode == "weak":
        missing.append("a sandbox uid, private mounts, /tmp and /dev/shm read-only, a PID "
                       "namespace or hidepid, a private IPC namespace, a scratch tmpfs (not "
                       "root, no user namespaces: AZR_EXECUTOR_ALLOW_WEAK_ISOLATION=true)")  # fmt: skip
    elif not settings.private_mounts:
        missing.append("private mounts (AZR_EXECUTOR_PRIVATE_MOUNTS=false)")
    if groups is None:
        missing.append(f"a cgroup per run ({why}): memory is bounded per process by "
                       "RLIMIT_AS, which does not count shmem, memfd or tmpfs pages; processes "
                       "are bounded per uid by RLIMIT_NPROC")  # fmt: skip
    if not settings.seccomp:
        missing.append("the seccomp filter (AZR_EXECUTOR_SECCOMP=false)")
    if missing:
        logger.warning("sandbox: not enforced on this host: %s", "; ".join(missing))
    else:
        logger.info(
            "sandbox: every guarantee enforced (cgroup v%d)", groups.version if groups else 0
        )


def status_counts(results: Sequence[JobResult]) -> dict[RunStatus, int]:
    """How many results have each status (for the per-request log line)."""
    counts: dict[RunStatus, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts


def _close_to_others(*paths: Path) -> None:
    """As root: where the pool keeps its state, no run may write (it could leave files there
    for later runs, under gVisor even where each zygote masks the shared directories, as mounts
    are not private to a zygote there). A Kubernetes memory emptyDir, as the Deployment mounts
    on /run, is mode 1777: made 0755."""
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o022:
            os.chmod(path, mode & ~0o1022)
            logger.info("%s was writable by others (mode %o): now %o", path, mode, mode & ~0o1022)


_CHILDREN_LISTED = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _children() -> list[int]:
    """This process's children: from /proc/<pid>/task/*/children, or, where there is no such
    file (runsc 2022-12), from the parent pid of every process."""
    me = os.getpid()
    if _CHILDREN_LISTED:
        return children_of(me)
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                ppid = fh.read().rsplit(b")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if int(ppid) == me:
            found.append(int(name))
    return found
