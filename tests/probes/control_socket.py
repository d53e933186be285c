"""A client for a mount's control socket (layer/control_protocol.h), shared by the CLI and
server suites: one JSON request line, one JSON reply line."""

from __future__ import annotations

import json
import socket
from pathlib import Path


def control_request(sock: Path | str, op: str) -> dict:
    """Sends {"op": op} and returns the reply as it came (its "ok" unchecked)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock))
        s.sendall((json.dumps({"op": op}) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)
