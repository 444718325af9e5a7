#!/usr/bin/env python
"""Audit log: what auditing costs a login, and the user filter with a million events.

    python bench/audit.py [--rounds 400] [--bcrypt-rounds 4] [--events 1000000]
                          [--database-url postgresql://...]

1. `POST /api/v1/auth/login` through the Flask test client with auditing on, and
   the same login with `services.audit.record` replaced by a no-op (the login as
   it was before the audit log), interleaved (on, off, off, on, ...) so a shared
   machine's drift hits both alike; medians and the ratio on/off. Target: < 1.05.
   bcrypt's cost is the bulk of a login; the default 4 rounds (the test setting)
   makes the audit's share as large as it can be.
2. `GET /api/v1/audit-events?user=<id>` (one page of 20 of that user's 50 events)
   on a database holding 1 000 events and on one holding `--events` (each built
   with one INSERT ... SELECT, not the ORM), requests interleaved between the two;
   medians and the ratio. Target: flat (about 1).

SQLite runs in a temporary directory; with --database-url (PostgreSQL) the bench
uses scratch databases created on that server and dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from usergate import create_app  # noqa: E402
from usergate.extensions import db  # noqa: E402
from usergate.models import AuditEvent  # noqa: E402
from usergate.services import audit  # noqa: E402
from usergate.services.accounts import create_user  # noqa: E402

PASSWORD = "correct horse battery"
LOGIN = "/api/v1/auth/login"
EVENTS = "/api/v1/audit-events"
TARGET_EVENTS = 50


def settings(database_url: str, bcrypt_rounds: int) -> dict:
    return {"USERGATE_CONFIG": "testing", "DATABASE_URL": database_url,
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
            "RATELIMIT_ENABLED": False, "BCRYPT_LOG_ROUNDS": bcrypt_rounds,
            "JWT_ACCESS_TOKEN_EXPIRES": 24 * 3600}


# CPU time of this process per login, beside the wall time: the whole login (bcrypt
# included) runs in this process on SQLite, so CPU time is blind to other jobs on a
# shared machine and resolves a sub-millisecond difference on a 250 ms login.
CPU: dict[str, list[float]] = {"audit on": [], "audit off": []}


def login_timing(app, rounds: int) -> dict[str, list[float]]:
    with app.app_context():
        create_user(email="bench@example.com", password=PASSWORD)
        db.session.commit()
    client = app.test_client()
    real_record = audit.record

    def off(*_args, **_kwargs):
        return None

    def login(name: str | None = None) -> float:
        cpu = time.process_time()
        started = time.perf_counter()
        response = client.post(LOGIN, json={"email": "bench@example.com", "password": PASSWORD})
        elapsed = time.perf_counter() - started
        if name is not None:
            CPU[name].append(time.process_time() - cpu)
        assert response.status_code == 200, response.get_json()
        return elapsed

    samples: dict[str, list[float]] = {"audit on": [], "audit off": []}
    try:
        for _ in range(30):  # warm up both paths
            audit.record = real_record
            login()
            audit.record = off
            login()
        for n in range(rounds):
            order = ("audit on", "audit off") if n % 2 == 0 else ("audit off", "audit on")
            for name in order:
                audit.record = real_record if name == "audit on" else off
                samples[name].append(login(name))
    finally:
        audit.record = real_record
    return samples


_BULK_PG = """
    INSERT INTO audit_events (public_id, type, at, user_id, actor_id, ip, user_agent,
                              request_id, details)
    SELECT gen_random_uuid()::text,
           (ARRAY['login_succeeded', 'login_failed', 'logout'])[1 + g % 3],
           (now() AT TIME ZONE 'utc') - make_interval(secs => g),
           COALESCE(CAST(:user AS text), md5((g % 20000)::text)::uuid::text),
           NULL, '198.51.100.7', 'bench', md5(g::text), '{}'::json
    FROM generate_series(CAST(:start AS integer), CAST(:stop AS integer)) AS g"""
_BULK_SQLITE = """
    WITH RECURSIVE s(g) AS (SELECT :start UNION ALL SELECT g + 1 FROM s WHERE g < :stop)
    INSERT INTO audit_events (public_id, type, at, user_id, actor_id, ip, user_agent,
                              request_id, details)
    SELECT lower(hex(randomblob(16))),
           CASE g % 3 WHEN 0 THEN 'login_succeeded' WHEN 1 THEN 'login_failed'
                ELSE 'logout' END,
           datetime('now', '-' || g || ' seconds'),
           COALESCE(:user, printf('%08d-0000-4000-8000-000000000000', g % 20000)),
           NULL, '198.51.100.7', 'bench', lower(hex(randomblob(8))), '{}'
    FROM s"""


def _bulk_insert(count: int, *, user_id: str | None, start: int) -> None:
    """`count` events in one INSERT ... SELECT; user_id None spreads them over 20 000 users."""
    sql = _BULK_PG if db.engine.dialect.name == "postgresql" else _BULK_SQLITE
    db.session.execute(text(sql), {"start": start, "stop": start + count - 1, "user": user_id})
    db.session.commit()


def _analyze() -> None:
    """Statistics for the planner; on SQLite also fold the WAL into the database file
    (a bulk load leaves a WAL every read would consult until the next checkpoint)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE audit_events"))
        db.session.commit()
        return
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    db.session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    db.session.commit()


def _filter_app(database_url: str, events: int, target: str, bcrypt_rounds: int):
    """An app on its own database holding `events` events, `TARGET_EVENTS` of them the target's."""
    app = create_app(settings(database_url, bcrypt_rounds))
    with app.app_context():
        upgrade()
        create_user(email="admin@example.com", password=PASSWORD, admin=True)
        db.session.execute(text("DELETE FROM audit_events"))
        db.session.commit()
        started = time.perf_counter()
        _bulk_insert(TARGET_EVENTS, user_id=target, start=1)
        _bulk_insert(events - TARGET_EVENTS, user_id=None, start=TARGET_EVENTS + 1)
        built = time.perf_counter() - started
        _analyze()
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events
    client = app.test_client()
    body = client.post(LOGIN, json={"email": "admin@example.com", "password": PASSWORD}).get_json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    print(f"  {events:>9} events built with one INSERT ... SELECT in {built:.1f} s")
    return app, client, headers


def filter_side_by_side(urls: dict[int, str], rounds: int, bcrypt_rounds: int
                        ) -> dict[int, float]:
    """GET /audit-events?user= on each database, requests interleaved between them."""
    target = str(uuid.uuid4())
    apps = {count: _filter_app(url, count, target, bcrypt_rounds) for count, url in urls.items()}
    samples: dict[int, list[float]] = {count: [] for count in apps}
    order = list(apps)
    for n in range(rounds + 20):
        for count in (order if n % 2 == 0 else order[::-1]):
            _app, client, headers = apps[count]
            started = time.perf_counter()
            response = client.get(f"{EVENTS}?user={target}", headers=headers)
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.get_json()
            assert response.get_json()["total"] == TARGET_EVENTS
            if n >= 20:  # after warming up
                samples[count].append(elapsed)
    for app, _client, _headers in apps.values():
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return {count: statistics.median(values) for count, values in samples.items()}


def run(database_url: str, filter_urls: dict[int, str], args, label: str) -> None:
    app = create_app(settings(database_url, args.bcrypt_rounds))
    with app.app_context():
        upgrade()
    samples = login_timing(app, args.rounds)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    off = statistics.median(samples["audit off"])
    cpu_off = statistics.median(CPU["audit off"])
    print(f"\n{label}: POST /auth/login, {args.rounds} interleaved rounds, "
          f"BCRYPT_LOG_ROUNDS={args.bcrypt_rounds}")
    print(f"  {'login':<10} {'median ms':>10} {'ratio to off':>13} {'CPU ms':>9} {'CPU ratio':>10}")
    for name, values in samples.items():
        median, cpu = statistics.median(values), statistics.median(CPU[name])
        print(f"  {name:<10} {median * 1000:>10.3f} {median / off:>13.3f} "
              f"{cpu * 1000:>9.3f} {cpu / cpu_off:>10.3f}")
    for values in CPU.values():
        values.clear()
    print(f"{label}: GET /audit-events?user=<id> ({TARGET_EVENTS} events of that user, "
          f"a page of 20), {args.filter_rounds} interleaved rounds, one database per size")
    medians = filter_side_by_side(filter_urls, args.filter_rounds, args.bcrypt_rounds)
    small = medians[1000]
    for count, median in medians.items():
        print(f"  {count:>9} events {median * 1000:>9.3f} ms  ratio {median / small:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--bcrypt-rounds", type=int, default=4)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--filter-rounds", type=int, default=300)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            run(f"sqlite:///{folder}/login.db",
                {1000: f"sqlite:///{folder}/small.db", args.events: f"sqlite:///{folder}/large.db"},
                args, "SQLite")
    if args.database_url:
        import psycopg

        base = make_url(args.database_url)
        admin = base.set(drivername="postgresql", database="postgres").render_as_string(False)
        names = {kind: f"ugbench_audit_{kind}_{uuid.uuid4().hex[:8]}"
                 for kind in ("login", "small", "large")}
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names.values():
                conn.execute(f'CREATE DATABASE "{name}"')

        def url(kind: str) -> str:
            return base.set(drivername="postgresql", database=names[kind]).render_as_string(False)

        try:
            run(url("login"), {1000: url("small"), args.events: url("large")}, args,
                "PostgreSQL")
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                for name in names.values():
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

if __name__ == "__main__":
    main()
