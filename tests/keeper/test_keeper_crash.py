"""A worker SIGKILLed between the token endpoint's rotation and the store write.

The first worker is the real ``usergate-keeper run`` in a child process
(helpers/crash_after_rotation.py) whose store write of a refresh kills it:
the server has rotated the refresh token, the store still holds the spent
one, and the row is left ``refreshing`` under a dead lease.  A second,
ordinary worker takes over once that lease runs out and presents the spent
token again:

- with ``REFRESH_REUSE_GRACE`` on the server the answer is the session's
  current refresh token: it is stored and the session lives on;
- with it off, reuse detection revokes the session: the keeper signs in again
  with the stored password, or marks the row failed without one.

Consumers (helpers/consumer.py, ``--no-refresh``: only workers refresh) run
through the crash and the takeover and call ``GET /auth/user`` with every
token they are handed.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time

import pytest
from keeper_support import (
    ACCESS_LIFETIME,
    HELPERS,
    PASSWORD,
    UsergateServer,
    child_env,
    keeper_cmd,
)

from usergate.keeper import Keeper, TokenStore
from usergate.keeper.client import TokenClient

pytestmark = pytest.mark.slow

MARGIN = 2.0
LEASE = 5.0
HTTP_TIMEOUT = 2.0
# The crashing worker refreshes as soon as it starts instead of waiting for the margin.
CRASH_MARGIN = ACCESS_LIFETIME - 0.5
# Must exceed the lease plus an HTTP timeout, plus the successor's reaction time.
GRACE = 60
NAME = "svc"


@pytest.fixture(scope="module")
def grace_server(tmp_path_factory):
    """A usergate whose just-spent refresh token answers the current one for GRACE s."""
    server = UsergateServer(tmp_path_factory.mktemp("usergate-grace"),
                            REFRESH_REUSE_GRACE=GRACE)
    server.start()
    yield server
    server.stop()


def read_row(location):
    store = TokenStore(location)
    try:
        return store.get(NAME)
    finally:
        store.close()


def sign_in(server, location, *, store_password):
    store = TokenStore(location)
    try:
        keeper = Keeper(store, margin=MARGIN, lease_seconds=LEASE, http_timeout=HTTP_TIMEOUT)
        token = keeper.sign_in(NAME, token_url=server.token_url, username=server.email,
                               password=PASSWORD, store_password=store_password)
    finally:
        store.close()
    return server.session_of(token.access_token)


def crash_a_refresh(server, location, session_id):
    """Run the crashing worker until its store write kills it; the row it leaves."""
    stored = read_row(location)
    done = subprocess.run(
        [sys.executable, str(HELPERS / "crash_after_rotation.py"), "--store", location, "run",
         "--margin", str(CRASH_MARGIN), "--lease", str(LEASE), "--http-timeout",
         str(HTTP_TIMEOUT), "--poll", "0.2"],
        env=child_env(), capture_output=True, text=True, timeout=30)
    assert done.returncode == -signal.SIGKILL, done.stderr
    left = read_row(location)
    # Killed holding the lease, with the refresh token the server has just spent.
    assert left.state == "refreshing" and left.lease_owner is not None, done.stderr
    assert left.lease_expires_at > time.time()
    assert left.refresh_token == stored.refresh_token
    assert left.access_token == stored.access_token
    session = server.session_row(session_id)
    assert session["refresh_count"] == 1 and session["revoked_at"] is None
    assert session["previous_refresh_jti"] == jti(stored.refresh_token)
    return left, done.stderr


def jti(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]


def start_worker(location, log_path):
    log = open(log_path, "w")
    proc = subprocess.Popen(
        keeper_cmd("--store", location, "run", "--margin", str(MARGIN), "--lease", str(LEASE),
                   "--http-timeout", str(HTTP_TIMEOUT), "--poll", "1"),
        env=child_env(), stdout=log, stderr=subprocess.STDOUT)
    return proc, log


def end(proc, timeout=HTTP_TIMEOUT * 2 + 5):
    """SIGTERM (a worker finishes its refresh in flight), SIGKILL after ``timeout`` s;
    the exit status.  Called in ``finally``: a failed test leaves no worker behind
    to refresh the next test's row (on PostgreSQL they share one table)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def start_consumers(server, location, out, seconds):
    args = [sys.executable, str(HELPERS / "consumer.py"), location, NAME, server.base_url,
            "3", f"{seconds:.1f}", str(MARGIN), str(LEASE), str(out), "--no-refresh"]
    return subprocess.Popen(args, env=child_env())


def finish_consumers(proc, out, seconds):
    """Every call was 200 and no consumer was handed a token about to expire."""
    assert proc.wait(timeout=seconds + 60) == 0
    summary = json.loads(out.read_text())
    assert summary["errors"] == []
    assert summary["calls"] > 0 and summary["statuses"] == {"200": summary["calls"]}
    assert summary["min_ttl"] >= MARGIN - 0.5
    return summary


def ride_out_the_crash(server, location, left, tmp_path):
    """Consumers and a successor worker from the crash until 2.5 s past the takeover;
    then, the worker still running, one shell consumer (``usergate-keeper token``).

    Returns the consumers' summary, the worker's log and the token the command printed.
    """
    log_path = tmp_path / "successor.log"
    seconds = left.lease_expires_at - time.time() + LEASE / 2
    out = tmp_path / "consumers.json"
    consumers = start_consumers(server, location, out, seconds)
    successor, log = start_worker(location, log_path)
    try:
        summary = finish_consumers(consumers, out, seconds)
        done = token_command(location)
    finally:
        end(consumers, timeout=1)
        status = end(successor)
        log.close()
    assert status == 0  # a clean shutdown
    assert done.returncode == 0, done.stderr
    return summary, log_path.read_text(), done.stdout.strip()


def token_command(location):
    """``usergate-keeper token NAME`` with the test's timing; only workers refresh."""
    return subprocess.run(
        keeper_cmd("--store", location, "token", NAME, "--margin", str(MARGIN), "--lease",
                   str(LEASE), "--http-timeout", str(HTTP_TIMEOUT), "--no-refresh"),
        env=child_env(), capture_output=True, text=True, timeout=30)


def assert_no_secrets(text, *records):
    for record in records:
        for secret in (record.access_token, record.refresh_token, PASSWORD):
            assert secret is None or secret not in text


def test_takeover_within_the_grace_keeps_the_session(grace_server, store_location, tmp_path):
    server, location = grace_server, store_location
    session_id = sign_in(server, location, store_password=False)
    left, crash_log = crash_a_refresh(server, location, session_id)

    summary, log, printed = ride_out_the_crash(server, location, left, tmp_path)

    assert f"{NAME}: taking over a refresh left in flight by {left.lease_owner}" in log
    assert "refresh token refused" not in log and "signing in again" not in log
    assert f"refreshed {NAME}: refresh #1," in log
    record = read_row(location)
    assert (record.state, record.error, record.lease_owner) == ("ok", None, None)
    assert_no_secrets(log + crash_log, left, record)
    # The same session, alive, and the store holds its current refresh token ...
    session = server.session_row(session_id)
    assert session["revoked_at"] is None
    assert server.session_of(record.access_token) == session_id
    assert record.refresh_token != left.refresh_token
    assert jti(record.refresh_token) == session["refresh_jti"]
    # ... the takeover's grace answer rotated nothing; every later refresh did
    # (the crashed worker's rotation is the one the keeper never counted).
    assert session["refresh_count"] == record.refresh_count
    # The shell consumer got a token of that session, and the stored refresh token works.
    assert server.session_of(printed) == session_id
    with TokenClient(server.token_url, timeout=HTTP_TIMEOUT) as client:
        rotated = client.refresh(record.refresh_token)
    after = server.session_row(session_id)
    assert after["revoked_at"] is None
    assert after["refresh_count"] == session["refresh_count"] + 1
    assert after["refresh_jti"] == jti(rotated.refresh_token)
    print(f"\ngrace {GRACE}s: the successor took over the killed worker's refresh; same "
          f"session, consumers {summary['calls']} calls, all 200")


@pytest.mark.parametrize("store_password", [True, False], ids=["password", "no-password"])
def test_takeover_without_the_grace(usergate_server, store_location, tmp_path,
                                    store_password):
    """No grace on the server (the default): the spent token ends the session."""
    server, location = usergate_server, store_location
    session_id = sign_in(server, location, store_password=store_password)
    left, crash_log = crash_a_refresh(server, location, session_id)

    if store_password:
        summary, log, printed = ride_out_the_crash(server, location, left, tmp_path)
    else:
        log_path = tmp_path / "successor.log"
        successor, log = start_worker(location, log_path)
        try:
            deadline = left.lease_expires_at + LEASE + 2 * HTTP_TIMEOUT + 5
            while read_row(location).state != "failed":
                assert time.time() < deadline, log_path.read_text()
                time.sleep(0.1)
        finally:
            status = end(successor)
            log.close()
        assert status == 0
        log = log_path.read_text()

    assert f"{NAME}: taking over a refresh left in flight by {left.lease_owner}" in log
    # Presenting the spent token revoked the session (reuse detection).
    assert server.session_row(session_id)["revoked_at"] is not None
    record = read_row(location)
    assert_no_secrets(log + crash_log, left, record)
    if store_password:
        # Signed in again: a new session, consumers never noticed.
        assert "refresh token refused (invalid_grant); signing in again" in log
        assert (record.state, record.error) == ("ok", None)
        new_session = server.session_of(record.access_token)
        assert new_session != session_id
        assert server.session_row(new_session)["revoked_at"] is None
        assert server.session_of(printed) == new_session
        print(f"\nno grace: signed in again (a new session); consumers {summary['calls']} "
              f"calls, all 200")
    else:
        # Nothing to sign in with: the row fails, readably, for every consumer.
        assert record.state == "failed"
        assert "the refresh token was refused (invalid_grant" in record.error
        assert f"usergate-keeper add --replace {NAME}" in record.error
        assert record.access_token == left.access_token  # nothing stored was thrown away
        done = token_command(location)
        assert done.returncode == 1 and done.stdout == ""
        assert f"token '{NAME}' has failed: the refresh token was refused" in done.stderr
