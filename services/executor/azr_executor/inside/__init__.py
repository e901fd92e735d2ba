"""Everything that runs next to submitted code: stdlib only, readable in one sitting.

The server (`azr_executor.sandbox`) starts zygotes and talks to them through `protocol`; it
imports nothing else from here but `protocol` and `cgroup` (to create the groups). A zygote
imports only this package (see `zygote.BOOTSTRAP`), never the service's.

- `protocol`: the wire between server and zygote, and between child and zygote (written once);
- `zygote`: the loop that forks one child per job and decides its status from observation;
- `child`: the one-shot child's confinement, then the program;
- `seccomp`: the child's syscall filter (x86_64);
- `mounts`: the zygote's private mount and IPC namespaces, and the per-run working directory;
- `cgroup`: the per-zygote run cgroup (memory, pids, kill of the whole group; v2 or v1);
- `reap`: killing and reaping what a run left, from outside its uid, with bounded waits;
- `layout`: the memory-layout salt that makes a pair's two runs differ in addresses;
- `harness`: the one harness of `/v1/tests` and `/v1/azr` (runs as a job's code): forks a unit
  process per program or case, hands it model-written values as data, reports what it observed.

Guarantees, as a whole (process mode, service running as root, a cgroup hierarchy):
- a program cannot open a socket; trace, signal or read the memory of the zygote, the server or
  another run; read the server's environment; or see processes other than its run's own;
- it cannot write outside its own working directory (private, removed after the run);
- its run is held to one memory limit (shmem and memfd included) and one pids limit, and every
  process it starts dies with it, killed by root from outside the sandbox uid;
- its status comes from what the zygote observed, never from bytes it wrote, except its own
  exception report (which can only fail it); it cannot fault another run or the zygote;
- a pair's two runs differ in hash seed and in memory layout.

Does not guarantee: protection against kernel exploits (gVisor mode adds a second wall), CPU
and cache side channels between concurrent runs, secrecy of the zygote's own memory from its
runs. Each module lists its own guarantees and gaps; without root most of the above is weaker
(see the service README).
"""
