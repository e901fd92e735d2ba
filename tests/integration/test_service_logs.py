"""A shared executor's log says whose request each line is about: the tenant (its token's name),
never the token. The service is started as an operator starts it, by its CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from ports import free_port


def test_each_request_line_names_its_tenant_and_never_the_token(tmp_path: Path) -> None:
    token = "tok-" + os.urandom(8).hex()
    (tmp_path / "tokens").write_text(f"{token} team-a\n")
    port = free_port()
    env = dict(
        os.environ,
        AZR_EXECUTOR_TOKEN_FILE=str(tmp_path / "tokens"),
        AZR_EXECUTOR_PORT=str(port),
        AZR_EXECUTOR_ZYGOTES="1",
    )
    code = "import sys\nfrom azr_executor.cli import main\nsys.argv = ['azr-executor', 'serve']\nmain()\n"
    log = tmp_path / "stderr"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=err, stdout=err)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token}"}
        r = httpx.post(url + "/v1/run", json={"code": "print(1)"}, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    lines = [line for line in text.splitlines() if "route=/v1/run " in line]
    assert len(lines) == 1, text
    assert " tenant=team-a " in lines[0]
    assert token not in text
