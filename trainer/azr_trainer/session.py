"""The connection to the services: each one local or remote on its own, one portal, closed in order.

    with open_session(out / "services", executor_urls=[], buffer_url="http://h:8020") as s:
        logger.info("%s", s.describe())      # executor: local http://127.0.0.1:41235 ...
        judge, store = s.judge(concurrency=32), s.store("run-1", concurrency=32)
        s.call(store.ensure_run)

A service given by URL is used as is, after a probe of its `/healthz` (an unreachable or wrong
URL is a `UsageError` naming it, before any model loads); a service given no URL is started
locally under `workdir`. The async proto clients live on one blocking portal, which the sync
trainer calls through `call`. On exit the clients close first, then the portal, then the local
services stop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from azr_proto.buffer_client import BufferClient
from azr_proto.executor_client import ExecutorClient

from azr_trainer.errors import UsageError
from azr_trainer.remote import BufferStore, ExecutorJudge

__all__ = ["Endpoint", "Session", "open_session", "probe"]

T = TypeVar("T")

# What to drop to have a service started locally instead (the hint of an unreachable URL).
_CONFIG_KEY = {"executor": "executor_urls", "buffer": "buffer_url"}


@dataclass(frozen=True)
class Endpoint:
    """Where one service is, and whether this session started it."""

    service: str  # "executor" or "buffer"
    urls: tuple[str, ...]
    local: bool

    def describe(self) -> str:
        where = "local (started here)" if self.local else "remote"
        return f"{self.service}: {where} {', '.join(self.urls)}"


def probe(service: str, url: str, *, timeout_s: float = 5.0) -> None:
    """Check that `url` answers as the azr `service`; a `UsageError` saying what to do if not."""
    hint = (
        f"start the services with `make up`, or drop {_CONFIG_KEY[service]} "
        f"to start {'an executor' if service == 'executor' else 'a buffer'} locally"
    )
    try:
        resp = httpx.get(f"{url}/healthz", timeout=timeout_s)
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise UsageError(f"the {service} at {url} does not answer ({reason})\n  {hint}") from None
    try:
        answered = resp.json().get("service") if resp.status_code == 200 else None
    except ValueError:
        answered = None
    if answered != service:
        what = f"the {answered} service" if answered else f"HTTP {resp.status_code}, not azr"
        raise UsageError(f"{url} is {what}, not the azr {service} ({_CONFIG_KEY[service]})")


class Session:
    """The clients of one run, on one portal; `call` runs their coroutines from sync code."""

    def __init__(
        self,
        portal: BlockingPortal,
        executor: ExecutorClient | None,
        buffer: BufferClient | None,
        endpoints: list[Endpoint],
    ) -> None:
        self.portal = portal
        self.executor = executor
        self.buffer = buffer
        self.endpoints = endpoints

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run the coroutine function `fn(*args)` on the session's event loop; its result."""
        return self.portal.call(fn, *args)

    def url(self, service: str) -> str:
        """The (first) URL of `service`, or "" when the session has none."""
        found = [e.urls[0] for e in self.endpoints if e.service == service]
        return found[0] if found else ""

    def describe(self) -> str:
        """One line per service: local or remote, and its URL."""
        return "\n".join(e.describe() for e in self.endpoints)

    def judge(self, *, concurrency: int) -> ExecutorJudge:
        """The `TaskJudge` over this session's executor (the client retries sandbox errors)."""
        if self.executor is None:
            raise RuntimeError("this session has no executor")
        return ExecutorJudge(self.executor, concurrency=concurrency)

    def store(self, run: str, *, concurrency: int) -> BufferStore:
        """The `TaskStore` over this session's buffer, for the run named `run`."""
        if self.buffer is None:
            raise RuntimeError("this session has no buffer")
        return BufferStore(self.buffer, run, concurrency=concurrency)


@contextmanager
def open_session(
    workdir: Path,
    *,
    executor_urls: Sequence[str] = (),
    buffer_url: str = "",
    executor: bool = True,
    buffer: bool = True,
    token: str | None = None,
    timeout_s: float = 120.0,
    retries: int = 3,
    world: int = 1,
) -> Iterator[Session]:
    """Open the services a run needs: each given by URL is probed, each not given is started.

    `executor`/`buffer` False: that service is not needed. `world` > 1 (several processes)
    needs both by URL, since every rank must share one buffer.
    """
    urls = {"executor": tuple(executor_urls) if executor else (), "buffer": (buffer_url,)}
    if not buffer or not buffer_url:
        urls["buffer"] = ()
    start = {
        name: wanted and not urls[name]
        for name, wanted in (("executor", executor), ("buffer", buffer))
    }
    if world > 1 and any(start.values()):
        raise UsageError(
            f"with {world} processes every rank must share the services: "
            "pass executor_urls and buffer_url (`make up` starts them)"
        )
    for name, given in urls.items():
        for url in given:
            probe(name, url)
    with ExitStack() as stack:
        if any(start.values()):
            from azr_trainer.services import local_services

            local = stack.enter_context(
                local_services(workdir, executor=start["executor"], buffer=start["buffer"])
            )
            if local.executor_url:
                urls["executor"] = (local.executor_url,)
            if local.buffer_url:
                urls["buffer"] = (local.buffer_url,)
        endpoints = [Endpoint(name, given, start[name]) for name, given in urls.items() if given]
        portal = stack.enter_context(start_blocking_portal())  # closes before the services

        async def make() -> tuple[ExecutorClient | None, BufferClient | None]:
            # Built inside the portal's event loop, which they then live on.
            ex = (
                ExecutorClient(
                    urls["executor"], token=token, timeout_s=timeout_s, max_retries=retries
                )
                if urls["executor"]
                else None
            )
            bu = (
                BufferClient(urls["buffer"][0], token=token, timeout_s=timeout_s)
                if urls["buffer"]
                else None
            )
            return ex, bu

        ex_client, bu_client = portal.call(make)
        for client in (ex_client, bu_client):
            if client is not None:
                stack.callback(portal.call, client.aclose)
        yield Session(portal, ex_client, bu_client, endpoints)
