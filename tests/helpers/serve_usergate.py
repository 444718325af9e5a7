"""Run a real usergate for the client tests: migrate, serve on a free port, print it.

Started as a child process by ``helpers.live.LiveServer``; settings come from the
environment exactly as in production (``create_app()`` reads them). The first line
on stdout is ``PORT <n>`` once the socket is listening.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from flask_migrate import upgrade
from werkzeug.serving import make_server

from usergate import create_app


def _exit_with_parent() -> None:
    # A test run that dies without stopping us must not leave a server behind.
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _with_latency(app, spec: str):
    """Hold answers to one path back, as a slow network would: ``/api/v1/auth/refresh=0.6``.

    The request is handled at once (its database work is done); only its answer
    reaches the client later, so a second client's request overlaps it.
    """
    path, _, seconds = spec.partition("=")
    delay = float(seconds)

    def middleware(environ, start_response):
        result = app(environ, start_response)
        if environ.get("PATH_INFO") == path and environ.get("REQUEST_METHOD") != "OPTIONS":
            time.sleep(delay)
        return result

    return middleware


def main() -> None:
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    app = create_app()
    with app.app_context():
        upgrade()
    if os.environ.get("USERGATE_TEST_LATENCY"):
        app.wsgi_app = _with_latency(app.wsgi_app, os.environ["USERGATE_TEST_LATENCY"])
    # Port 0: the kernel picks a free port, so parallel runs never collide.
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"PORT {server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
