#!/usr/bin/env python
"""Mail: reset-request timing for known vs unknown emails, and deliverer throughput.

    python bench/mail.py [--rounds 600] [--messages 1000] [--database-url postgresql://...]

1. `POST /api/v1/auth/password-reset` through the Flask test client for a known
   account, an unknown email and a disabled account, interleaved (K U D, U D K,
   D K U, ...) so a shared machine's drift hits all alike; medians and the ratio
   unknown/known and disabled/known. The target: within 5 % (ratio 0.95-1.05).
2. Messages per second one deliverer (`services.mail.deliver_due`) hands to a
   local aiosmtpd (its own process, a sink) over SMTP, `--messages` of them.

SQLite runs in a temporary directory; with --database-url (PostgreSQL) the bench
uses a scratch database created on that server and dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # helpers: the tests' settings and ports

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from helpers.net import free_port  # noqa: E402
from helpers.settings import app_settings  # noqa: E402
from usergate import create_app  # noqa: E402
from usergate.extensions import db  # noqa: E402
from usergate.models import OutboxMessage, User  # noqa: E402
from usergate.services import mail, outbox  # noqa: E402
from usergate.services.accounts import create_user  # noqa: E402

RESET = "/api/v1/auth/password-reset"


def settings(database_url: str, smtp_port: int) -> dict:
    return app_settings(database_url, MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1",
                        MAIL_PORT=smtp_port, MAIL_TIMEOUT=10,
                        MAIL_DEFAULT_SENDER="usergate <no-reply@example.com>")


def reset_timing(app, rounds: int) -> dict[str, list[float]]:
    with app.app_context():
        create_user(email="known@example.com", password="correct horse battery")
        disabled = create_user(email="disabled@example.com", password="correct horse battery")
        disabled.disabled = True
        db.session.commit()
    client = app.test_client()
    emails = {"known": "known@example.com", "unknown": "nobody@example.com",
              "disabled": "disabled@example.com"}
    order = list(emails)
    samples: dict[str, list[float]] = {name: [] for name in emails}
    for _ in range(50):  # warm up every path
        for email in emails.values():
            client.post(RESET, json={"email": email})
    for n in range(rounds):
        rotation = order[n % 3:] + order[:n % 3]
        for name in rotation:
            started = time.perf_counter()
            response = client.post(RESET, json={"email": emails[name]})
            samples[name].append(time.perf_counter() - started)
            assert response.status_code == 202
    return samples


def throughput(app, messages: int, smtp_port: int) -> tuple[int, float]:
    with app.app_context():
        db.session.execute(OutboxMessage.__table__.delete())
        db.session.commit()
        for n in range(messages):
            outbox.enqueue("email_changed", f"user{n}@example.com",
                         context={"name": f"User {n}", "new_email": "n***@example.com"})
        db.session.commit()
        started = time.perf_counter()
        report = mail.deliver_due()
        elapsed = time.perf_counter() - started
        sent = db.session.scalar(select(func.count()).select_from(OutboxMessage)
                                 .where(OutboxMessage.status == "sent"))
        assert report.sent == sent == messages, (report, sent)
    return messages, elapsed


def run(database_url: str, args, label: str) -> None:
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",  # noqa: S603
                             "-c", "aiosmtpd.handlers.Sink"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        app = create_app(settings(database_url, port))
        with app.app_context():
            upgrade()
            assert db.session.scalar(select(func.count()).select_from(User)) == 0
        samples = reset_timing(app, args.rounds)
        known = statistics.median(samples["known"])
        print(f"\n{label}: POST /auth/password-reset, {args.rounds} interleaved rounds")
        print(f"  {'account':<10} {'median ms':>10} {'ratio to known':>15}")
        for name, values in samples.items():
            median = statistics.median(values)
            print(f"  {name:<10} {median * 1000:>10.3f} {median / known:>15.3f}")
        count, elapsed = throughput(app, args.messages, port)
        print(f"{label}: one deliverer, {count} messages to aiosmtpd (sink, own process): "
              f"{count / elapsed:.0f} messages/s ({elapsed:.2f} s)")
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        sink.terminate()
        sink.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=600)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run(f"sqlite:///{folder}/bench.db", args, "SQLite")
    if args.database_url:
        import psycopg

        base = make_url(args.database_url)
        name = f"ugbench_mail_{uuid.uuid4().hex[:8]}"
        admin = base.set(drivername="postgresql", database="postgres").render_as_string(False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            run(base.set(drivername="postgresql", database=name).render_as_string(False), args,
                "PostgreSQL")
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
