"""The azr-proto release artifacts: a wheel and an sdist with complete metadata that pass
`twine check`, and a wheel that works from a clean venv (nothing else installed) against a live
executor: the async client, the sync client and the TRL reward."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import zipfile
from email.parser import Parser

import azr_proto
import pytest
from azr_executor_fixtures import REPO, TEAM_TOKENS

TOKEN = next(iter(TEAM_TOKENS))

CLIENT_SCRIPT = textwrap.dedent("""
    import asyncio, importlib.metadata, sys
    import azr_proto
    from azr_proto.executor import RunRequest
    from azr_proto.executor_client import ExecutorClient
    from azr_proto.sync_client import SyncExecutorClient
    from azr_proto.rewards import code_reward

    url, token = sys.argv[1], sys.argv[2]
    assert importlib.metadata.version("azr-proto") == azr_proto.__version__
    assert azr_proto.__file__.startswith(sys.prefix), azr_proto.__file__

    async def main():
        async with ExecutorClient(url, token=token) as client:
            return await client.run(RunRequest(code="print(6 * 7)"))

    assert asyncio.run(main()).stdout == "42\\n"
    with SyncExecutorClient(url, token=token) as client:
        assert client.run(RunRequest(code="print(input())", stdin="hi")).stdout == "hi\\n"
    reward = code_reward(url, token=token)
    cases = [[{"kind": "stdio", "stdin": "", "expected_stdout": "1"}]]
    assert reward(completions=["```python\\nprint(1)\\n```"], test_cases=cases) == [1.0]
    print("ok", sorted(m.split(".")[0] for m in sys.modules if m in ("torch", "trl", "fastapi")))
""")


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """Build the wheel and sdist from a copy of proto/ (the checkout stays clean)."""
    src = tmp_path_factory.mktemp("proto-src") / "proto"
    shutil.copytree(REPO / "proto", src, ignore=shutil.ignore_patterns("*.egg-info", "build"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
                   check=True, capture_output=True)  # fmt: skip
    return out


def test_wheel_and_sdist_pass_twine_check_with_complete_metadata(dist):
    files = sorted(p.name for p in dist.iterdir())
    version = azr_proto.__version__
    assert files == [f"azr_proto-{version}-py3-none-any.whl", f"azr_proto-{version}.tar.gz"]
    check = subprocess.run([sys.executable, "-m", "twine", "check", "--strict",
                            *map(str, dist.iterdir())], capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    with zipfile.ZipFile(next(dist.glob("*.whl"))) as wheel:
        names = wheel.namelist()
        meta = Parser().parsestr(wheel.read(f"azr_proto-{version}.dist-info/METADATA").decode())
    assert f"azr_proto-{version}.dist-info/licenses/LICENSE" in names
    assert "azr_proto/py.typed" in names and "azr_proto/rewards.py" in names
    assert meta["License-Expression"] == "Apache-2.0" and meta["Requires-Python"] == ">=3.11"
    assert (
        meta["Description-Content-Type"] == "text/markdown"
        and "SyncExecutorClient" in meta.get_payload()
    )
    assert {"pydantic", "httpx", "anyio"} <= {
        r.split(">")[0].split("<")[0] for r in meta.get_all("Requires-Dist")
    }
    sdist = subprocess.run(["tar", "tzf", str(next(dist.glob("*.tar.gz")))], capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    assert f"azr_proto-{version}/CHANGELOG.md" in sdist
    assert f"## {version}" in (REPO / "proto" / "CHANGELOG.md").read_text()


@pytest.mark.slow
def test_the_wheel_works_from_a_clean_venv_against_a_live_executor(dist, shared_executor, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    install = subprocess.run([str(py), "-m", "pip", "install", "-q", str(next(dist.glob("*.whl")))],
                             capture_output=True, text=True)  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    run = subprocess.run([str(py), "-I", "-c", CLIENT_SCRIPT, shared_executor.url, TOKEN],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == "ok []"  # no torch, TRL or FastAPI came along
