#!/usr/bin/env python
"""What brute-force protection and the password policy cost (issue 15).

    python bench/lockout_policy.py [--rounds 20] [--database-url postgresql://...]
                                   [--redis-url redis://127.0.0.1:6379/0]

1. Login with and without the failure count (services/lockout.py), side by
   side: two apps on one database, one of them with the count switched off (a
   counter that does nothing, set in that app only), measured interleaved
   (A B, B A, ...) at bcrypt cost 12, in-process with the Flask test client. A
   right password (reserve + clear + a new session) and a wrong one (reserve
   only). The ratio is time with / time without; the target is under 1.05.
   The counter's own statements are also timed alone, without bcrypt.
2. The offline list of common passwords: the memory of the frozenset (tracemalloc),
   the time to build it once, and one lookup (a hit and a miss) against a scan
   of the same words in a list.

SQLite always (a file in a temporary directory); PostgreSQL with --database-url
(tables in a schema of its own, dropped at the end); Redis with --redis-url
(keys under a prefix of its own, deleted at the end).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
import timeit
import tracemalloc
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from usergate import create_app  # noqa: E402
from usergate.extensions import db  # noqa: E402
from usergate.services import lockout, password_policy  # noqa: E402, I001
from usergate.services.accounts import create_user  # noqa: E402

PASSWORD = "bench password 0123"
EMAIL = "bench.user@example.com"


class NoCounter:
    """The count switched off: what login cost before it."""

    def reserve(self, key, now, policy):
        return None

    def retry_after(self, key, now):
        return None

    def clear(self, key):
        pass


def settings(url: str, **extra) -> dict:
    return {
        "USERGATE_CONFIG": "production",
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "DATABASE_URL": url,
        "BCRYPT_LOG_ROUNDS": 12,
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        # The wrong-password runs fail one account hundreds of times: count, never lock.
        "LOGIN_MAX_FAILURES": 1_000_000,
        **extra,
    }


def build(url: str, *, counter: str, redis_url: str | None = None):
    extra = {}
    if counter == "redis":
        extra = {"RATELIMIT_STORAGE_URI": redis_url,
                 "RATELIMIT_KEY_PREFIX": f"ugbench-{uuid.uuid4().hex}"}
    app = create_app(settings(url, **extra))
    if counter == "off":
        app.extensions["usergate.lockout"] = NoCounter()
    return app


def prepare(app) -> None:
    with app.app_context():
        db.drop_all()
        db.create_all()
        create_user(email=EMAIL, password=PASSWORD, name="Bench User")
        db.session.commit()


def one_login(client, password: str, expect: int) -> tuple[float, float]:
    """Wall and CPU seconds of one login (bcrypt runs in this process)."""
    cpu = time.process_time()
    start = time.perf_counter()
    response = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": password})
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    if response.status_code != expect:
        raise SystemExit(f"login answered {response.status_code}, not {expect}")
    return elapsed, cpu


def interleaved(apps: dict, password: str, expect: int, rounds: int) -> dict[str, list[float]]:
    clients = {name: app.test_client() for name, app in apps.items()}
    names = list(apps)
    times: dict[str, list[float]] = {key: [] for name in names for key in (name, name + "_cpu")}
    for i in range(rounds + 1):  # round 0 warms up
        for name in (names if i % 2 == 0 else names[::-1]):
            elapsed, cpu = one_login(clients[name], password, expect)
            if i:
                times[name].append(elapsed)
                times[name + "_cpu"].append(cpu)
    return times


def paired_ratio(times: dict[str, list[float]], a: str, b: str) -> float:
    return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))


def counter_alone(app, n: int = 300) -> tuple[float, float]:
    """Milliseconds of what the count adds to a right-password login, without bcrypt:
    `check` (the reservation and its commit) and `clear` (one DELETE, or a Redis DEL;
    in a login it is committed with the new session, so its COMMIT is not counted)."""
    check = clear = 0.0
    with app.test_request_context():
        for i in range(n):
            email = f"alone{i % 7}@example.com"
            start = time.perf_counter()
            lockout.check(email)
            middle = time.perf_counter()
            lockout.clear(email)
            db.session.flush()
            end = time.perf_counter()
            db.session.commit()
            check += middle - start
            clear += end - middle
    return check / n * 1000, clear / n * 1000


def bench_login(label: str, url: str, rounds: int, redis_url: str | None) -> list[str]:
    counters = ["on", "off"] + (["redis"] if redis_url else [])
    apps = {name: build(url, counter=name, redis_url=redis_url) for name in counters}
    prepare(apps["on"])
    lines = []
    for kind, password, expect in (("right password", PASSWORD, 200),
                                   ("wrong password", PASSWORD + " wrong", 401)):
        times = interleaved(apps, password, expect, rounds)
        base = statistics.median(times["off"]) * 1000
        for name in counters:
            if name == "off":
                continue
            store = "database" if name == "on" else "Redis"
            lines.append(
                f"| {label} | {kind} | {store} | {base:.1f} ms | "
                f"{statistics.median(times[name]) * 1000:.1f} ms | "
                f"{paired_ratio(times, name, 'off'):.3f} | "
                f"{paired_ratio(times, name + '_cpu', 'off_cpu'):.3f} |")
    for name in counters:
        if name != "off":
            store = "database" if name == "on" else "Redis"
            check, clear = counter_alone(apps[name])
            lines.append(f"| {label} | the count alone: check {check:.2f} ms + clear "
                         f"{clear:.2f} ms | {store} | | {check + clear:.2f} ms | | |")
    for app in apps.values():
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return lines


def bench_list() -> list[str]:
    password_policy.common_passwords.cache_clear()
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    words = password_policy.common_passwords()
    built = time.perf_counter() - start
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    scan = sorted(words)
    hit, miss = "trustno1", "violet staple mountain tram"
    per = {}
    for name, stmt in (("set hit", lambda: hit in words), ("set miss", lambda: miss in words),
                       ("list scan, miss", lambda: miss in scan)):
        n = 2000 if "scan" in name else 1_000_000
        per[name] = min(timeit.repeat(stmt, number=n, repeat=3)) / n * 1e6
    return [
        f"| words | {len(words)} |",
        f"| memory of the frozenset (tracemalloc) | {memory / 1e6:.2f} MB |",
        f"| built once (read the zxcvbn data file, split, casefold) | {built * 1000:.0f} ms |",
        f"| lookup, a hit | {per['set hit'] * 1000:.0f} ns |",
        f"| lookup, a miss | {per['set miss'] * 1000:.0f} ns |",
        f"| the same miss by scanning a list | {per['list scan, miss']:.0f} µs |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()

    print("## The offline list of common passwords\n")
    print("| what | value |\n| --- | --- |")
    print("\n".join(bench_list()))

    print(f"\n## Login with / without the failure count (bcrypt cost 12, {args.rounds} "
          "interleaved rounds, medians; ratios: median of paired with/without, wall time "
          "and CPU time of this process)\n")
    print("| database | login | count in | without | with | ratio | CPU ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite:///{Path(workdir) / 'bench.db'}"
        print("\n".join(bench_login("SQLite", url, args.rounds, args.redis_url)), flush=True)
    if args.database_url:
        schema = f"ugbench_policy_{uuid.uuid4().hex[:8]}"
        import psycopg

        plain = args.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            sep = "&" if "?" in plain else "?"
            url = f"{plain}{sep}options=-csearch_path%3D{schema}"
            print("\n".join(bench_login("PostgreSQL", url, args.rounds, args.redis_url)))
        finally:
            with psycopg.connect(plain, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    if args.redis_url:
        import redis

        client = redis.Redis.from_url(args.redis_url)
        keys = list(client.scan_iter(match="ugbench-*"))
        if keys:
            client.delete(*keys)


if __name__ == "__main__":
    main()
