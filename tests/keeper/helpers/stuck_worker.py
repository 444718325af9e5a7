"""A worker that takes the lease and then hangs, for the test to SIGKILL.

    python stuck_worker.py STORE NAME MARGIN LEASE MARKER before_request|after_response

It runs the real Worker; the Keeper's hook (a test seam, not a mock) writes
MARKER as JSON once the lease is held -- before the request is sent, or
after the server has answered (the rotated refresh token is then in this
process's memory only) -- and sleeps until killed.
"""

import json
import sys
import time

from usergate.keeper import Keeper, TokenStore, Worker


def main() -> None:
    store_url, name = sys.argv[1:3]
    margin, lease, marker, stage = float(sys.argv[3]), float(sys.argv[4]), *sys.argv[5:7]
    store = TokenStore(store_url)

    def hang(record, *_response) -> None:
        held = store.get(name)
        with open(marker, "w") as out:
            json.dump({"at": time.time(), "lease_expires_at": held.lease_expires_at,
                       "lease_owner": held.lease_owner}, out)
        time.sleep(3600)

    keeper = Keeper(store, margin=margin, lease_seconds=lease, http_timeout=2.0,
                    hooks={stage: hang})
    Worker(keeper, poll_interval=0.5).run()


if __name__ == "__main__":
    main()
