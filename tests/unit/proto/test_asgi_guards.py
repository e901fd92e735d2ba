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


async def test_chunked_body_over_the_limit_gets_413_even_when_the_app_reads_it():
    """No Content-Length: the limit trips while the app reads, and the client still sees 413."""

    async def reading_app(scope, receive, send):
        try:
            while (await receive()).get("more_body"):
                pass
        except Exception:  # a framework turns errors while reading into its own 400
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"bad"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def chunks():
        yield b"x" * 8
        yield b"x" * 8

    async with _client(BodySizeLimit(reading_app, max_bytes=10)) as http:
        resp = await http.post("/", content=chunks())
    assert resp.status_code == 413
    assert resp.json()["code"] == "too_large"


async def test_a_path_can_have_a_larger_limit_of_its_own():
    guard = BodySizeLimit(echo_app, max_bytes=10, limits={r"/v1/runs/[^/]+/import": 100})
    async with _client(guard) as http:
        assert (await http.post("/v1/runs/a/import", content=b"x" * 50)).status_code == 200
        assert (await http.post("/v1/other", content=b"x" * 50)).status_code == 413


async def tenant_app(scope, receive, send):
    """Answers the tenant the request runs as, and the path it sees."""
    from azr_proto.asgi import current_tenant

    body = f"{current_tenant.get()} {scope['path']} {scope['raw_path'].decode()}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_the_tenant_is_the_token_name_and_never_the_token():
    from azr_proto.asgi import tenant_name

    app = BearerAuth(tenant_app, tokens={"tok-a", "tok-b"}, tenants={"tok-a": "team-a"})
    async with _client(app) as http:
        named = await http.get("/x", headers={"Authorization": "Bearer tok-a"})
        unnamed = await http.get("/x", headers={"Authorization": "Bearer tok-b"})
    assert named.text.split()[0] == "team-a"
    assert unnamed.text.split()[0] == tenant_name("tok-b") and "tok-b" not in unnamed.text


async def test_a_token_in_the_path_authenticates_and_is_cut_out():
    app = BearerAuth(tenant_app, tokens={"good"}, path_token_prefix="/sandbox-fusion/")
    async with _client(app) as http:
        right = await http.post("/sandbox-fusion/good/run_code")
        wrong = await http.post("/sandbox-fusion/bad/run_code")
        missing = await http.post("/sandbox-fusion/run_code")
        header_only = await http.post("/run_code", headers={"Authorization": "Bearer good"})
    assert right.status_code == 200
    tenant, path, raw_path = right.text.split()
    assert tenant == "token-" + __import__("hashlib").sha256(b"good").hexdigest()[:8]
    assert path == raw_path == "/sandbox-fusion/run_code"  # the access log never sees it
    assert wrong.status_code == missing.status_code == 401
    assert "/sandbox-fusion/<token>/" in wrong.json()["detail"]
    assert header_only.status_code == 200


async def test_without_tokens_paths_pass_unchanged_as_anonymous():
    app = BearerAuth(tenant_app, tokens=set(), path_token_prefix="/sandbox-fusion/")
    async with _client(app) as http:
        resp = await http.post("/sandbox-fusion/run_code")
    assert resp.text.split()[:2] == ["anonymous", "/sandbox-fusion/run_code"]


async def test_quota_rejections_are_reported_with_the_tenant():
    rejected = []
    release = asyncio.Event()

    async def slow_app(scope, receive, send):
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = BearerAuth(slow_app, tokens={"t"}, tenants={"t": "team"}, max_concurrent=1,
                     on_reject=lambda tenant, reason: rejected.append((tenant, reason)))  # fmt: skip
    async with _client(app) as http:
        first = asyncio.create_task(http.get("/x", headers={"Authorization": "Bearer t"}))
        await asyncio.sleep(0.05)
        second = await http.get("/x", headers={"Authorization": "Bearer t"})
        release.set()
        await first
    assert second.status_code == 429 and rejected == [("team", "token_concurrency")]


async def test_path_token_requests_over_the_quota_get_the_configured_status():
    release = asyncio.Event()

    async def slow_app(scope, receive, send):
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = BearerAuth(slow_app, tokens={"t"}, max_concurrent=1, path_token_prefix="/sf/",
                     path_token_busy_status=504)  # fmt: skip
    async with _client(app) as http:
        first = asyncio.create_task(http.post("/sf/t/run_code"))
        await asyncio.sleep(0.05)
        by_path = await http.post("/sf/t/run_code")
        by_header = await http.post("/x", headers={"Authorization": "Bearer t"})
        release.set()
        await first
    assert by_path.status_code == 504 and by_header.status_code == 429
    assert by_path.headers["retry-after"] == "1"
