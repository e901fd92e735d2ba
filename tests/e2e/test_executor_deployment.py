"""The executor image run exactly as deploy/k8s's Deployment runs it (its user, its capabilities,
read-only root, no new privileges, gVisor, its environment, the tokens as the Secret holds them,
its memory-backed volumes with kubelet's mode), then attacked from runs over HTTP: the service's
tokens and environment, its descriptors and those of the zygotes, a concurrent run's output
pipes and working directory, files left for later runs, signals to any pid, capabilities,
forged statuses. Each attack succeeded against the first non-root Deployment (user namespaces
without mounts, runsc 2022-12); the non-root variant (deploy/k8s-nonroot) must refuse to serve
on such a runsc.

The container settings are read from `kubectl kustomize deploy/k8s`, so the test follows the
manifest. Needs Docker with the runsc runtime (`make compose-ready`); the image is
`azr-executor:local` (or `AZR_E2E_EXECUTOR_IMAGE`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
import yaml
from docker.models.containers import Container
from secret_hunt import hunt_program
from tests_e2e_support import ROOT

IMAGE = os.environ.get("AZR_E2E_EXECUTOR_IMAGE", "azr-executor:local")
# The manifests under attack: deploy/k8s, or (AZR_E2E_K8S=deploy/k8s-nonroot) the non-root
# variant, on a runsc that allows mounts inside user namespaces (see the last test).
K8S = ROOT / os.environ.get("AZR_E2E_K8S", "deploy/k8s")
NONROOT = ROOT / "deploy" / "k8s-nonroot"


@dataclass
class Deployed:
    url: str
    token: str
    other_token: str
    canary: str  # the value of a variable of the pod's environment that is no secret of ours
    container: Container

    def run(self, code: str, wall_s: float = 20.0) -> dict[str, Any]:
        body = {"code": code, "limits": {"wall_timeout_s": wall_s, "cpu_timeout_s": int(wall_s)}}
        r = httpx.post(f"{self.url}/v1/run", json=body, timeout=wall_s + 30,
                       headers={"Authorization": f"Bearer {self.token}"})  # fmt: skip
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    def concurrently(self, first: str, second: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Run `first`, and `second` while it runs (on another zygote); both must print a JSON
        object whose `t0` and `t1` (time.monotonic) show that they overlapped."""
        with ThreadPoolExecutor(2) as pool:
            one = pool.submit(self.run, first)
            time.sleep(1.0)
            two = pool.submit(self.run, second)
            a, b = one.result(), two.result()
        ta, tb = json.loads(a["stdout"].splitlines()[-1]), json.loads(b["stdout"].splitlines()[-1])
        assert ta["t0"] < tb["t1"] and tb["t0"] < ta["t1"], f"the runs did not overlap: {a} {b}"
        return a, b


def _deployment(path: Path = K8S) -> dict[str, Any]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is needed to render deploy/k8s (apt-get install kubectl)")
    out = subprocess.run([kubectl, "kustomize", str(path)], check=True,
                         capture_output=True, text=True, timeout=120).stdout  # fmt: skip
    for doc in yaml.safe_load_all(out):
        if doc and doc["kind"] == "Deployment" and doc["metadata"]["name"] == "azr-executor":
            return doc
    raise AssertionError(f"no azr-executor Deployment in {path}")


def _container_options(deployment: dict[str, Any], secret: str) -> dict[str, Any]:
    """docker run options equivalent to the Deployment's pod and container spec."""
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    psc, csc = pod["securityContext"], container["securityContext"]
    assert pod["runtimeClassName"] == "gvisor"
    env = {}
    for entry in container["env"]:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:  # the only Secret it reads: the tokens, as the README says to write them
            assert entry["valueFrom"]["secretKeyRef"]["name"] == "azr-executor-tokens"
            env[entry["name"]] = secret
    tmpfs = {}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        empty = volumes[mount["name"]]["emptyDir"]
        assert empty.get("medium") == "Memory"
        size = empty.get("sizeLimit", "64Mi").replace("Mi", "m").replace("Gi", "g")
        # kubelet mounts a memory emptyDir as a tmpfs with the default mode, 1777
        tmpfs[mount["mountPath"]] = f"size={size},mode=1777"
    limits = container["resources"]["limits"]
    caps = csc["capabilities"]
    return {
        "user": f"{psc['runAsUser']}:{psc['runAsGroup']}",
        "cap_drop": list(caps["drop"]),
        "cap_add": list(caps.get("add", [])),
        "read_only": csc["readOnlyRootFilesystem"],
        "security_opt": [] if csc["allowPrivilegeEscalation"] else ["no-new-privileges:true"],
        "privileged": csc["privileged"],
        "runtime": "runsc",
        "environment": env,
        "tmpfs": tmpfs,
        "mem_limit": limits["memory"].replace("Gi", "g").replace("Mi", "m"),
        # the pod's CPU limit, capped at this machine's CPUs (Docker refuses more)
        "nano_cpus": int(min(float(limits["cpu"]), os.cpu_count() or 1) * 1e9),
        "command": container["args"],
    }


def _client() -> docker.DockerClient:
    if os.environ.get("AZR_SKIP_COMPOSE") == "1":
        pytest.skip("AZR_SKIP_COMPOSE=1: Docker e2e tests explicitly skipped")
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"Docker is not reachable ({exc}): run `make compose-ready`", pytrace=False)
    if not client.images.list(name=IMAGE):
        pytest.fail(f"image {IMAGE} not built: run `make images-services`", pytrace=False)
    return client


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    client = _client()
    token, other = f"tok-{secrets.token_hex(16)}", f"tok-{secrets.token_hex(16)}"
    canary = f"canary-{secrets.token_hex(16)}"
    options = _container_options(_deployment(), f"{token},{other}")
    # Kubernetes adds variables of its own to every pod (KUBERNETES_SERVICE_HOST...): one
    # more, which no setting of the executor reads, stands for them.
    options["environment"]["AZR_E2E_POD_CANARY"] = canary
    container = client.containers.run(IMAGE, detach=True, **options)
    try:
        container.reload()
        ip = next(iter(container.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
        url = f"http://{ip}:{options['environment']['AZR_EXECUTOR_PORT']}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            container.reload()
            if container.status != "running" or time.monotonic() > deadline:
                logs = container.logs().decode(errors="replace")[-3000:]
                pytest.fail(f"the executor did not become ready ({container.status}): {logs}")
            time.sleep(0.5)
        yield Deployed(url, token, other, canary, container)
    finally:
        container.remove(force=True)


def test_a_run_finds_no_token_of_the_service(deployed):
    r = deployed.run(hunt_program([deployed.token, deployed.other_token]))
    assert r["status"] == "ok", r
    assert r["stdout"] == "[]\n", r["stdout"][-2000:]


def test_a_run_reads_nothing_of_the_services_environment(deployed):
    # Not only the tokens: any variable of the pod (here one no setting reads, so nothing
    # scrubs it) stays out of reach, in /proc and in every file.
    r = deployed.run(hunt_program([deployed.canary]))
    assert r["status"] == "ok", r
    assert r["stdout"] == "[]\n", r["stdout"][-2000:]


def test_no_other_process_has_the_runs_uid(deployed):
    # The kernel's own checks (signals, /proc/<pid>/{fd,mem}, ptrace, files) stop at the uid:
    # no process the run can see, the service, the zygotes, another zygote's runs, shares it.
    code = (
        "import json, os\nme = {os.getpid(), int(os.readlink('/proc/self'))}\nsame = []\n"
        "for p in [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in me]:\n"
        "    try:\n        status = open(f'/proc/{p}/status').read()\n    except OSError:\n"
        "        continue\n"
        "    uids = [int(u) for u in status.split('Uid:')[1].split()[:4]]\n"
        "    if os.getuid() in uids:\n        same.append([p, status.split()[1]])\n"
        "print(json.dumps(same))\n"
    )
    r = deployed.run(code)
    assert r["status"] == "ok", r
    assert r["stdout"] == "[]\n", r["stdout"]


OPEN_DESCRIPTORS = """
import json, os, stat
me = {{os.getpid(), int(os.readlink('/proc/self'))}}
null = os.stat('/dev/null').st_rdev
opened = []
for p in [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in me]:
    try:
        fds = os.listdir(f'/proc/{{p}}/fd')
    except OSError:
        continue
    for fd in fds:
        for how, flag in (('r', os.O_RDONLY), ('w', os.O_WRONLY)):
            try:
                f = os.open(f'/proc/{{p}}/fd/{{fd}}', flag | os.O_NONBLOCK | os.O_NOCTTY)
            except OSError:
                continue
            st = os.fstat(f)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == null:  # /dev/null: no channel
                os.close(f)
                continue
            opened.append(f'{{p}}/{{fd}}:{{how}}')
            try:
                if how == 'w':
                    os.write(f, {marker!r}.encode())
            except OSError:
                pass
            os.close(f)
print(json.dumps(opened))
"""


def test_a_run_opens_no_descriptor_of_another_process(deployed):
    # The service's own stdout and stderr (its log), its pipes, the zygotes' channels: none
    # can be reopened through /proc/<pid>/fd, for reading or for writing.
    marker = f"forged-log-line-{secrets.token_hex(8)}\n"
    r = deployed.run(OPEN_DESCRIPTORS.format(marker=marker))
    assert r["status"] == "ok", r
    assert r["stdout"] == "[]\n", r["stdout"]
    assert marker.strip() not in deployed.container.logs().decode(errors="replace")
    assert httpx.get(f"{deployed.url}/readyz", timeout=5).status_code == 200


VICTIM = """
import json, time
t0 = time.monotonic()
for i in range(60):
    print('victim-line', i, flush=True)
    time.sleep(0.1)
print(json.dumps({'t0': t0, 't1': time.monotonic()}))
"""

PIPE_THIEF = """
import json, os, time
t0 = time.monotonic()
me = {os.getpid(), int(os.readlink('/proc/self'))}
opened, stolen = set(), []
while time.monotonic() < t0 + 4:
    for p in [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in me]:
        try:
            fds = os.listdir(f'/proc/{p}/fd')
        except OSError:
            continue
        for fd in fds:
            path = f'/proc/{p}/fd/{fd}'
            try:
                if not os.readlink(path).startswith('pipe:'):
                    continue
            except OSError:
                continue
            for flag in (os.O_RDONLY, os.O_WRONLY):
                try:
                    f = os.open(path, flag | os.O_NONBLOCK)
                except OSError:
                    continue
                opened.add(path)
                try:
                    if flag == os.O_RDONLY:
                        stolen.append(os.read(f, 1 << 16).decode(errors='replace')[:100])
                    else:
                        os.write(f, b'FORGED-BY-ANOTHER-RUN\\n')
                except OSError:
                    pass
                os.close(f)
    time.sleep(0.05)
print(json.dumps({'opened': sorted(opened), 'stolen': [s for s in stolen if s]}))
print(json.dumps({'t0': t0, 't1': time.monotonic()}))
"""


def test_a_run_neither_reads_nor_writes_a_concurrent_runs_output(deployed):
    victim, thief = deployed.concurrently(VICTIM, PIPE_THIEF)
    expected = "".join(f"victim-line {i}\n" for i in range(60))
    assert victim["status"] == "ok", victim
    assert victim["stdout"].startswith(expected), victim["stdout"][:2000]
    assert "FORGED" not in victim["stdout"] + victim["stderr"]
    assert json.loads(thief["stdout"].splitlines()[0]) == {"opened": [], "stolen": []}


FILE_OWNER = """
import json, os, time
t0 = time.monotonic()
with open('secret.txt', 'w') as fh:
    fh.write({secret!r})
time.sleep(6)
print(json.dumps({{'t0': t0, 't1': time.monotonic()}}))
"""

FILE_THIEF = """
import json, os, time
t0 = time.monotonic()
needle = {secret!r}.encode()
found = []
def look(path):
    try:
        with open(path, 'rb') as fh:
            if needle in fh.read(1 << 16):
                found.append(path)
    except OSError:
        pass
mine = os.getcwd()
image = ('proc', 'sys', 'dev', 'usr', 'opt', 'etc', 'lib', 'lib64', 'bin', 'sbin', 'boot')
tops = ['/' + t for t in os.listdir('/') if t not in image]
tops += [f'/proc/{{p}}/{{w}}' for p in os.listdir('/proc') if p.isdigit() for w in ('cwd', 'root/tmp', 'root/run')]
while time.monotonic() < t0 + 4:
    for top in tops:
        for dirpath, dirs, names in os.walk(top):
            if dirpath.startswith(mine):
                continue
            for name in names:
                look(os.path.join(dirpath, name))
    time.sleep(0.2)
print(json.dumps(sorted(set(found))))
print(json.dumps({{'t0': t0, 't1': time.monotonic()}}))
"""


def test_a_run_cannot_read_a_concurrent_runs_directory(deployed):
    secret = f"file-secret-{secrets.token_hex(8)}"
    owner, thief = deployed.concurrently(FILE_OWNER.format(secret=secret),
                                         FILE_THIEF.format(secret=secret))  # fmt: skip
    assert owner["status"] == "ok", owner
    assert thief["stdout"].splitlines()[0] == "[]", thief["stdout"]


LEAVE = """
import json, os
mine = os.getcwd()
left = []
for top in sorted(os.listdir('/')):
    if top in ('proc', 'sys'):
        continue
    for dirpath, dirs, names in os.walk('/' + top):
        if dirpath == mine or dirpath.startswith(mine + '/'):
            continue
        path = os.path.join(dirpath, {name!r})
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            left.append(path)
        except OSError:
            pass
print(json.dumps(left))
"""

FIND = "import json, os\nprint(json.dumps([p for p in {paths!r} if os.path.lexists(p)]))\n"


def test_a_run_leaves_nothing_for_a_later_run(deployed):
    name = f".left-{secrets.token_hex(6)}"
    first = deployed.run(LEAVE.format(name=name))
    assert first["status"] == "ok", first
    paths = json.loads(first["stdout"])
    later = [deployed.run(FIND.format(paths=paths)) for _ in range(4)]  # every zygote, twice
    assert [json.loads(r["stdout"]) for r in later] == [[]] * 4, (paths, later)


def test_a_run_signals_no_process_outside_its_own(deployed):
    # Every pid number of the run's PID namespace, not only those its /proc lists: a /proc that
    # is not the namespace's own (runsc 2022-12 without mounts) lists other processes' numbers.
    code = (
        "import json, os\nme = {os.getpid()}\nsent = []\n"
        "for p in range(1, 1 << 15):\n    if p in me:\n        continue\n"
        "    try:\n        os.kill(p, 0)\n        sent.append(p)\n    except OSError:\n        pass\n"
        "for g in range(1, 1 << 12):\n    if g == os.getpgrp():\n        continue\n"
        "    try:\n        os.kill(-g, 0)\n        sent.append(-g)\n    except OSError:\n        pass\n"
        "print(json.dumps(sent))\n"
    )
    r = deployed.run(code)
    assert r["status"] == "ok", r
    assert r["stdout"] == "[]\n", r["stdout"]
    assert httpx.get(f"{deployed.url}/readyz", timeout=5).status_code == 200


def test_a_process_left_behind_is_killed_and_reaped(deployed):
    # Compose has tini as PID 1 to reap what a run leaves; in the pod the service is PID 1 and
    # must reap them itself, also where /proc has no .../task/<tid>/children (runsc 2022-12).
    escape = "import subprocess\nsubprocess.Popen(['sleep', '300'], start_new_session=True)\n"
    assert deployed.run(escape)["status"] == "ok"
    time.sleep(3)
    code = (
        "import json, os\nme = {os.getpid(), int(os.readlink('/proc/self'))}\nleft = []\n"
        "for p in [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in me]:\n"
        "    try:\n        s = open(f'/proc/{p}/status').read()\n    except OSError:\n"
        "        continue\n"
        "    if int(s.split('Uid:')[1].split()[0]) >= 1000 or s.split('State:')[1].split()[0] == 'Z':\n"
        "        left.append(s.split()[1])\n"
        "print(json.dumps(left))\n"
    )
    r = deployed.run(code)
    assert r["stdout"] == "[]\n", r
    assert "survived" not in deployed.container.logs().decode(errors="replace")


def test_forged_fault_frames_are_not_statuses_in_the_deployment(deployed):
    code = (
        "import os\nfor fd in range(65):\n    for f in (b'S\\0x', b'\\x02x', b'E\\0MemoryError\\0\\0'):\n"
        "        try:\n            os.write(fd, f)\n        except OSError:\n            pass\nos._exit(70)\n"
    )
    r = deployed.run(code)
    assert r["status"] == "runtime_error", r


def test_no_capability_and_no_way_back_to_one(deployed):
    # None held, none inheritable or ambient, and no_new_privs: no exec can grant one (as root,
    # the bounding set keeps the container's; without root it is empty).
    code = (
        "import ctypes, os\ns = open('/proc/self/status').read()\n"
        "f = {l.split()[0]: l.split()[1] for l in s.splitlines() if len(l.split()) > 1}\n"
        "nnp = ctypes.CDLL(None).prctl(39, 0, 0, 0, 0)  # PR_GET_NO_NEW_PRIVS\n"
        "print(f['CapEff:'], f['CapPrm:'], f['CapInh:'], f.get('CapAmb:', '0' * 16), nnp)\n"
        "try:\n    os.setuid(0 if os.getuid() else 1)\n    print('uid changed')\n"
        "except PermissionError:\n    pass\n"
    )
    r = deployed.run(code)
    zero = "0000000000000000"
    assert r["stdout"] == f"{zero} {zero} {zero} {zero} 1\n", r


def test_requests_need_a_token_from_the_secret(deployed):
    r = httpx.post(f"{deployed.url}/v1/run", json={"code": "print(1)"}, timeout=30)
    assert r.status_code == 401
    ok = httpx.post(f"{deployed.url}/v1/run", json={"code": "print(1)"}, timeout=30,
                    headers={"Authorization": f"Bearer {deployed.other_token}"})  # fmt: skip
    assert ok.status_code == 200 and ok.json()["stdout"] == "1\n"
    assert json.loads(ok.text)["status"] == "ok"


def test_the_non_root_variant_refuses_to_serve_where_user_namespaces_cannot_mount():
    # runsc 2022-12 (Debian 12's, this machine's) refuses mounts inside a user namespace: the
    # runs would keep the pod's /proc and files with the service's uid (the attacks above all
    # succeeded there). The variant must say so and exit, not serve. On a runsc that allows
    # those mounts this test fails: run this module with AZR_E2E_K8S=deploy/k8s-nonroot instead.
    client = _client()
    options = _container_options(_deployment(NONROOT), "tok-a,tok-b")
    assert options["user"] == "10001:10001" and not options["cap_add"]
    container = client.containers.run(IMAGE, detach=True, **options)
    try:
        status = container.wait(timeout=120)
        logs = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    assert status["StatusCode"] == 2, logs[-3000:]
    assert "refusing to serve" in logs and "no mounts inside a user namespace" in logs, logs
