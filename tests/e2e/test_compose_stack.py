"""The compose stack as deployed: gVisor, hardening, networks, persistence and fault recovery.

Drives Docker through its SDK against the stack that conftest.py brings up. Each test checks one
property of the running containers, not of the compose file.
"""

from __future__ import annotations

import os

import docker
import pytest
from tests_e2e_support import PROJECT, cap_mask, exec_ok, exec_out

pytestmark = pytest.mark.compose


def test_executor_and_buffer_answer_on_published_ports(executor_http, buffer_http):
    assert executor_http.get("/healthz").json()["service"] == "executor"
    assert buffer_http.get("/healthz").json()["service"] == "buffer"


@pytest.mark.parametrize("service", ["executor", "executor-gateway", "buffer"])
def test_service_runs_under_gvisor(stack, service):
    container = stack.container(service)
    assert container.attrs["HostConfig"]["Runtime"] == "runsc"
    # gVisor reports its own kernel version, never the host's.
    kernel = exec_out(container, ["uname", "-r"]).strip()
    assert kernel == "4.4.0", kernel
    assert kernel != os.uname().release


@pytest.mark.parametrize(
    ("service", "scratch"), [("executor", "/run"), ("executor-gateway", "/tmp"), ("buffer", "/tmp")]
)
def test_root_filesystem_is_read_only(stack, service, scratch):
    container = stack.container(service)
    assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True
    # As root, who owns / and needs no capability to write there: only the read-only mount stops it.
    code, out = container.exec_run(["python3", "-c", "open('/written', 'w')"], user="0")
    assert code != 0 and b"Read-only file system" in out, out
    # The scratch tmpfs is writable. (The executor's zygotes turn /tmp into a read-only empty
    # mount; under gVisor that mount is seen container-wide, so its scratch is /run.)
    exec_ok(container, ["python3", "-c", f"open('{scratch}/e2e-scratch', 'w').write('x')"])


@pytest.mark.parametrize(
    ("service", "allowed"),
    [
        ("executor", {"SETUID", "SETGID", "KILL", "CHOWN", "DAC_OVERRIDE", "SYS_ADMIN"}),
        ("executor-gateway", set()),
        ("buffer", set()),
    ],
)
def test_capabilities_are_dropped(stack, service, allowed):
    container = stack.container(service)
    host_config = container.attrs["HostConfig"]
    assert host_config["CapDrop"] == ["ALL"]
    assert {c.removeprefix("CAP_") for c in host_config["CapAdd"] or []} == allowed
    status = exec_out(container, ["cat", "/proc/1/status"])
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert int(fields["CapEff"], 16) == cap_mask(allowed), fields["CapEff"]
    assert int(fields["CapBnd"], 16) == cap_mask(allowed), fields["CapBnd"]
    assert "no-new-privileges:true" in host_config["SecurityOpt"]


@pytest.mark.parametrize("service", ["executor", "executor-gateway", "buffer"])
def test_an_init_reaps_orphans(stack, service):
    container = stack.container(service)
    assert container.attrs["HostConfig"]["Init"] is True
    assert exec_out(container, ["cat", "/proc/1/comm"]).strip() == "docker-init"


@pytest.mark.parametrize("service", ["executor", "executor-gateway", "buffer"])
def test_resource_limits_are_set(stack, service):
    host_config = stack.container(service).attrs["HostConfig"]
    assert host_config["PidsLimit"] and host_config["PidsLimit"] > 0
    assert host_config["Memory"] > 0
    assert host_config["NanoCpus"] > 0


@pytest.mark.parametrize(("service", "uid"), [("executor-gateway", 10001), ("buffer", 10002)])
def test_services_without_a_sandbox_run_as_non_root(stack, service, uid):
    assert exec_out(stack.container(service), ["id", "-u"]).strip() == str(uid)


@pytest.mark.parametrize("service", ["executor-gateway", "buffer"])
def test_ports_are_published_on_loopback_only(stack, service):
    ports = stack.container(service).attrs["NetworkSettings"]["Ports"]
    bindings = [b for published in ports.values() if published for b in published]
    assert bindings, ports
    assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}


def test_executor_sits_only_on_an_internal_network(stack):
    executor = stack.container("executor")
    networks = executor.attrs["NetworkSettings"]["Networks"]
    assert list(networks) == [f"{PROJECT}_executor-internal"]
    assert stack.client.networks.get(f"{PROJECT}_executor-internal").attrs["Internal"] is True
    assert executor.attrs["NetworkSettings"]["Ports"] in ({}, None)


def test_executor_has_no_route_out(stack):
    # Target: the buffer's address on the edge network (a local address, on this machine). The
    # gateway, which is on that network, reaches it; the executor must not.
    buffer_ip = stack.container("buffer").attrs["NetworkSettings"]["Networks"][f"{PROJECT}_edge"][
        "IPAddress"
    ]
    probe = (
        "import socket, sys\n"
        "try:\n"
        f"    socket.create_connection(({buffer_ip!r}, 8020), timeout=3).close()\n"
        "except OSError as exc:\n"
        "    print('blocked', type(exc).__name__); sys.exit(3)\n"
        "print('connected')\n"
    )
    code, out = stack.container("executor-gateway").exec_run(["python3", "-c", probe])
    assert (code, out.strip()) == (0, b"connected"), out
    code, out = stack.container("executor").exec_run(["python3", "-c", probe])
    assert code == 3 and out.startswith(b"blocked"), out


def test_docker_sdk_sees_the_whole_project(stack):
    services = {
        c.labels["com.docker.compose.service"]
        for c in stack.client.containers.list(
            filters={"label": f"com.docker.compose.project={PROJECT}"}
        )
    }
    assert services == {"executor", "executor-gateway", "buffer"}
    assert isinstance(stack.client, docker.DockerClient)
