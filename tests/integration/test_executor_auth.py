"""Bearer tokens, the per-token concurrency quota and the body-size limit, on the real app."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
from azr_executor.app import create_app
from azr_executor.settings import ExecutorSettings
from azr_proto.errors import Unauthorized
from azr_proto.executor import RunRequest
from azr_proto.executor_client import ExecutorClient


@pytest.fixture(scope="module")
def guarded_app(tmp_path_factory):
    token_file = tmp_path_factory.mktemp("tokens") / "tokens"
    token_file.write_text("# one per line\nfile-token\n")
    token_file.chmod(0o600)
    work_root = tmp_path_factory.mktemp("scratch") if os.geteuid() != 0 else None
    settings = ExecutorSettings(
        zygotes=1, spare_zygote=False, tokens=["list-token"], token_file=token_file,
        token_concurrency=1, max_body_bytes=4096, work_root=work_root,
    )  # fmt: skip
    return create_app(settings)


def _with_app(app, scenario):
    async def main():
        async with app.router.lifespan_context(app):
            return await scenario(httpx.ASGITransport(app=app))

    return asyncio.run(main())


def test_requests_without_a_valid_token_get_401(guarded_app):
    async def scenario(transport):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            none = await http.post("/v1/run", json={"code": "print(1)"})
            wrong = await http.post(
                "/v1/run", json={"code": "print(1)"}, headers={"Authorization": "Bearer nope"}
            )
            health = await http.get("/healthz")
            return none, wrong, health

    none, wrong, health = _with_app(guarded_app, scenario)
    assert none.status_code == 401 and none.json()["code"] == "unauthorized"
    assert wrong.status_code == 401
    assert health.status_code == 200


def test_tokens_from_the_list_and_the_file_are_accepted(guarded_app):
    async def scenario(transport):
        out = []
        for token in ("list-token", "file-token"):
            async with ExecutorClient("http://t", token=token, transport=transport) as client:
                out.append(await client.run(RunRequest(code="print('in')")))
        async with ExecutorClient("http://t", token="bad", transport=transport) as client:
            with pytest.raises(Unauthorized):
                await client.run(RunRequest(code="print('in')"))
        return out

    results = _with_app(guarded_app, scenario)
    assert [r.stdout for r in results] == ["in\n", "in\n"]


def test_a_token_over_its_concurrency_quota_gets_429(guarded_app):
    async def scenario(transport):
        headers = {"Authorization": "Bearer list-token"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as http:
            slow = asyncio.create_task(
                http.post("/v1/run", json={"code": "import time; time.sleep(1)"})
            )
            await asyncio.sleep(0.3)
            second = await http.post("/v1/run", json={"code": "print(1)"})
            other = await http.post(
                "/v1/run", json={"code": "print(1)"}, headers={"Authorization": "Bearer file-token"}
            )
            return await slow, second, other

    slow, second, other = _with_app(guarded_app, scenario)
    assert slow.status_code == 200
    assert second.status_code == 429 and second.headers["retry-after"] == "1"
    assert other.status_code == 200


def test_a_body_over_the_size_limit_gets_413(guarded_app):
    async def scenario(transport):
        headers = {"Authorization": "Bearer list-token"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as http:
            return await http.post("/v1/run", json={"code": "x" * 5000})

    resp = _with_app(guarded_app, scenario)
    assert resp.status_code == 413
    assert resp.json()["code"] == "too_large"
