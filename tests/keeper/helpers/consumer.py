"""A consumer process: threads that get tokens from the keeper and use them.

    python consumer.py STORE NAME BASE_URL THREADS SECONDS MARGIN LEASE OUT [--no-refresh]

Every thread loops for SECONDS: ``Keeper.get_access(NAME)``, then
``GET BASE_URL/api/v1/auth/user`` with the token.  The process writes one
JSON summary to OUT: calls, statuses, the smallest remaining lifetime of a
token when it was handed out, and every error.
"""

import json
import sys
import threading
import time
from collections import Counter

import httpx

from usergate.keeper import Keeper, KeeperError, TokenStore


def main() -> None:
    store_url, name, base_url = sys.argv[1:4]
    threads, seconds = int(sys.argv[4]), float(sys.argv[5])
    margin, lease, out_path = float(sys.argv[6]), float(sys.argv[7]), sys.argv[8]
    refresh = "--no-refresh" not in sys.argv
    keeper = Keeper(TokenStore(store_url), margin=margin, lease_seconds=lease,
                    http_timeout=min(5.0, (lease - 1) / 2), refresh_on_demand=refresh,
                    wait_timeout=lease + 10)
    lock = threading.Lock()
    statuses: Counter = Counter()
    errors: list[str] = []
    handed_ttls: list[float] = []
    tokens: set[str] = set()
    deadline = time.time() + seconds

    def consume() -> None:
        with httpx.Client(base_url=base_url, timeout=10) as http:
            while time.time() < deadline:
                try:
                    token = keeper.get_access(name)
                except KeeperError as exc:
                    with lock:
                        errors.append(f"{time.time():.3f} {type(exc).__name__}: {exc}")
                    time.sleep(0.2)
                    continue
                ttl = token.expires_at - time.time()
                response = http.get("/api/v1/auth/user",
                                    headers={"Authorization": f"Bearer {token.access_token}"})
                with lock:
                    handed_ttls.append(ttl)
                    tokens.add(token.access_token)
                    statuses[response.status_code] += 1
                    if response.status_code != 200:
                        errors.append(f"{time.time():.3f} HTTP {response.status_code} "
                                      f"ttl={ttl:.2f} {response.text[:200]}")
                time.sleep(0.05)

    workers = [threading.Thread(target=consume) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    with open(out_path, "w") as out:
        json.dump({"statuses": {str(k): v for k, v in statuses.items()}, "errors": errors,
                   "calls": sum(statuses.values()), "tokens": len(tokens),
                   "min_ttl": min(handed_ttls, default=None)}, out)


if __name__ == "__main__":
    main()
