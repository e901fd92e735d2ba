"""docs/use-the-executor-from-your-rl-code.md: the asyncio recipe runs as written against a live executor
(URL and token swapped for the test's), and the veRL URL form it documents is the one served."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
from azr_executor_fixtures import REPO, TEAM_TOKENS

DOC = REPO / "docs" / "use-the-executor-from-your-rl-code.md"
TOKEN = next(iter(TEAM_TOKENS))


def section_code(heading: str) -> str:
    text = DOC.read_text()
    section = text[text.index(heading) :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_asyncio_recipe_runs_as_written(shared_executor):
    code = section_code("## Recipe 3: your own asyncio loop")
    code = re.sub(r"EXECUTORS = \[.*?\]", f"EXECUTORS = [{shared_executor.url!r}]", code)
    code = code.replace('TOKEN = "s3cret"', f"TOKEN = {TOKEN!r}")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[1.0]"


def test_the_documented_verl_url_is_served(shared_executor):
    url = re.search(r"sandbox_fusion\.url='(http://[^']+)'", DOC.read_text()).group(1)
    url = url.replace("http://executor:8010", shared_executor.url).replace("<token>", TOKEN)
    resp = httpx.post(url, json={"code": "print(1)", "language": "python"})
    assert resp.status_code == 200 and resp.json()["run_result"]["stdout"] == "1\n"
