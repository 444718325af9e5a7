#!/usr/bin/env python
"""Profile one scenario of the benchmark in-process (pyinstrument, else cProfile).

    python bench/profile_hot_path.py [usergate|bare|ceiling|jwtx] [-n 2000] [--cprofile]
    python bench/profile_hot_path.py usergate --database-url postgresql://...

Builds the same apps and database as bench/run.py (empty blacklist), sends N
requests through the Flask test client and prints where the time went.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import targets as run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", nargs="?", default="usergate", choices=run.SCENARIOS)
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--database-url")
    parser.add_argument("--cprofile", action="store_true", help="cProfile instead of pyinstrument")
    args = parser.parse_args()

    with run.one_database(args.database_url) as (_target, p):
        client = p.app_for(args.scenario).test_client()
        path, headers = run.PATHS[args.scenario], p.headers(args.scenario)
        for _ in range(200):  # warm-up
            client.get(path, headers=headers)

        def loop():
            for _ in range(args.n):
                assert client.get(path, headers=headers).status_code == 200

        start = time.perf_counter()
        loop()
        print(f"{args.scenario}: {args.n / (time.perf_counter() - start):,.0f} requests/s "
              "(unprofiled)")
        try:
            if args.cprofile:
                raise ImportError
            from pyinstrument import Profiler
        except ImportError:
            profiler = cProfile.Profile()
            profiler.runcall(loop)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
        else:
            profiler = Profiler(interval=0.0002)
            profiler.start()
            loop()
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
