"""Run a real usergate for the client tests: migrate, serve on a free port, print it.

Started as a child process by ``clients_support.LiveServer``; settings come from the
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


def main() -> None:
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    app = create_app()
    with app.app_context():
        upgrade()
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
