"""Loopback ports and waiting for a server to answer."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_health(base_url: str, process, seconds: float = 60.0,
                    path: str = "/api/v1/health") -> int:
    """Poll GET `path` until it answers; its status (fails if `process` ends first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode} before serving")
        try:
            with urllib.request.urlopen(f"{base_url}{path}", timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{base_url}{path} did not answer within {seconds} s")
