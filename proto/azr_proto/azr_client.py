"""Async client for the executor's `/v1/azr/*` endpoints (validate, verify, learnability).

    async with AzrClient("http://127.0.0.1:8010") as client:
        resp = await client.validate(ValidateRequest(proposals=[...]))

Faults of the service raise `azr_proto.errors.ProtoError` subclasses; program outcomes are data.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self, TypeVar

import httpx
from pydantic import BaseModel

from azr_proto.azr import (
    LearnabilityRequest,
    LearnabilityResponse,
    ValidateRequest,
    ValidateResponse,
    VerifyRequest,
    VerifyResponse,
)
from azr_proto.errors import TransportError, raise_for_proto_status

__all__ = ["AzrClient"]

_Response = TypeVar("_Response", bound=BaseModel)


class AzrClient:
    """Client of the AZR routes of the executor service."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 300.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, transport=transport)

    async def validate(self, req: ValidateRequest) -> ValidateResponse:
        """Validate a batch of proposals."""
        return await self._post("/v1/azr/validate", req, ValidateResponse)

    async def verify(self, req: VerifyRequest) -> VerifyResponse:
        """Grade a batch of answers against their tasks."""
        return await self._post("/v1/azr/verify", req, VerifyResponse)

    async def learnability(self, req: LearnabilityRequest) -> LearnabilityResponse:
        """Grade K answers per task and get each task's solve rate and reward."""
        return await self._post("/v1/azr/learnability", req, LearnabilityResponse)

    async def _post(self, path: str, req: BaseModel, model: type[_Response]) -> _Response:
        try:
            resp = await self._http.post(path, json=req.model_dump(mode="json"))
        except httpx.TransportError as exc:
            raise TransportError(f"{path}: {exc!r}") from exc
        raise_for_proto_status(resp)
        return model.model_validate_json(resp.content)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
