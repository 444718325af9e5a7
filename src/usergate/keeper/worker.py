"""The refresh worker: keeps every stored token fresh, ``margin`` seconds ahead.

Any number of workers (and consumers) may run on one store at once; the
lease makes each expiry cost exactly one refresh.  A worker sleeps until the
next token falls due (or a short poll interval, to notice new tokens), and
stops cleanly when its stop event is set (``usergate-keeper run`` sets it on
SIGTERM and SIGINT): a refresh in flight is finished and stored first.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from .core import Keeper
from .errors import (
    EndpointUnreachableError,
    KeeperError,
    StoreError,
    TokenEndpointError,
    TokenFailedError,
)

__all__ = ["Worker"]

log = logging.getLogger(__name__)

MAX_BACKOFF = 60.0


class Worker:
    def __init__(self, keeper: Keeper, *, poll_interval: float = 5.0):
        self.keeper = keeper
        self.poll_interval = poll_interval
        self.stop_event = threading.Event()
        self._backoff: dict[str, tuple[float, float]] = {}  # name -> (retry at, delay)
        self._reported: dict[str, str] = {}  # name -> problem last logged

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        """Refresh until stopped."""
        log.info("worker started on %s (margin %gs, lease %gs)", self.keeper.store.display_url,
                 self.keeper.margin, self.keeper.lease_seconds)
        while not self.stop_event.is_set():
            try:
                wake_at = self.run_once()
            except KeeperError as exc:  # the store itself is unavailable
                log.error("%s", exc)
                wake_at = self.keeper.clock() + self.poll_interval
            delay = max(0.01, wake_at - self.keeper.clock())
            self.stop_event.wait(delay)
        log.info("worker stopped")

    def run_once(self) -> float:
        """One pass over the store; returns when the next pass is due."""
        keeper, clock = self.keeper, self.keeper.clock
        wake_at = clock() + self.poll_interval
        for entry in keeper.store.entries():
            if self.stop_event.is_set():
                break
            if entry.record is None:
                self._report(entry.name, str(entry.error))
                continue
            try:
                wake_at = min(wake_at, self._visit(entry.record))
            except KeeperError as exc:  # e.g. the row went corrupt under us
                self._report(entry.name, str(exc))
        return wake_at

    def _visit(self, record) -> float:
        """Refresh one token if it is due; returns when to look at it next."""
        keeper, clock = self.keeper, self.keeper.clock
        name = record.name
        wake_at = clock() + self.poll_interval
        if record.state == "failed":
            self._report(name, f"token {name!r} has failed: {record.error}")
            return wake_at
        now = clock()
        retry_at, _ = self._backoff.get(name, (0.0, 0.0))
        due_at = (record.access_expires_at - keeper.margin
                  if record.access_token and record.access_expires_at is not None else now)
        if now < max(due_at, retry_at):
            return min(wake_at, max(due_at, retry_at))
        try:
            refreshed = keeper.refresh(name, seen=record)
        except TokenFailedError as exc:
            self._report(name, str(exc))
            return wake_at
        except (EndpointUnreachableError, TokenEndpointError, StoreError) as exc:
            delay = min(MAX_BACKOFF, max(1.0, self._backoff.get(name, (0, 0.5))[1] * 2))
            self._backoff[name] = (clock() + delay, delay)
            log.warning("%s: refresh failed, retrying in %gs: %s", name, delay, exc)
            return min(wake_at, clock() + delay)
        self._backoff.pop(name, None)
        self._reported.pop(name, None)
        record = keeper.store.get(name)

        if refreshed:
            ttl = record.ttl(clock())
            until = datetime.fromtimestamp(record.access_expires_at, UTC)
            log.info("refreshed %s: refresh #%d, valid until %s (%.1fs)", name,
                     record.refresh_count, until.isoformat(timespec="milliseconds"), ttl)
            if ttl <= keeper.margin:
                # Due again at once: without this, a margin longer than the
                # token's lifetime would refresh in a tight loop.
                self._report(name, f"{name}: access tokens live {ttl:.0f}s, less than the "
                                   f"margin ({keeper.margin:g}s); lower --margin. Refreshing "
                                   f"at half their life meanwhile")
                self._backoff[name] = (clock() + max(ttl / 2, 1.0), 0.5)
                return min(wake_at, clock() + max(ttl / 2, 1.0))
            return min(wake_at, record.access_expires_at - keeper.margin)
        # Someone else holds the lease (or just refreshed): look again soon,
        # or when that holder's lease runs out if it has died.
        if record.lease_live(clock()):
            return min(wake_at, record.lease_expires_at + 0.01, clock() + 0.25)
        if record.access_expires_at is not None:
            return min(wake_at, max(clock() + 0.01, record.access_expires_at - keeper.margin))
        return wake_at

    def _report(self, name: str, problem: str) -> None:
        # Once per change, not on every pass.
        if self._reported.get(name) != problem:
            self._reported[name] = problem
            log.error("%s", problem)
