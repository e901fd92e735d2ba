"""The sandbox: a pool of zygote processes that fork one confined, one-shot child per run.

See `child.py` for the confinement (order, seccomp route, guarantees and non-guarantees),
`local.py` for the server-zygote protocol and `gvisor.py` for gVisor mode.
"""

from __future__ import annotations

from azr_executor.sandbox.jobs import ExceptionInfo, Job, JobPair, JobResult, Limits, PairMember
from azr_executor.sandbox.pool import SandboxPool

__all__ = ["ExceptionInfo", "Job", "JobPair", "JobResult", "Limits", "PairMember", "SandboxPool"]
