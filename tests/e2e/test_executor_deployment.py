"""The executor image run exactly as deploy/k8s's Deployment runs it (its user and group, every
capability dropped, read-only root, no new privileges, gVisor, its environment, the tokens as
the Secret holds them, its memory-backed volumes), then attacked from a run over HTTP: nothing
of the service is readable, no process outside the run's own is visible or signalable, and no
status can be forged.

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
from dataclasses import dataclass
from typing import Any

import docker
import httpx
import pytest
import yaml
from tests_e2e_support import ROOT

IMAGE = os.environ.get("AZR_E2E_EXECUTOR_IMAGE", "azr-executor:local")


@dataclass
class Deployed:
    url: str
    token: str
    other_token: str

    def run(self, code: str, wall_s: float = 20.0) -> dict[str, Any]:
        body = {"code": code, "limits": {"wall_timeout_s": wall_s, "cpu_timeout_s": int(wall_s)}}
        r = httpx.post(f"{self.url}/v1/run", json=body, timeout=wall_s + 30,
                       headers={"Authorization": f"Bearer {self.token}"})  # fmt: skip
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result


def _deployment() -> dict[str, Any]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is needed to render deploy/k8s (apt-get install kubectl)")
    out = subprocess.run([kubectl, "kustomize", str(ROOT / "deploy" / "k8s")], check=True,
                         capture_output=True, text=True, timeout=120).stdout  # fmt: skip
    for doc in yaml.safe_load_all(out):
        if doc and doc["kind"] == "Deployment" and doc["metadata"]["name"] == "azr-executor":
            return doc
    raise AssertionError("no azr-executor Deployment in deploy/k8s")


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
        tmpfs[mount["mountPath"]] = f"size={size},mode=1777"
    limits = container["resources"]["limits"]
    return {
        "user": f"{psc['runAsUser']}:{psc['runAsGroup']}",
        "cap_drop": list(csc["capabilities"]["drop"]),
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


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    if os.environ.get("AZR_SKIP_COMPOSE") == "1":
        pytest.skip("AZR_SKIP_COMPOSE=1: Docker e2e tests explicitly skipped")
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"Docker is not reachable ({exc}): run `make compose-ready`", pytrace=False)
    if not client.images.list(name=IMAGE):
        pytest.fail(f"image {IMAGE} not built: run `make images-services`", pytrace=False)
    token, other = f"tok-{secrets.token_hex(16)}", f"tok-{secrets.token_hex(16)}"
    options = _container_options(_deployment(), f"{token},{other}")
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
        yield Deployed(url, token, other)
    finally:
        container.remove(force=True)


HUNT = """
import os, time
needles = [{a!r}.encode(), {b!r}.encode()]
found = []
def read(path, n):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        return os.read(fd, n)
    except BlockingIOError:
        return b''
    finally:
        os.close(fd)
def look(path):
    try:
        data = read(path, 1 << 20)
    except OSError:
        return
    if any(n in data for n in needles):
        found.append(path)
for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
    for name in ('environ', 'cmdline', 'maps', 'mem'):
        look(f'/proc/{{pid}}/{{name}}')
    try:
        for fd in os.listdir(f'/proc/{{pid}}/fd'):
            look(f'/proc/{{pid}}/fd/{{fd}}')
    except OSError:
        pass
if any(n.decode() in repr(dict(os.environ)) for n in needles):
    found.append('environ')
end = time.monotonic() + 12
for top in sorted(os.listdir('/')):
    if '/' + top in ('/proc', '/sys', '/dev', '/usr', '/lib', '/lib64', '/bin', '/sbin'):
        continue
    for dirpath, dirs, names in os.walk('/' + top):
        for name in names:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                look(path)
        if time.monotonic() > end:
            break
print(found)
"""


def test_a_run_finds_no_token_of_the_service(deployed):
    r = deployed.run(HUNT.format(a=deployed.token, b=deployed.other_token))
    assert r["status"] == "ok", r
    assert r["stdout"] == "[]\n", r["stdout"][-2000:]


def test_a_run_signals_no_other_process_and_reads_no_memory(deployed):
    # Under runsc 2022-12 the run's PID namespace cannot get a /proc of its own (no mounts in a
    # user namespace), so it lists the pod's processes, and that runsc does not close
    # /proc/<pid>/{environ,fd,maps} of a non-dumpable process to its uid (measured): what keeps
    # the tokens out of reach there is their removal from the service's environment (the hunt
    # above). Memory stays closed, and no signal reaches another process (another PID
    # namespace; pid 1 of its own denied by seccomp).
    code = (
        "import json, os\nme = {os.getpid(), int(os.readlink('/proc/self'))}\n"
        "read, sent = [], []\n"
        "for p in [int(p) for p in os.listdir('/proc') if p.isdigit()]:\n"
        "    if p in me:\n        continue\n"
        "    for name in ('environ', 'mem', 'fd/0', 'maps'):\n"
        "        try:\n            open(f'/proc/{p}/{name}', 'rb').read(1)\n"
        "            read.append([p, name])\n        except OSError:\n            pass\n"
        "    try:\n        os.kill(p, 0)\n        sent.append(p)\n    except OSError:\n        pass\n"
        "try:\n    os.kill(1, 0)\n    sent.append('its zygote')\nexcept OSError:\n    pass\n"
        "print(json.dumps({'read': read, 'sent': sent}))\n"
    )
    r = deployed.run(code)
    assert r["status"] == "ok", r
    seen = json.loads(r["stdout"])
    assert seen["sent"] == [], r["stdout"]
    assert not [entry for entry in seen["read"] if entry[1] == "mem"], r["stdout"]
    assert httpx.get(f"{deployed.url}/readyz", timeout=5).status_code == 200


def test_forged_fault_frames_are_not_statuses_in_the_deployment(deployed):
    code = (
        "import os\nfor fd in range(65):\n    for f in (b'S\\0x', b'\\x02x', b'E\\0MemoryError\\0\\0'):\n"
        "        try:\n            os.write(fd, f)\n        except OSError:\n            pass\nos._exit(70)\n"
    )
    r = deployed.run(code)
    assert r["status"] == "runtime_error", r


def test_no_capability_and_no_way_back_to_one(deployed):
    code = (
        "import os\ns = open('/proc/self/status').read()\n"
        "caps = {l.split()[0]: l.split()[1] for l in s.splitlines() if l.startswith('Cap')}\n"
        "print(caps['CapEff:'], caps['CapPrm:'], caps['CapBnd:'])\n"
    )
    r = deployed.run(code)
    assert r["stdout"] == "0000000000000000 0000000000000000 0000000000000000\n", r


def test_requests_need_a_token_from_the_secret(deployed):
    r = httpx.post(f"{deployed.url}/v1/run", json={"code": "print(1)"}, timeout=30)
    assert r.status_code == 401
    ok = httpx.post(f"{deployed.url}/v1/run", json={"code": "print(1)"}, timeout=30,
                    headers={"Authorization": f"Bearer {deployed.other_token}"})  # fmt: skip
    assert ok.status_code == 200 and ok.json()["stdout"] == "1\n"
    assert json.loads(ok.text)["status"] == "ok"
