"""What every azr service client shares: one pooled httpx client with the bearer token, closed by
`aclose()` or by leaving `async with`. Each client keeps its own retry policy, since what may be
safely sent again differs per service."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import httpx

__all__ = ["ServiceClient"]


class ServiceClient:
    """Base of the async service clients: owns the connection pool."""

    def __init__(
        self,
        *,
        base_url: str = "",
        token: str | None,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout_s, headers=headers, transport=transport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
