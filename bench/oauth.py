#!/usr/bin/env python
"""Introspection against a protected request, and client-credentials tokens per second.

    python bench/oauth.py [--rounds 15] [--batch 200] [--database-url postgresql://...]

In-process (the Flask test client, one thread) on a SQLite file in a temporary
directory, or on PostgreSQL when --database-url names a database (the bench
works in its own schema there, dropped at the end). Interleaved rounds
(A B C, B C A, C A B, ...) so a shared machine's drift hits every scenario alike:

- `user`: GET /api/v1/auth/user with a user's access token (the one-statement check);
- `introspect`: POST /api/v1/auth/introspect of that same token, the client
  authenticated by HTTP Basic (the same check, plus the client's SELECT and HMAC);
- `client_credentials`: POST /api/v1/auth/token grant_type=client_credentials
  (HMAC-SHA256 of the secret, no bcrypt on this path).

Prints requests per second (medians) and the paired ratio introspect / user
(target >= 0.9x), by wall time and by this process's CPU time. One token is
introspected again and again, as a resource server sees its callers' tokens.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from measure import interleave  # noqa: E402

PASSWORD = "correct horse battery"


CPU: dict[str, list[float]] = {}


def batch(name: str, client, n: int, send, expect: int = 200):
    """A batch of n requests; returns requests per wall second and keeps requests per
    CPU second of this process (all the work is in it on SQLite, so that rate is
    blind to other jobs taking the CPU: the steadier read on a shared machine)."""
    CPU[name] = []

    def run() -> float:
        cpu = time.process_time()
        start = time.perf_counter()
        for _ in range(n):
            response = send(client)
            if response.status_code != expect:
                raise SystemExit(f"unexpected {response.status_code}: {response.get_data()!r}")
        wall = time.perf_counter() - start
        CPU[name].append(n / max(time.process_time() - cpu, 1e-9))
        return n / wall
    return run


@contextmanager
def oauth_app(database_url: str | None):
    """The bench's app and what it sends: {name: send(client)} for `user`, `introspect`
    and `client_credentials`, on a SQLite file (or a PostgreSQL schema of its own)."""
    from sqlalchemy import text

    from usergate import create_app
    from usergate.extensions import db
    from usergate.services.clients import create_client

    workdir = Path(tempfile.mkdtemp(prefix="ugbench-oauth-"))
    url = database_url or f"sqlite:///{workdir / 'bench.db'}"
    schema = None
    settings = {"USERGATE_CONFIG": "testing", "SECRET_KEY": os.urandom(32).hex(),
                "BCRYPT_LOG_ROUNDS": 4, "RATELIMIT_ENABLED": False, "DATABASE_URL": url}
    if url.startswith("postgres"):
        schema = f"ugbench_oauth_{uuid.uuid4().hex[:8]}"
        settings["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "connect_args": {"options": f"-csearch_path={schema}"}}
    app = create_app(settings)
    with app.app_context():
        if schema:
            with db.engine.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
        db.create_all()
        new = create_client("bench")
        db.session.commit()
        client_id, secret = new.client.client_id, new.secret
    try:
        client = app.test_client()
        body = client.post("/api/v1/auth/register",
                           json={"email": "bench@example.com", "password": PASSWORD}).get_json()
        token = body["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        basic = {"Authorization": "Basic " + base64.b64encode(
            f"{client_id}:{secret}".encode()).decode()}
        # Bodies encoded once: what the client spends encoding is not the server's cost.
        form_type = "application/x-www-form-urlencoded"
        form = f"token={token}"
        grant = "grant_type=client_credentials"
        sends = {
            "user": lambda c: c.get("/api/v1/auth/user", headers=bearer),
            "introspect": lambda c: c.post("/api/v1/auth/introspect", data=form,
                                           content_type=form_type, headers=basic),
            "client_credentials": lambda c: c.post("/api/v1/auth/token", data=grant,
                                                   content_type=form_type, headers=basic),
        }
        assert sends["introspect"](client).get_json()["active"] is True
        yield app, client, sends
    finally:
        with app.app_context():
            if schema:
                db.session.remove()
                with db.engine.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with oauth_app(args.database_url) as (_app, client, sends):
        runs = {name: batch(name, client, args.batch, send) for name, send in sends.items()}
        samples = interleave(runs, args.rounds)

    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{database}, in-process, {args.rounds} interleaved rounds of {args.batch} requests")
    for name, values in samples.items():
        cpu = CPU[name][1:]  # the warm-up batch is not a sample
        print(f"  {name:20s} {statistics.median(values):8.0f} req/s wall "
              f"(min {min(values):.0f}, max {max(values):.0f}), "
              f"{statistics.median(cpu):8.0f} req/CPU-s")
    for label, a, b in (("wall", samples["introspect"], samples["user"]),
                        ("CPU", CPU["introspect"][1:], CPU["user"][1:])):
        ratio = statistics.median([i / u for i, u in zip(a, b, strict=True)])
        print(f"  introspect / user    {ratio:8.2f}x {label} (paired median; target >= 0.9x) "
              f"{'met' if ratio >= 0.9 else 'NOT met'}")
    print(f"  client_credentials   {statistics.median(samples['client_credentials']):8.0f} "
          "tokens/s wall")


if __name__ == "__main__":
    main()
