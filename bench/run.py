#!/usr/bin/env python
"""The price of the framework and of authentication: usergate against bare Flask,
no auth on usergate's own stack, and flask-jwt-extended.

    python bench/run.py [--quick] [--database-url postgresql://USER@HOST:PORT/DB]

One run measures, interleaved (A B C, B C A, C A B, ...) so that the drift of a
shared machine hits every scenario alike, and reports medians and paired ratios of:

1. GET /api/v1/auth/user through usergate, against the same user read and JSON
   body in a bare Flask app of its own (Flask + Flask-SQLAlchemy, bench/bare.py),
   the same with no authentication on usergate's own app (its hooks, Flask-RESTX
   and limiter; bench/reference.py), and the same endpoint built with
   flask-jwt-extended; in-process with the Flask test client, and over HTTP
   against gunicorn (load from `wrk` when installed, else a bounded Python client);
2. protected requests/s with 0, 100 000 and 1 000 000 blacklist rows;
3. login time for an unknown email against a wrong password (bcrypt cost 12);
4. all of it again on PostgreSQL when --database-url (or DATABASE_URL) names one:
   the bench works in its own schemas there (ugbench_*), dropped at the end.

SQLite runs always, in a temporary directory. `--quick` takes about 3-4 minutes
(SQLite and PostgreSQL), the full run about 12. Results: a table on stdout, the
markdown section between the bench markers of docs/benchmarks.md, and a chart
docs/benchmarks.png (see --markdown, --chart, --no-write).

The modules, one per question: targets.py (the scenarios and the databases they
run on), measure.py (interleaving, in-process batches, paired ratios, login
timing), load.py (gunicorn and the HTTP load generators), report.py (table,
markdown, chart); bare.py and reference.py are the apps compared.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import bare  # noqa: E402
import reference  # noqa: E402
import report  # noqa: E402
from load import Gunicorn, make_load  # noqa: E402
from measure import Series, inprocess, inprocess_series, interleave, login_times  # noqa: E402
from targets import (  # noqa: E402, F401 - SCENARIOS, PATHS, ... for profile_hot_path.py
    COLD,
    PATHS,
    SCENARIOS,
    Target,
    log,
    postgres_target,
    prepare,
    sanity_check,
    sqlite_target,
)


@dataclass(frozen=True)
class Plan:
    rounds: int  # interleaved in-process rounds (GET /auth/user comparison)
    batch: int  # requests per in-process batch
    scale_rounds: int  # interleaved rounds of the blacklist scaling
    http_rounds: int
    http_seconds: int  # seconds of load per HTTP batch
    login_pairs: int  # unknown-email / wrong-password pairs
    sizes: tuple[int, ...] = (0, 100_000, 1_000_000)


QUICK = Plan(rounds=15, batch=100, scale_rounds=11, http_rounds=8, http_seconds=1,
             login_pairs=10)
FULL = Plan(rounds=41, batch=250, scale_rounds=25, http_rounds=24, http_seconds=2,
            login_pairs=30)


def bench_database(target: Target, plan: Plan, args, workdir: Path) -> report.DbResult:
    secret = secrets.token_urlsafe(48)
    result = report.DbResult(target.label, target.version)
    log(f"{target.label}: preparing {len(target.urls)} databases "
        f"({', '.join(f'{n:,}' for n in target.urls)} blacklist rows)")
    prepared = {}
    for rows, url in target.urls.items():
        started = time.perf_counter()
        prepared[rows] = prepare(url, secret, rows)
        log(f"  {rows:>9,} rows ready in {time.perf_counter() - started:.1f} s")
    main = prepared[min(prepared)]
    result.statements = sanity_check(main)
    for p in prepared.values():
        if p is not main:
            sanity_check(p)
    log(f"  sanity checks passed; SQL statements per protected request: {result.statements}")

    scenarios = main.scenarios()
    main.mint_cold_tokens()
    log(f"{target.label}: in-process, {plan.rounds} rounds x {plan.batch} requests")
    result.inproc = inprocess_series(
        {s: inprocess(main.app_for(s), PATHS[s], main.headers(s), plan.batch)
         for s in [*scenarios, COLD]}, plan.rounds)

    if not args.no_scale and len(prepared) > 1:
        log(f"{target.label}: blacklist scaling, {plan.scale_rounds} rounds")
        result.scale = inprocess_series(
            {str(rows): inprocess(p.app, PATHS["usergate"], p.headers("usergate"), plan.batch)
             for rows, p in prepared.items()}, plan.scale_rounds)

    if not args.no_http:
        load = make_load(args, workdir)
        log(f"{target.label}: HTTP (gunicorn, {args.workers} workers per app; load: "
            f"{load.name}), {plan.http_rounds} rounds x {plan.http_seconds} s")
        with Gunicorn(main, secret, workdir, args.workers) as server, \
                Gunicorn(main, secret, workdir, args.workers, factory="bare:create_from_env()",
                         probe=bare.PATH) as bare_server:
            def base(s):
                return (bare_server if s == "bare" else server).base

            result.http = Series(interleave(
                {s: load.runner(base(s) + PATHS[s], main.headers(s), plan.http_seconds)
                 for s in scenarios}, plan.http_rounds))

    if not args.no_login:
        log(f"{target.label}: login, {plan.login_pairs} interleaved pairs (bcrypt cost 12)")
        result.login = login_times(main.app, plan.login_pairs)

    for p in prepared.values():
        p.dispose()
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="~3-4 minutes instead of ~12")
    parser.add_argument("--database-url",
                        help="a PostgreSQL database to run on too (default: $DATABASE_URL "
                             "when that is a postgresql:// URL)")
    parser.add_argument("--load", choices=("auto", "wrk", "python"), default="auto",
                        help="HTTP load generator (auto: wrk when installed)")
    parser.add_argument("--connections", type=int, default=4,
                        help="concurrent HTTP connections (or Python client threads)")
    parser.add_argument("--workers", type=int, default=report.usable_cpus(),
                        help="gunicorn workers per app (default: one per usable CPU)")
    parser.add_argument("--rounds", type=int, help="in-process rounds (default: the plan's)")
    parser.add_argument("--http-rounds", type=int, help="HTTP rounds (default: the plan's)")
    parser.add_argument("--no-http", action="store_true", help="skip the gunicorn runs")
    parser.add_argument("--no-login", action="store_true", help="skip the login timing")
    parser.add_argument("--no-scale", action="store_true",
                        help="skip the blacklist scaling (and its 100k/1M-row databases)")
    parser.add_argument("--markdown", default=str(ROOT / "docs" / "benchmarks.md"),
                        help="file whose bench section is replaced with the results")
    parser.add_argument("--chart", default=str(ROOT / "docs" / "benchmarks.png"),
                        help="where to draw the PNG chart")
    parser.add_argument("--json", help="also write the raw samples here")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; write neither markdown nor chart")
    args = parser.parse_args(argv)
    if args.database_url is None:
        env_url = os.environ.get("DATABASE_URL", "")
        args.database_url = env_url if env_url.startswith(("postgresql", "postgres://")) else None
    plan = QUICK if args.quick else FULL
    if args.rounds:
        plan = dataclasses.replace(plan, rounds=args.rounds)
    if args.http_rounds:
        plan = dataclasses.replace(plan, http_rounds=args.http_rounds)
    if args.no_scale:
        plan = dataclasses.replace(plan, sizes=(0,))

    if reference.jwtx is None:
        log("flask-jwt-extended is not installed (pip install -e '.[bench]'): "
            "that scenario is left out")
    info = report.machine()
    info["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="usergate-bench-"))
    info["load_generator"] = make_load(args, workdir).name if not args.no_http else "-"
    log(f"{report.cpus_phrase(info)} ({info['cpu']}), load {info['load']}; work dir {workdir}")
    targets_ = [sqlite_target(workdir, plan.sizes)]
    if args.database_url:
        if not args.database_url.startswith(("postgresql", "postgres://")):
            parser.error("--database-url must be a postgresql:// URL")
        targets_.append(postgres_target(args.database_url, plan.sizes))
    results = []
    try:
        for target in targets_:
            try:
                results.append(bench_database(target, plan, args, workdir))
            finally:
                target.cleanup()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    info["seconds"] = time.perf_counter() - started
    info["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

    report.print_table(results)
    command = "python bench/run.py" + " ".join(
        [""] + [flag for flag, on in (("--quick", args.quick), ("--no-scale", args.no_scale),
                                      ("--no-login", args.no_login),
                                      ("--no-http", args.no_http)) if on]
        + ([f"--rounds {args.rounds}"] if args.rounds else [])
        + ([f"--http-rounds {args.http_rounds}"] if args.http_rounds else [])
        + (["--database-url postgresql://…"] if args.database_url else []))
    if args.json:
        report.write_json(Path(args.json), results, info)
    if not args.no_write:
        chart, rel = Path(args.chart), None
        md = Path(args.markdown)
        try:
            report.draw_chart(results, chart)
            rel = os.path.relpath(chart, md.parent)
        except ImportError:
            log("matplotlib is not installed (pip install -e '.[bench]'): no chart")
        report.write_markdown(md, report.markdown(results, info, plan, args, command, rel))
        log(f"wrote {md}" + (f" and {chart}" if rel else ""))
    log(f"done in {info['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
