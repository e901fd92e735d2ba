"""Relay TCP connections from a published port to a service on an internal Docker network.

Docker publishes no port for a container that sits only on an `internal: true` network (the
network has no gateway, so there is nothing to map the port through). The executor must sit on
such a network, with no route out, yet be reachable on 127.0.0.1 for local clients. This relay
runs in its own container on both networks and copies bytes both ways; it parses nothing.

Usage: python3 tcp_relay.py LISTEN_PORT TARGET_HOST TARGET_PORT
Stdlib only, so it runs from any of the azr images.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

logger = logging.getLogger("tcp_relay")

_CHUNK = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        if not writer.is_closing():
            writer.close()


async def _handle(
    client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, host: str, port: int
) -> None:
    try:
        target_r, target_w = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
    except (OSError, TimeoutError) as exc:
        # The target is restarting: drop the connection; clients retry.
        logger.warning("target %s:%d unreachable: %s", host, port, exc)
        client_w.close()
        return
    await asyncio.gather(_pipe(client_r, target_w), _pipe(target_r, client_w))


async def _serve(listen_port: int, host: str, port: int) -> None:
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, host, port), host="0.0.0.0", port=listen_port
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logger.info("relaying :%d -> %s:%d", listen_port, host, port)
    async with server:
        await stop.wait()


def main(argv: list[str]) -> int:
    """Parse `LISTEN_PORT TARGET_HOST TARGET_PORT` and relay until SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if len(argv) != 3:
        logger.error("usage: tcp_relay.py LISTEN_PORT TARGET_HOST TARGET_PORT")
        return 2
    asyncio.run(_serve(int(argv[0]), argv[1], int(argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
