"""Keeper behaviour that needs no server: waiting, failing and never handing out
an expired token.  The token endpoint here is a closed port; the clock is moved
by hand, so nothing sleeps."""

from __future__ import annotations

import sqlite3

import pytest
from keeper_support import free_port

from usergate.keeper import (
    EndpointUnreachableError,
    Keeper,
    KeeperTimeoutError,
    TokenFailedError,
    TokenStore,
)

CLOSED = f"http://127.0.0.1:{free_port()}/api/v1/auth/token"


@pytest.fixture
def store(store_path, keeper_clock):
    store = TokenStore(str(store_path), clock=keeper_clock)
    store.add("api", token_url=CLOSED, username="svc@example.com", password=None,
              access_token="a-0", access_expires_at=keeper_clock.now + 100,
              refresh_token="r-0", refresh_expires_at=None)
    return store


def make_keeper(store, clock, **options):
    options = {"margin": 30, "lease_seconds": 10, "http_timeout": 2, **options}
    return Keeper(store, clock=clock, sleep=clock.advance, **options)


def raw(store_path):
    with sqlite3.connect(store_path) as conn:
        return conn.execute("SELECT access_token, refresh_token, access_expires_at, "
                            "lease_owner, state FROM keeper_tokens").fetchall()


def test_a_fresh_token_is_handed_out_without_a_request(store, keeper_clock):
    assert make_keeper(store, keeper_clock).get("api") == "a-0"


def test_unreachable_endpoint_never_yields_a_stale_token(store, store_path, keeper_clock):
    keeper = make_keeper(store, keeper_clock)
    keeper_clock.advance(80)  # 20 s left: inside the 30 s margin
    with pytest.raises(EndpointUnreachableError, match="cannot reach token endpoint"):
        keeper.get("api")
    # The tokens are kept, the lease is given back, the error is there to read.
    record = store.get("api")
    assert (record.access_token, record.refresh_token, record.state) == ("a-0", "r-0", "ok")
    assert record.lease_owner is None and "cannot reach" in record.error
    # A caller content with 10 s gets the stored token, still valid for 20 s.
    assert keeper.get("api", min_ttl=10) == "a-0"
    keeper_clock.advance(25)  # expired
    with pytest.raises(EndpointUnreachableError):
        keeper.get("api", min_ttl=1)
    assert raw(store_path) == [("a-0", "r-0", keeper_clock.now - 5, None, "ok")]


def test_waiting_for_another_holder_is_bounded(store, keeper_clock):
    keeper = make_keeper(store, keeper_clock)
    keeper_clock.advance(80)
    assert store.acquire_lease("api", "host:1:2:other", lease_seconds=10,
                               due_before=keeper_clock.now + 30)
    with pytest.raises(KeeperTimeoutError,
                       match=r"within 3s; a refresh by host:1:2:other is in flight"):
        keeper.get("api", timeout=3)


def test_a_consumer_that_does_not_refresh_waits_for_a_worker(store, keeper_clock):
    keeper = make_keeper(store, keeper_clock, refresh_on_demand=False)
    keeper_clock.advance(80)
    with pytest.raises(KeeperTimeoutError, match="is 'usergate-keeper run' running"):
        keeper.get("api", timeout=1)
    assert store.get("api").lease_owner is None


def test_a_failed_token_says_why(store, keeper_clock):
    assert store.acquire_lease("api", "w", lease_seconds=10, due_before=None)
    store.release("api", "w", error="the refresh token was refused", failed=True)
    with pytest.raises(TokenFailedError, match="has failed: the refresh token was refused"):
        make_keeper(store, keeper_clock).get("api")


def test_sign_in_to_an_unreachable_endpoint_stores_nothing(store, store_path, keeper_clock):
    keeper = make_keeper(store, keeper_clock)
    before = raw(store_path)
    with pytest.raises(EndpointUnreachableError):
        keeper.sign_in("new", token_url=CLOSED, username="u", password="p")
    with pytest.raises(EndpointUnreachableError):
        keeper.sign_in("api", token_url=CLOSED, username="u", password="p", replace=True)
    assert raw(store_path) == before
    assert [e.name for e in store.entries()] == ["api"]


def test_lease_must_outlast_the_requests(store):
    with pytest.raises(ValueError, match="must exceed two HTTP timeouts"):
        Keeper(store, lease_seconds=10, http_timeout=5)
