"""The sandbox, from the server's side: a pool of zygote processes that fork one confined,
one-shot child per run.

`pool.py` admits, dispatches and replaces; `zygote_process.py` talks to one zygote over the
protocol of `azr_executor.inside.protocol`; `cgroups.py` creates the pool's cgroups; `gvisor.py`
starts zygotes inside runsc. Everything that runs next to submitted code, and the guarantees and
non-guarantees of the confinement, are in `azr_executor.inside`.
"""

from __future__ import annotations

from azr_executor.sandbox.jobs import ExceptionInfo, Job, JobPair, JobResult, Limits, PairMember
from azr_executor.sandbox.pool import SandboxPool

__all__ = ["ExceptionInfo", "Job", "JobPair", "JobResult", "Limits", "PairMember", "SandboxPool"]
