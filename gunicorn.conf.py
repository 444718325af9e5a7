"""gunicorn settings for usergate: `gunicorn -c gunicorn.conf.py 'usergate:create_app()'`.

Every value can be changed from the environment without editing this file:

    USERGATE_BIND              where to listen (default 127.0.0.1:8000; "0.0.0.0:8000" for all)
    USERGATE_WORKERS           worker processes (default WEB_CONCURRENCY, else 2 x CPUs + 1, max 8)
    USERGATE_THREADS           threads per worker (default 1: plain sync workers)
    USERGATE_TIMEOUT           seconds a worker may spend on one request before it is killed (30)
    USERGATE_GRACEFUL_TIMEOUT  seconds a worker gets to finish its requests on restart/stop (30)
    USERGATE_KEEPALIVE         seconds to keep an idle client connection open (5)
    USERGATE_ACCESS_LOG        access log file, "-" for stdout (default), "" to turn it off
    USERGATE_ERROR_LOG         error log file, "-" for stderr (default)
    USERGATE_LOG_LEVEL         error log level (default info)
    USERGATE_CONTROL_SOCKET    path of gunicorn's control socket (gunicorn >= 25; default: none,
                               since two servers on one host would fight over the shared
                               default ~/.gunicorn/gunicorn.ctl)

Several workers share nothing in memory: point them at one database (DATABASE_URL)
and one rate-limit store (RATELIMIT_STORAGE_URI=redis://...), or each worker keeps
its own rate-limit counters. See docs/deployment.md.
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise SystemExit(f"{name} must be at least 1")
    return value


bind = os.environ.get("USERGATE_BIND", "").strip() or "127.0.0.1:8000"
# The classic 2 x cores + 1, capped: every worker holds its own database pool
# (pool_size 5 + max_overflow 10 on PostgreSQL), and bcrypt is CPU-bound anyway.
workers = _int("USERGATE_WORKERS",
               _int("WEB_CONCURRENCY", min(multiprocessing.cpu_count() * 2 + 1, 8)))
threads = _int("USERGATE_THREADS", 1)
timeout = _int("USERGATE_TIMEOUT", 30)
graceful_timeout = _int("USERGATE_GRACEFUL_TIMEOUT", 30)
keepalive = _int("USERGATE_KEEPALIVE", 5)

# Each worker builds its own app and database engine after the fork: with
# preload_app the workers would inherit (and share) the master's pooled connections.
preload_app = False
# Recycle workers now and then so a slow leak cannot grow without bound; the
# jitter keeps them from all restarting at once.
max_requests = 2000
max_requests_jitter = 200

# Request sizes: the app refuses bodies over MAX_CONTENT_LENGTH itself; these bound
# what gunicorn reads before the app sees the request.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

accesslog = os.environ.get("USERGATE_ACCESS_LOG", "-") or None
errorlog = os.environ.get("USERGATE_ERROR_LOG", "-") or "-"
loglevel = os.environ.get("USERGATE_LOG_LEVEL", "info")
# Tokens must never reach a log. This format names the path only (%(U)s: no query
# string, unlike %(r)s), no request headers (so no Authorization), no Referer (which
# may carry another site's query string) and not %(u)s (decoded from Authorization).
# The X-Request-ID matches the id in problem bodies and the app's error log; %(p)s is
# the worker's pid.
access_log_format = (
    '%(h)s - - %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms '
    '"%(a)s" rid=%({x-request-id}o)s pid=%(p)s'
)

proc_name = "usergate"

_control = os.environ.get("USERGATE_CONTROL_SOCKET", "").strip()
if _control:
    control_socket = _control
else:
    control_socket_disable = True
