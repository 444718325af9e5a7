#!/usr/bin/env python
"""What ``usergate-keeper token NAME`` costs a consumer when the stored token is good.

    python bench/keeper_token.py [-n 20] [--database-url postgresql://USER@HOST:PORT/DB]
                                 [--baseline REV | --no-baseline]

Stores one token valid for a day (its token URL is a closed port, so nothing
can refresh) and runs ``python -m usergate.keeper --store STORE token NAME``
N times per variant, interleaved (A B C, B C A, C A B, ...) so that the drift
of a shared machine hits every variant alike.  Reports the median wall time
and the median CPU time (user + system of the child, from
``resource.getrusage(RUSAGE_CHILDREN)``) of each variant, on SQLite and, with
--database-url (or DATABASE_URL), on PostgreSQL:

- ``read path``: the command as users run it (sqlite3 only on SQLite);
- ``full path``: the same command with ``-v``, which always goes through
  ``Keeper`` and the SQLAlchemy ``TokenStore`` (same output);
- ``before``: the command as it was at git revision REV (default: the last
  commit before the read path), extracted with ``git archive``; skipped when
  this is not a git checkout or the revision is unknown.

The target (issue 21): the read path on SQLite at most 100 ms of wall time.
The PostgreSQL store is the database's ``keeper_tokens`` table; the bench
adds one row named ``bench-...`` and deletes it at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))
sys.path.insert(0, str(ROOT / "tests"))  # helpers.net.free_port: a closed port nobody refreshes at

from helpers.net import free_port  # noqa: E402
from usergate.keeper.store import TokenStore, keeper_tokens  # noqa: E402

# The last commit before the read path (issue 21): its 'token' always loaded
# SQLAlchemy and httpx.
BEFORE_READ_PATH = "1b4b30c"
TARGET_MS = 100.0


def add_token(location: str, name: str) -> str:
    token = f"bench.{uuid.uuid4().hex}.token"
    store = TokenStore(location)
    store.add(name, token_url=f"http://127.0.0.1:{free_port()}/api/v1/auth/token",
              username="bench@example.com", password=None, access_token=token,
              access_expires_at=time.time() + 86400, refresh_token="r",
              refresh_expires_at=None)
    store.close()
    return token


def remove_token(location: str, name: str) -> None:
    store = TokenStore(location)
    with store.engine.begin() as conn:
        conn.execute(keeper_tokens.delete().where(keeper_tokens.c.name == name))
    store.close()


def extract_baseline(rev: str, into: Path) -> Path | None:
    """The src/ directory of ``rev``, or None when git cannot give it."""
    if shutil.which("git") is None:
        return None
    archive = into / "baseline.tar"
    done = subprocess.run(  # noqa: S603 - git from PATH, our own arguments
        ["git", "-C", str(ROOT), "archive", "-o", str(archive), rev, "src"],  # noqa: S607
        capture_output=True, text=True)
    if done.returncode != 0:
        print(f"no baseline: git archive {rev}: {done.stderr.strip()}", file=sys.stderr)
        return None
    with tarfile.open(archive) as tar:
        tar.extractall(into / "baseline", filter="data")
    return into / "baseline" / "src"


class Variant:
    def __init__(self, label: str, src: Path, extra: tuple[str, ...] = ()):
        self.label, self.src, self.extra = label, src, extra
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def run(self, location: str, name: str, expected: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(self.src))
        for key in [key for key in env if key.startswith("USERGATE_KEEPER_")]:
            del env[key]
        cmd = [sys.executable, "-m", "usergate.keeper", *self.extra, "--store", location,
               "token", name]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)  # noqa: S603
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0 or done.stdout != expected + "\n":
            raise SystemExit(f"{self.label}: exit {done.returncode}: {done.stderr.strip()}")
        self.wall.append(wall * 1000)
        self.cpu.append((after.ru_utime - before.ru_utime
                         + after.ru_stime - before.ru_stime) * 1000)


def measure(backend: str, location: str, variants: list[Variant], runs: int) -> list[tuple]:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    token = add_token(location, name)
    try:
        for variant in variants:  # warm the page cache and .pyc files first
            variant.run(location, name, token)
            variant.wall.clear()
            variant.cpu.clear()
        for i in range(runs):
            for k in range(len(variants)):
                variants[(i + k) % len(variants)].run(location, name, token)
    finally:
        remove_token(location, name)
    first = variants[-1] if variants[-1].label == "before" else None
    rows = []
    for variant in variants:
        wall, cpu = statistics.median(variant.wall), statistics.median(variant.cpu)
        ratio = (f"{wall / statistics.median(first.wall):.2f}x" if first and variant is not first
                 else "")
        rows.append((backend, variant.label, wall, cpu, ratio))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="a PostgreSQL database for the PostgreSQL store")
    parser.add_argument("--baseline", default=BEFORE_READ_PATH, metavar="REV")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="keeper-bench-") as tmp:
        tmpdir = Path(tmp)
        baseline = None if args.no_baseline else extract_baseline(args.baseline, tmpdir)

        def variants() -> list[Variant]:
            found = [Variant("read path", SRC), Variant("full path", SRC, ("-v",))]
            if baseline is not None:
                found.append(Variant("before", baseline))
            return found

        rows = measure("SQLite", str(tmpdir / "keeper.db"), variants(), args.runs)
        if args.database_url and args.database_url.startswith(("postgresql", "postgres")):
            rows += measure("PostgreSQL", args.database_url, variants(), args.runs)

    print(f"usergate-keeper token NAME, a token valid for a day; median of {args.runs} runs"
          f" ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    header = ("store", "path", "wall ms", "CPU ms", "wall vs before")
    table = [header] + [(b, label, f"{wall:.0f}", f"{cpu:.0f}", ratio)
                        for b, label, wall, cpu, ratio in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    read = next(wall for b, label, wall, _, _ in rows if (b, label) == ("SQLite", "read path"))
    verdict = "met" if read <= TARGET_MS else "MISSED"
    print(f"target: read path on SQLite <= {TARGET_MS:.0f} ms wall: {read:.0f} ms, {verdict}")
    return 0 if read <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
