"""Image builds of the compose stack, from scratch and cached: what `make test-compose` pays.

    .venv/bin/python bench/images.py                 # every step, trainer included (~10 min)
    .venv/bin/python bench/images.py --skip-trainer  # without the 1.6 GB trainer image

Needs Docker (scripts/ensure-docker.sh) and a filled wheelhouse (`make images` once). "From
scratch" builds each image with --no-cache from the debootstrap base and each wheelhouse into an
empty folder, under throwaway tags; "cached" is `make images` with nothing changed. The machine
is shared and noisy: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TAG = "bench"


def timed(label: str, cmd: str) -> float:
    """Run a shell command from the checkout; print and return its wall time."""
    started = time.monotonic()
    proc = subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"{label} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    print(f"{label:<46} {elapsed:7.1f} s", flush=True)
    return elapsed


def build(tag: str, dockerfile: str, paths: str, base: str = "azr-base:bookworm") -> str:
    return (
        f"tar -c {dockerfile} {paths} | docker build --no-cache --network=none -q "
        f"--build-arg BASE_IMAGE={base} -f {dockerfile} -t {tag} -"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--skip-trainer", action="store_true", help="leave the trainer image out")
    args = parser.parse_args()
    reqs = "wheelhouse/requirements"
    print(f"load average before: {os.getloadavg()}")
    scratch = Path(tempfile.mkdtemp(prefix="azr-bench-images-"))
    tags = [f"azr-{name}:{TAG}" for name in ("base", "executor", "buffer", "postgres", "trainer")]
    total = 0.0
    try:
        total += timed("base image (debootstrap + import)",
                       f"scripts/build-base-image.sh --force azr-base:{TAG}")  # fmt: skip
        total += timed("service wheelhouse",
                       f"{PY} -m pip wheel -q --wheel-dir {scratch}/deps "
                       f"-r {reqs}/executor.txt -r {reqs}/buffer.txt")  # fmt: skip
        total += timed("executor image", build(f"azr-executor:{TAG}", "services/executor/Dockerfile",
                       f"wheelhouse/azr wheelhouse/deps {reqs}/executor.txt deploy/compose/tcp_relay.py"))  # fmt: skip
        total += timed("buffer image", build(f"azr-buffer:{TAG}", "services/buffer/Dockerfile",
                       f"wheelhouse/azr wheelhouse/deps {reqs}/buffer.txt"))  # fmt: skip
        total += timed("PostgreSQL .deb set",
                       f"scripts/fetch-debs.sh {scratch}/debs azr-base:bookworm postgresql-15")  # fmt: skip
        total += timed("PostgreSQL image", build(f"azr-postgres:{TAG}", "deploy/postgres/Dockerfile",
                       "wheelhouse/debs/postgres deploy/postgres/entrypoint.sh"))  # fmt: skip
        if not args.skip_trainer:
            total += timed("trainer wheelhouse",
                           f"{PY} -m pip wheel -q --wheel-dir {scratch}/trainer "
                           f"-r {reqs}/trainer.txt torch==2.13.0")  # fmt: skip
            total += timed("trainer image", build(f"azr-trainer:{TAG}", "trainer/Dockerfile",
                           f"wheelhouse/azr wheelhouse/trainer-deps wheelhouse/azr-trainer {reqs}/trainer.txt"))  # fmt: skip
        print(f"{'from scratch, total':<46} {total:7.1f} s")
        target = "images-services image-postgres" if args.skip_trainer else "images"
        timed("cached: make " + target, f"make --no-print-directory {target}")
    finally:
        subprocess.run(["docker", "rmi", *tags], capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
