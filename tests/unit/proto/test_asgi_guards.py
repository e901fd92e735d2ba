"""The pure-ASGI guards shared by both services: body-size limit and bearer auth with quota."""

from __future__ import annotations

import asyncio

import httpx
from azr_proto.asgi import BearerAuth, BodySizeLimit


async def echo_app(scope, receive, send):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_body_over_the_limit_by_content_length_is_413():
    async with _client(BodySizeLimit(echo_app, max_bytes=10)) as http:
        ok = await http.post("/x", content=b"0123456789")
        big = await http.post("/x", content=b"0123456789A")
    assert ok.status_code == 200 and ok.text == "10"
    assert big.status_code == 413 and big.json()["code"] == "too_large"


async def test_streamed_body_over_the_limit_is_413():
    async def chunks():
        for _ in range(5):
            yield b"xxxx"

    async with _client(BodySizeLimit(echo_app, max_bytes=10)) as http:
        resp = await http.post("/x", content=chunks())
    assert resp.status_code == 413


async def test_bearer_auth_checks_tokens_and_exempts_health():
    app = BearerAuth(echo_app, tokens={"good"})
    async with _client(app) as http:
        missing = await http.post("/v1/run")
        wrong = await http.post("/v1/run", headers={"Authorization": "Bearer bad"})
        basic = await http.post("/v1/run", headers={"Authorization": "Basic good"})
        right = await http.post("/v1/run", headers={"Authorization": "Bearer good"})
        health = await http.get("/healthz")
    assert [r.status_code for r in (missing, wrong, basic, right, health)] == [
        401,
        401,
        401,
        200,
        200,
    ]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json() == {"code": "unauthorized", "detail": "missing bearer token"}


async def test_no_tokens_means_open():
    async with _client(BearerAuth(echo_app, tokens=[])) as http:
        assert (await http.post("/v1/run")).status_code == 200


async def test_token_quota_counts_requests_in_flight():
    gate = asyncio.Event()

    async def slow_app(scope, receive, send):
        await gate.wait()
        await echo_app(scope, receive, send)

    app = BearerAuth(slow_app, tokens=lambda: ["a", "b"], max_concurrent=1, retry_after_s=3)
    async with _client(app) as http:
        first = asyncio.create_task(http.post("/x", headers={"Authorization": "Bearer a"}))
        await asyncio.sleep(0.05)
        assert app.in_flight("a") == 1
        second = await http.post("/x", headers={"Authorization": "Bearer a"})
        gate.set()
        other = await http.post("/x", headers={"Authorization": "Bearer b"})
        assert (await first).status_code == 200
    assert second.status_code == 429 and second.headers["retry-after"] == "3"
    assert other.status_code == 200
    assert app.in_flight("a") == 0
