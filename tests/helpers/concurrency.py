"""Requests at the same time, from threads of the test process."""

from __future__ import annotations

import threading


def in_threads(target, count: int) -> None:
    """Run target(0) ... target(count - 1), each in a thread of its own, all at once."""
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
