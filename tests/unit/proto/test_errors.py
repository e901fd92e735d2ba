"""Error responses map onto the typed client exception tree."""

from __future__ import annotations

import httpx
import pytest
from azr_proto.errors import (
    BadRequest,
    Overloaded,
    ServerFault,
    Unauthorized,
    raise_for_proto_status,
)


def _resp(
    status: int, body: object = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_success_does_not_raise():
    raise_for_proto_status(_resp(200, {"ok": True}))


def test_422_is_bad_request_with_code_and_detail():
    with pytest.raises(BadRequest) as info:
        raise_for_proto_status(_resp(422, {"code": "invalid_request", "detail": "code: too long"}))
    assert info.value.code == "invalid_request"
    assert "too long" in info.value.detail


def test_401_is_unauthorized():
    with pytest.raises(Unauthorized):
        raise_for_proto_status(_resp(401, {"code": "unauthorized", "detail": "no token"}))


def test_429_carries_retry_after():
    with pytest.raises(Overloaded) as info:
        raise_for_proto_status(
            _resp(429, {"code": "overloaded", "detail": "q"}, headers={"Retry-After": "3"})
        )
    assert info.value.retry_after_s == 3.0


def test_5xx_with_non_json_body_is_server_fault():
    with pytest.raises(ServerFault) as info:
        raise_for_proto_status(httpx.Response(502, text="bad gateway"))
    assert info.value.detail == "bad gateway"
