#!/usr/bin/env python
"""Where a protected request's time goes, by part of the stack (pyinstrument).

    python bench/profile_framework.py [-n 4000] [--database-url postgresql://...]

Sends N requests of `GET /api/v1/auth/user` (usergate, a repeated token) and of
the bare-Flask ceiling (bench/bare.py) through the Flask test client under
pyinstrument, and files every sampled moment under the innermost part of the
stack it was spent in: authentication (the token checks and the one SELECT),
the view, Flask-RESTX dispatch, response building and JSON encoding, the rate
limiter, the request-id and security-header hooks, Flask's cookie session,
Flask itself (request context, routing, teardown), and the test client (which
an HTTP server does not run). It prints the share of each, and microseconds
per request: each share of the unprofiled time of a request (pyinstrument's own
overhead is spread over every part alike, so the shares are what it measures).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import targets  # noqa: E402

# (label, test on a frame): the innermost frame on the stack that matches names
# the part; a sample whose stack matches none is Flask/Werkzeug's own work.
PARTS = [
    ("test client (not in an HTTP server)",
     lambda f: f.file_path.endswith(("werkzeug/test.py", "flask/testing.py"))
     and f.function not in ("run_wsgi_app",)),
    ("Flask, Werkzeug: request context, routing, response object, teardown",
     lambda f: f.function == "wsgi_app" and f.file_path.endswith("flask/app.py")),
    ("Flask-SQLAlchemy: session removal at teardown",
     lambda f: f.function in ("shutdown_session", "_teardown_session")
     or (f.function == "remove" and "scoping" in f.file_path)),
    ("Flask cookie session (open/save)",
     lambda f: f.file_path.endswith("flask/sessions.py")),
    ("rate limiter (Flask-Limiter hooks)",
     lambda f: "flask_limiter" in f.file_path),
    ("request id (hook, or made on first use)",
     lambda f: f.function in ("_assign_request_id", "request_id")),
    ("security headers hook", lambda f: f.function == "_security_headers"),
    ("Flask-RESTX dispatch", lambda f: "flask_restx" in f.file_path),
    ("response: JSON encoding (json.dumps)",
     lambda f: f.function in ("dumps", "encode", "iterencode")
     and f.file_path.endswith(("json/__init__.py", "json/encoder.py", "flask/json/provider.py"))),
    ("response: make_response / output_json (Flask-RESTX's or usergate's Api)",
     lambda f: ("flask_restx" in f.file_path or f.file_path.endswith("usergate/api/__init__.py"))
     and f.function in ("make_response", "output_json")),
    ("response: jsonify", lambda f: f.function == "jsonify"),
    ("the view (bare: read + body)", lambda f: f.function == "current_user"
     and "bare" in f.file_path),
    ("the view (usergate: body)", lambda f: f.function == "get" and "usergate" in f.file_path),
    ("authentication: token checks and the one SELECT",
     lambda f: f.function == "verify_token_in_request"),
]
ORDER = [label for label, _ in PARTS] + ["other Flask/Werkzeug work"]


def shares(root) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)

    def walk(frame, part: str) -> None:
        for label, test in PARTS:
            try:
                if test(frame):
                    part = label
            except (AttributeError, TypeError):
                pass
        child_time = sum(c.time for c in frame.children)
        out[part] += max(0.0, frame.time - child_time)
        for child in frame.children:
            walk(child, part)

    walk(root, "other Flask/Werkzeug work")
    return out


def profile(p, scenario: str, n: int):
    from pyinstrument import Profiler

    client = p.app_for(scenario).test_client()
    path, headers = targets.PATHS[scenario], p.headers(scenario)
    for _ in range(300):
        client.get(path, headers=headers)
    start = time.perf_counter()
    for _ in range(n):
        client.get(path, headers=headers)
    plain = (time.perf_counter() - start) / n
    profiler = Profiler(interval=0.0001)
    profiler.start()
    for _ in range(n):
        client.get(path, headers=headers)
    profiler.stop()
    return plain, profiler.last_session.root_frame()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=4000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with targets.one_database(args.database_url) as (target, p):
        results = {}
        for scenario in ("usergate", "bare"):
            plain, root = profile(p, scenario, args.n)
            results[scenario] = (plain, shares(root))
        p.dispose()

    print(f"{target.label}, {args.n} requests each; unprofiled: "
          + ", ".join(f"{s} {v[0] * 1e6:.0f} µs/request" for s, v in results.items()))
    print(f"\n{'part of the stack':<72} {'usergate':>16} {'bare Flask':>16}")
    for label in ORDER:
        cells = []
        for scenario in ("usergate", "bare"):
            plain, parts = results[scenario]
            total = sum(parts.values())
            t = parts.get(label, 0.0)
            cells.append(f"{t / total * 100:5.1f} % {t / total * plain * 1e6:5.0f} µs"
                         if t else "-")
        print(f"{label:<72} {cells[0]:>16} {cells[1]:>16}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
