"""Free loopback ports for a server under test, shared by the server and SDK suites."""

from __future__ import annotations

import socket


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that are free now. All stay bound until every one
    is chosen: ports picked one after another can repeat (the kernel reused a port just
    closed), and a server given one port for gRPC and REST then refuses to start."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
