"""The API reference's executor examples (docs/api.md) run as written against a live executor.

Every `curl` example of the "Executor API" section is sent (its URL, its body) to the suite's
executor, and each `"key":value` the README shows in a `# {...}` comment must appear in the
answer. The Python examples of the section run as one coroutine with a real `ExecutorClient`.
So the documented API cannot drift from the served one without this test failing.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import textwrap
from typing import Any

import httpx
from azr_executor_fixtures import REPO, RunningExecutor
from azr_proto.executor_client import ExecutorClient

SECTION = ("## Executor API", "## The buffer's API")
DOC_HOST = "localhost:8010"
FENCE = re.compile(r"```(bash|python)\n(.*?)```", re.S)
SHOWN = re.compile(r'"(\w+)":("(?:[^"\\]|\\.)*"|[-\w.]+)')


def _section() -> str:
    text = (REPO / "docs" / "api.md").read_text()
    start, end = text.index(SECTION[0]), text.index(SECTION[1])
    return text[start:end]


def _blocks(kind: str) -> list[str]:
    return [body for lang, body in FENCE.findall(_section()) if lang == kind]


def _curl_examples() -> list[tuple[list[str], str]]:
    """Each curl command of the section (as argv) with the page's `# ...` comments below it."""
    examples = []
    for block in _blocks("bash"):
        lines = block.splitlines()
        comment = " ".join(line.lstrip("# ") for line in lines if line.startswith("#"))
        code = "\n".join(line for line in lines if not line.startswith("#"))
        lexer = shlex.shlex(code.replace("\\\n", " "), posix=True, punctuation_chars=";|")
        lexer.whitespace_split = True
        argv: list[str] = []
        for token in [*lexer, ";"]:
            if token not in (";", "|"):
                argv.append(token)
                continue
            if argv and argv[0] == "curl":
                examples.append((argv, comment))
            argv = []
    return examples


def _request(argv: list[str], base: str) -> tuple[str, str, Any]:
    url = next(a for a in argv if DOC_HOST in a).replace(f"{DOC_HOST}", base)
    url = url if url.startswith("http") else f"http://{url}"
    body = argv[argv.index("-d") + 1] if "-d" in argv else None
    return ("POST" if body is not None else "GET"), url, body


def test_the_section_has_examples_for_every_endpoint() -> None:
    urls = " ".join(" ".join(argv) for argv, _ in _curl_examples())
    for path in ("/v1/run ", "/v1/run/batch", "/v1/tests", "/readyz", "/metrics",
                 "/v1/azr/validate", "/v1/azr/verify", "/v1/azr/learnability"):  # fmt: skip
        assert path in urls + " ", f"no curl example for {path.strip()}"
    assert len(_blocks("python")) >= 8


def test_curl_examples_answer_what_the_readme_shows(executor_server: RunningExecutor) -> None:
    base = executor_server.url.removeprefix("http://")
    examples = _curl_examples()
    with httpx.Client(timeout=30) as http:
        for argv, comment in examples:
            method, url, body = _request(argv, base)
            headers = {"content-type": "application/json"} if body is not None else {}
            response = http.request(method, url, content=body, headers=headers)
            assert response.status_code == 200, (url, response.text)
            for key, value in SHOWN.findall(comment):
                assert f'"{key}":{value}' in response.text, (url, key, value, response.text)


def test_python_examples_run_with_the_client(executor_server: RunningExecutor) -> None:
    setup, *calls = _blocks("python")
    imports = [line for line in setup.splitlines() if line.startswith(("from ", "import "))]
    body = textwrap.indent("\n".join(calls), "    ")
    source = "\n".join(imports) + f"\n\nasync def main(client):\n{body}\n    return locals()\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, "docs/api.md (Executor API)", "exec"), namespace)

    async def run() -> dict[str, Any]:
        async with ExecutorClient([executor_server.url]) as client:
            result: dict[str, Any] = await namespace["main"](client)
            return result

    names = asyncio.run(run())
    assert names["result"].status == "ok" and names["result"].stdout == "cba\n"
    # `answer` is the last one the examples assign: the /v1/tests example's three cases.
    assert names["answer"].all_passed and names["answer"].total == 3
    assert "azr_executor_runs_total" in names["text"]
