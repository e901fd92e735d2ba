"""Configuration of the executor service: one pydantic-settings class, read from AZR_EXECUTOR_* variables."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Annotated, Literal

from azr_proto.settings import split_list
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["DEFAULT_PRELOAD", "ExecutorSettings"]

# Imported once in every zygote, so a child that uses them pays no import cost.
# Kept short: a bigger zygote makes every fork slower (page tables, copy-on-write faults).
DEFAULT_PRELOAD = [
    "collections", "itertools", "functools", "math", "re", "string", "heapq", "bisect",
    "operator", "copy", "traceback", "types", "atexit",
]  # fmt: skip


class ExecutorSettings(BaseSettings):
    """Settings of the executor service. Built once by `create_app` or the CLI; never at import."""

    model_config = SettingsConfigDict(env_prefix="AZR_EXECUTOR_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8010, ge=0, le=65535)
    log_level: str = "info"

    # --- sandbox pool
    sandbox: Literal["process", "gvisor"] = "process"  # gvisor: each zygote inside `runsc do`
    zygotes: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    # With one zygote, a second one with another hash seed serves `avoid_hash_seed` jobs
    # (AZR's determinism check needs two processes with different PYTHONHASHSEED).
    spare_zygote: bool = True
    zygote_window: int = Field(default=4, ge=1, le=256)  # jobs pipelined into one zygote
    # Process mode: zygote i (and every run it forks) is bound to the i-th CPU this service may
    # use, round-robin. A run then starts on the core whose caches hold its zygote's pages
    # instead of being moved to another core at fork (measured: +28% runs/s, -12% CPU per run
    # with two zygotes). A run's own threads and processes share that one core.
    pin_zygotes: bool = True
    max_queue: int = Field(default=4096, ge=1)  # runs admitted but not finished; over it: 429
    retry_after_s: int = Field(default=1, ge=1)
    # Interpreter of the zygotes (run with -s -S -P: stdlib only), CPython 3.11 or later. How it
    # was built matters: Debian's python3.11 (optimized, libpython linked in) ran the AZR step
    # 11% faster than pyenv's default build (BENCHMARKS.md).
    python: str = sys.executable
    runsc: str = "runsc"
    preload: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_PRELOAD))
    # Why: only a root service can drop each run to an unprivileged uid of its own (one per
    # zygote, base + index), so runs cannot signal the server, the zygotes or each other.
    sandbox_uid_base: int = Field(default=61000, ge=1000, le=2**31 - 1024)
    work_root: Path | None = None  # default: /run/azr-executor as root, a temp dir otherwise
    # Why: each zygote's scratch is a tmpfs of this size, so disk and inode fills stop there.
    scratch_mb: int = Field(default=64, ge=1)
    scratch_inodes: int = Field(default=4096, ge=64)
    private_mounts: bool = True  # as root: read-only empty /tmp, /dev/shm; hidepid /proc
    # Why: the filter is written for x86_64; elsewhere the service refuses to start unless this
    # is turned off on purpose (then no syscall is filtered at all).
    seccomp: bool = True
    # Why: only a cgroup holds a run's processes together to one memory limit (shmem and memfd
    # included) and one pids limit, and kills them all at the end (root only).
    cgroups: bool = True
    cgroup_root: Path | None = None  # a delegated cgroup directory; default: our own group
    # Why: without root, only a user namespace per zygote (with its own PID and mount
    # namespaces) keeps a run from seeing the service's processes and files; without either,
    # the service refuses to start unless the weaker mode is accepted on purpose.
    user_namespaces: bool = True
    allow_weak_isolation: bool = False

    # --- default limits of a run, and the most a request may ask for
    wall_timeout_s: float = Field(default=10.0, gt=0)
    cpu_timeout_s: int = Field(default=10, ge=1)
    memory_limit_mb: int = Field(default=512, ge=32)
    output_limit_bytes: int = Field(default=64 * 1024, ge=1024)
    processes: int = Field(default=32, ge=1)
    open_files: int = Field(default=64, ge=8)
    file_size_mb: int = Field(default=16, ge=1)
    max_wall_timeout_s: float = Field(default=60.0, gt=0)
    max_cpu_timeout_s: int = Field(default=60, ge=1)
    max_memory_limit_mb: int = Field(default=4096, ge=32)
    max_processes: int = Field(default=256, ge=1)
    max_open_files: int = Field(default=1024, ge=8)
    max_file_size_mb: int = Field(default=256, ge=1)

    max_output_limit_bytes: int = Field(default=8 << 20, ge=1024, le=32 << 20)

    # --- service-wide budgets. Why: output is held in memory until it is answered; without a
    # bound a batch of noisy runs could grow the service by gigabytes.
    max_inflight_output_mb: int = Field(default=1024, ge=1)  # 2 x output cap per admitted run
    max_response_mb: int = Field(default=128, ge=1)  # JSON bytes of stdout+stderr per response

    # --- HTTP server. Why: slow or idle clients must not hold connections forever.
    http_header_timeout_s: float = Field(default=10.0, gt=0)
    http_body_timeout_s: float = Field(default=60.0, gt=0)  # a whole body, after its headers
    http_keepalive_s: float = Field(default=5.0, gt=0)
    http_max_connections: int = Field(default=1024, ge=1)  # over it: 503

    # --- request limits
    max_code_bytes: int = Field(default=1 << 20, ge=64)
    max_body_bytes: int = Field(default=32 << 20, ge=1024)  # over it: 413
    max_batch: int = Field(default=1024, ge=1)  # runs per /v1/run/batch, cases per /v1/tests

    # --- auth: bearer tokens (a list, or a file with one token per line, optionally followed by
    # the tenant's name); none = open
    # AZR_EXECUTOR_TOKENS: comma-separated, as AZR_BUFFER_TOKENS (a JSON list is accepted too).
    tokens: Annotated[list[str], NoDecode] = Field(default_factory=list)
    token_file: Path | None = None
    token_concurrency: int = Field(default=64, ge=1)  # requests in flight per token; over: 429

    # --- fair sharing between tenants (tokens): queued runs are served by weighted round robin
    tenant_weights: dict[str, float] = Field(default_factory=dict)  # tenant name -> weight (1)
    # Why: without a cap one tenant's batches could fill `max_queue` and turn every other
    # tenant's run away with 429; this is the most of it one tenant may hold.
    tenant_queue_share: float = Field(default=0.5, gt=0, le=1)

    # Lists read as the buffer reads them (azr_proto.settings): `a,b` or a JSON list.
    _lists = field_validator("tokens", "preload", mode="before")(split_list)

    @field_validator("python")
    @classmethod
    def _python_runs(cls, value: str) -> str:
        if not value or shutil.which(value) is None:
            raise ValueError(f"{value!r} is not an executable file (nor a command on PATH)")
        return value

    @model_validator(mode="after")
    def _seccomp_supported(self) -> ExecutorSettings:
        machine = platform.machine()
        if self.seccomp and machine not in ("x86_64", "AMD64"):
            raise ValueError(
                f"the seccomp filter supports x86_64 only and this CPU is {machine}: set "
                "AZR_EXECUTOR_SECCOMP=false to run without any syscall filter"
            )
        return self

    @model_validator(mode="after")
    def _defaults_within_maxima(self) -> ExecutorSettings:
        pairs = [
            ("wall_timeout_s", "max_wall_timeout_s"),
            ("cpu_timeout_s", "max_cpu_timeout_s"),
            ("memory_limit_mb", "max_memory_limit_mb"),
            ("output_limit_bytes", "max_output_limit_bytes"),
            ("processes", "max_processes"),
            ("open_files", "max_open_files"),
            ("file_size_mb", "max_file_size_mb"),
        ]
        for default, maximum in pairs:
            if getattr(self, default) > getattr(self, maximum):
                raise ValueError(f"{default} is above {maximum}")
        for name, weight in self.tenant_weights.items():
            if not weight > 0:
                raise ValueError(f"tenant_weights[{name!r}] = {weight} must be above 0")
        return self

    def resolved_work_root(self) -> Path:
        """Where the zygotes' scratch directories live."""
        if self.work_root is not None:
            return self.work_root
        if os.geteuid() == 0:
            return Path("/run/azr-executor")
        return Path(os.environ.get("TMPDIR", "/tmp")) / f"azr-executor-{os.getuid()}"

    def load_tokens(self) -> frozenset[str]:
        """The accepted bearer tokens: `tokens` plus the first field of each `token_file` line."""
        return frozenset({t for t in self.tokens if t} | set(self._token_file_entries()))

    def token_tenants(self) -> dict[str, str]:
        """Token -> tenant name, for the `token_file` lines that name one (`<token> <name>`)."""
        return {token: name for token, name in self._token_file_entries().items() if name}

    def _token_file_entries(self) -> dict[str, str]:
        if self.token_file is None:
            return {}
        entries: dict[str, str] = {}
        for line in self.token_file.read_text().splitlines():
            fields = line.split()
            if fields and not fields[0].startswith("#"):
                entries[fields[0]] = fields[1] if len(fields) > 1 else ""
        return entries
