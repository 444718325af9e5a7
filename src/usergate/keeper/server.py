"""``usergate-keeper serve``: access tokens over HTTP for local processes.

``GET /tokens/NAME`` answers ``{"access_token": ..., "expires_in": ...}``.
It listens on 127.0.0.1 only, and refuses requests whose Host is not a
loopback name or that carry an Origin (a web page's request, via DNS
rebinding), so a browser cannot be turned against it.  Any local process can
read the tokens: see docs/keeper.md.  Bounded: a fixed number of requests at
once, a socket timeout, a short request line.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .core import Keeper
from .errors import (
    CorruptRowError,
    EndpointUnreachableError,
    KeeperError,
    KeeperTimeoutError,
    TokenEndpointError,
    TokenFailedError,
    TokenNotFoundError,
)
from .records import NAME_RE

__all__ = ["make_server", "NAME_RE"]

log = logging.getLogger(__name__)

_PATH_RE = re.compile(r"/tokens/([^/?#]+)")
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost"}


def _status_for(exc: KeeperError) -> HTTPStatus:
    if isinstance(exc, TokenNotFoundError):
        return HTTPStatus.NOT_FOUND
    if isinstance(exc, (TokenFailedError, CorruptRowError)):
        return HTTPStatus.CONFLICT
    if isinstance(exc, KeeperTimeoutError):
        return HTTPStatus.SERVICE_UNAVAILABLE
    if isinstance(exc, (EndpointUnreachableError, TokenEndpointError)):
        return HTTPStatus.BAD_GATEWAY
    return HTTPStatus.INTERNAL_SERVER_ERROR


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "usergate-keeper"
    sys_version = ""
    timeout = 10  # seconds for a client to send its request

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        log.info("%s %s", self.address_string(), format % args)

    def _send(self, status: HTTPStatus, body: dict, *, problem: bool = False) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type",
                         "application/problem+json" if problem else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Pragma", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(data)

    def _problem(self, status: HTTPStatus, detail: str) -> None:
        self._send(status, {"type": "about:blank", "title": status.phrase,
                            "status": int(status), "detail": detail}, problem=True)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if host not in _LOOPBACK_HOSTS or self.headers.get("Origin") is not None:
            self._problem(HTTPStatus.FORBIDDEN, "only local, non-browser clients are served")
            return
        match = _PATH_RE.fullmatch(self.path)
        if not match:
            self._problem(HTTPStatus.NOT_FOUND, "try GET /tokens/NAME")
            return
        name = match.group(1)
        if not NAME_RE.fullmatch(name):
            self._problem(HTTPStatus.NOT_FOUND, "not a token name")
            return
        if not self.server.slots.acquire(blocking=False):
            self._problem(HTTPStatus.SERVICE_UNAVAILABLE, "too many requests at once")
            return
        try:
            token = self.server.keeper.get_access(name, timeout=self.server.wait_timeout)
        except KeeperError as exc:
            self._problem(_status_for(exc), str(exc))
            return
        finally:
            self.server.slots.release()
        expires_in = int(token.expires_in(self.server.keeper.clock()))
        self._send(HTTPStatus.OK, {"access_token": token.access_token,
                                   "token_type": "Bearer", "expires_in": expires_in})

    def _not_allowed(self) -> None:
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed  # noqa: N815


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 16

    def __init__(self, port: int, keeper: Keeper, *, max_concurrent: int, wait_timeout: float):
        self.keeper = keeper
        self.slots = threading.BoundedSemaphore(max_concurrent)
        # One thread per connection, but not without end: beyond this many
        # open connections new ones are closed at once.
        self.connections = threading.BoundedSemaphore(4 * max_concurrent)
        self.wait_timeout = wait_timeout
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request, client_address):
        if not self.connections.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.connections.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release()


def make_server(keeper: Keeper, *, port: int = 8765, max_concurrent: int = 16,
                wait_timeout: float = 10.0) -> _Server:
    """A server bound to 127.0.0.1:port; call serve_forever() and shutdown()."""
    return _Server(port, keeper, max_concurrent=max_concurrent, wait_timeout=wait_timeout)
