"""Free TCP ports for the servers the suite starts (importable from every test package: the
suite's root is on `sys.path`, as for `azr_executor_fixtures`)."""

from __future__ import annotations

import socket

_PICKED: set[int] = set()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel picks it), never one picked before."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _PICKED:
            _PICKED.add(port)
            return port
