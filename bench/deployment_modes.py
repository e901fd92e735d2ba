"""Per-run cost of the executor's modes under gVisor, as the Kubernetes manifests run it.

    .venv/bin/python bench/deployment_modes.py [--runs 300] [--image azr-executor:local]

Starts the image twice, each as `tests/e2e/test_executor_deployment.py` starts it from a rendered
manifest: `root` from deploy/k8s (root inside gVisor, a uid per zygote), `userns-nomounts` from
deploy/k8s-nonroot with AZR_EXECUTOR_ALLOW_WEAK_ISOLATION=true (uid 10001, user and PID
namespaces without mounts: the first Deployment's mode, which runsc 2022-12 leaves open). Then
sends `print(1)` to each in turn, sequentially, and prints the median and p90 of the request
time and of the run's own wall time. Needs Docker with runsc (`make compose-ready`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import docker
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from test_executor_deployment import _container_options, _deployment  # noqa: E402

MODES = {
    "root": (ROOT / "deploy" / "k8s", {}),
    "userns-nomounts": (ROOT / "deploy" / "k8s-nonroot",
                        {"AZR_EXECUTOR_ALLOW_WEAK_ISOLATION": "true"}),
}  # fmt: skip


def start(client: docker.DockerClient, image: str, manifest: Path, env: dict[str, str]) -> tuple:
    options = _container_options(_deployment(manifest), "bench-token")
    options["environment"].update(env)
    container = client.containers.run(image, detach=True, **options)
    container.reload()
    ip = next(iter(container.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    url = f"http://{ip}:8010"
    for _ in range(240):
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return container, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    container.remove(force=True)
    sys.exit(f"{manifest}: not ready: {container.logs().decode()[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--image", default="azr-executor:local")
    args = parser.parse_args()
    client = docker.from_env(timeout=120)
    started = {name: start(client, args.image, *spec) for name, spec in MODES.items()}
    request: dict[str, list[float]] = {name: [] for name in MODES}
    wall: dict[str, list[float]] = {name: [] for name in MODES}
    headers = {"Authorization": "Bearer bench-token"}
    try:
        with httpx.Client(timeout=60) as http:
            for i in range(args.runs + 20):  # the first 20 of each warm up
                for name, (_, url) in started.items():
                    t0 = time.perf_counter()
                    r = http.post(f"{url}/v1/run", json={"code": "print(1)"}, headers=headers)
                    elapsed = (time.perf_counter() - t0) * 1000
                    result = r.json()
                    if result.get("status") != "ok":
                        sys.exit(f"{name}: {result}")
                    if i >= 20:
                        request[name].append(elapsed)
                        wall[name].append(result["wall_ms"])
    finally:
        for container, _ in started.values():
            container.remove(force=True)
    for name in MODES:
        req, run = sorted(request[name]), sorted(wall[name])
        print(f"{name:<16} request median {statistics.median(req):5.1f} ms, p90 "
              f"{req[int(0.9 * len(req))]:5.1f} ms; run wall median {statistics.median(run):5.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
