"""Races threads for a store's lease; run as a script by test_keeper_store.py.

    python lease_hammer.py STORE_URL NAME OUT_FILE THREADS SECONDS LIFETIME MARGIN LEASE [crash]

Each thread loops: take the lease when the token is due, read the row under
the lease, "refresh" (a short sleep standing in for the HTTP request), then
store a new token.  Every refresh is written to OUT_FILE as a JSON line
naming the token it replaced, so the test can see whether any token was
replaced twice.  With ``crash`` the process exits abruptly (os._exit) right
after its first lease, leaving the lease held by a dead owner.
"""

import json
import os
import sys
import threading
import time
import uuid

from usergate.keeper import LeaseLostError
from usergate.keeper.store import TokenStore


def main() -> None:
    url, name, out_path = sys.argv[1:4]
    threads, seconds, lifetime, margin, lease = (
        int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7]),
        float(sys.argv[8]))
    crash = len(sys.argv) > 9 and sys.argv[9] == "crash"
    store = TokenStore(url)
    out = open(out_path, "a", buffering=1)
    lock = threading.Lock()
    deadline = time.time() + seconds

    def hammer() -> None:
        while time.time() < deadline:
            owner = f"{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex}"
            now = time.time()
            if not store.acquire_lease(name, owner, lease_seconds=lease,
                                       due_before=now + margin):
                time.sleep(0.002)
                continue
            # The store read its own clock inside acquire_lease, after ``now``: take
            # the time again so "at" is never earlier than the moment of the claim.
            acquired = time.time()
            record = store.get(name)
            if crash:
                with lock:
                    out.write(json.dumps({"event": "crash", "owner": owner,
                                          "at": time.time(),
                                          "lease_expires_at": record.lease_expires_at}) + "\n")
                os._exit(9)
            time.sleep(0.01)  # the token endpoint
            new = uuid.uuid4().hex
            try:
                store.complete(name, owner, access_token=new,
                               access_expires_at=time.time() + lifetime,
                               refresh_token="r-" + new, refresh_expires_at=None,
                               refreshed=True)
            except LeaseLostError:
                # Two holders at once: the lease failed.  The test fails on this.
                with lock:
                    out.write(json.dumps({"event": "lost", "owner": owner,
                                          "held_for": time.time() - now}) + "\n")
                continue
            with lock:
                out.write(json.dumps({"event": "refresh", "replaced": record.access_token,
                                      "new": new, "at": acquired, "pid": os.getpid(),
                                      "old_expires_at": record.access_expires_at}) + "\n")

    failures = []

    def guarded() -> None:
        try:
            hammer()
        except BaseException as exc:
            failures.append(exc)
            raise

    workers = [threading.Thread(target=guarded) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
