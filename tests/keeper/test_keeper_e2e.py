"""The keeper against the real usergate server (access tokens live 6 s).

Refreshes are counted on the server side (``sessions.refresh_count``), and
the stores hold no password unless a test says so: a second refresh with a
spent refresh token would revoke the session, and with nothing to sign in
again with, every later call would fail.  So "all 200 and the session never
revoked" means no two refreshers ever raced.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest
from keeper_support import ACCESS_LIFETIME, HELPERS, PASSWORD, child_env, keeper_cmd

from usergate.keeper import Keeper, TokenStore

pytestmark = pytest.mark.slow

MARGIN = 2.0
LEASE = 5.0
HTTP_TIMEOUT = 2.0


def sign_in(server, store_path, name="svc", *, store_password=False):
    email = server.email
    keeper = Keeper(TokenStore(str(store_path)), margin=MARGIN, lease_seconds=LEASE,
                    http_timeout=HTTP_TIMEOUT)
    token = keeper.sign_in(name, token_url=server.token_url, username=email,
                           password=PASSWORD, store_password=store_password)
    return email, server.session_of(token.access_token)


def start_consumers(server, store_path, *, processes, threads, seconds, no_refresh=False,
                    name="svc"):
    procs = []
    for i in range(processes):
        out = store_path.parent / f"consumer-{name}-{i}.json"
        args = [sys.executable, str(HELPERS / "consumer.py"), str(store_path), name,
                server.base_url, str(threads), str(seconds), str(MARGIN), str(LEASE), str(out)]
        procs.append((subprocess.Popen(args + (["--no-refresh"] if no_refresh else []),
                                       env=child_env()), out))
    return procs


def finish_consumers(procs, seconds):
    summaries = []
    for proc, out in procs:
        assert proc.wait(timeout=seconds + 60) == 0
        summaries.append(json.loads(out.read_text()))
    return summaries


def check_consumers(summaries):
    """Every call was 200 and no consumer was handed a token about to expire."""
    for summary in summaries:
        assert summary["errors"] == []
        assert summary["statuses"] == {"200": summary["calls"]}
        assert summary["calls"] > 0
        # Measured just after the handout, so a little under the margin at worst.
        assert summary["min_ttl"] >= MARGIN - 0.5
    return sum(s["calls"] for s in summaries)


_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_worker_outlives_its_test():
    """A test that fails before it stops its workers must not leave them refreshing the
    store (on PostgreSQL, the table the next tests use)."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def start_worker(store_path, log_path, *extra):
    log = open(log_path, "w")
    proc = subprocess.Popen(
        keeper_cmd("--store", str(store_path), "run", "--margin", str(MARGIN), "--lease",
                   str(LEASE), "--http-timeout", str(HTTP_TIMEOUT), "--poll", "1", *extra),
        env=child_env(), stdout=log, stderr=subprocess.STDOUT)
    _STARTED.append(proc)
    return proc, log


def refreshes_logged(log_path, name="svc"):
    """(when logged, new token valid until) of each refresh a worker logged (epoch s)."""
    refreshes = []
    for line in log_path.read_text().splitlines():
        match = re.match(r"(\S+ \S+),(\d+) INFO \S+: refreshed (\S+): refresh #\d+, "
                         r"valid until (\S+) ", line)
        if match and match.group(3) == name:
            stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
            until = datetime.fromisoformat(match.group(4)).timestamp()
            refreshes.append((stamp + int(match.group(2)) / 1000, until))
    return refreshes


def refresh_times(log_path, name="svc"):
    return [logged for logged, _ in refreshes_logged(log_path, name)]


def stop_worker(proc, log, signum=signal.SIGTERM):
    proc.send_signal(signum)
    assert proc.wait(timeout=HTTP_TIMEOUT * 2 + 5) == 0  # clean shutdown
    log.close()


def test_consumers_in_two_processes_share_one_session(usergate_server, store_path):
    """8 threads in 2 processes, no worker: each expiry is refreshed once, by one of them."""
    server = usergate_server
    _, session_id = sign_in(server, store_path)
    seconds = 20.0
    started = time.time()
    summaries = finish_consumers(
        start_consumers(server, store_path, processes=2, threads=4, seconds=seconds), seconds)
    elapsed = time.time() - started
    calls = check_consumers(summaries)

    session = server.session_row(session_id)
    record = TokenStore(str(store_path)).get("svc")
    assert session["revoked_at"] is None
    assert server.session_of(record.access_token) == session_id  # never signed in again
    assert (record.state, record.error) == ("ok", None)
    refreshes = session["refresh_count"]
    assert refreshes == record.refresh_count
    # A token is due MARGIN s before it expires, so one refresh every
    # (lifetime - margin) s; the server's whole-second iat takes up to 1 s off.
    expected = seconds / (ACCESS_LIFETIME - MARGIN)
    assert expected - 1 <= refreshes <= elapsed / (ACCESS_LIFETIME - MARGIN - 1) + 1
    print(f"\nconsumers: {calls} calls in {elapsed:.1f}s, all 200; server-side refreshes "
          f"{refreshes} (duration / (lifetime - margin) = {expected:.1f}); "
          f"distinct tokens {[s['tokens'] for s in summaries]}")


def test_two_workers_refresh_each_expiry_once(usergate_server, store_path):
    server = usergate_server
    _, session_id = sign_in(server, store_path)
    logs = [store_path.parent / f"worker-{i}.log" for i in range(2)]
    workers = [start_worker(store_path, log) for log in logs]
    seconds = 12.0
    started = time.time()
    summaries = finish_consumers(start_consumers(
        server, store_path, processes=1, threads=2, seconds=seconds, no_refresh=True), seconds)
    elapsed = time.time() - started
    for (proc, log), signum in zip(workers, (signal.SIGTERM, signal.SIGINT), strict=True):
        stop_worker(proc, log, signum)
    calls = check_consumers(summaries)
    for log in logs:
        assert "worker stopped" in log.read_text()

    per_worker = [refreshes_logged(log) for log in logs]
    refreshes = sorted(r for worker_refreshes in per_worker for r in worker_refreshes)
    times = [logged for logged, _ in refreshes]
    session = server.session_row(session_id)
    record = TokenStore(str(store_path)).get("svc")
    assert session["revoked_at"] is None
    assert server.session_of(record.access_token) == session_id
    assert session["refresh_count"] == record.refresh_count == len(times)
    expected = seconds / (ACCESS_LIFETIME - MARGIN)
    assert expected - 1 <= len(times) <= elapsed / (ACCESS_LIFETIME - MARGIN - 1) + 1
    # One refresh per expiry: none before the token it replaced was due.
    for (_, previous_until), (logged, _) in zip(refreshes, refreshes[1:], strict=False):
        assert logged >= previous_until - MARGIN
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    print(f"\ntwo workers: {len(times)} refreshes in {elapsed:.1f}s "
          f"({[len(t) for t in per_worker]} per worker), server-side {session['refresh_count']},"
          f" gaps {[round(g, 2) for g in gaps]}; consumers {calls} calls, all 200")


def wait_for(path, seconds):
    deadline = time.time() + seconds
    while not path.exists() or not path.read_text():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    return json.loads(path.read_text())


def start_stuck_worker(store_path, stage):
    marker = store_path.parent / f"stuck-{store_path.stem}-{stage}.json"
    proc = subprocess.Popen(
        [sys.executable, str(HELPERS / "stuck_worker.py"), str(store_path), "svc", str(MARGIN),
         str(LEASE), str(marker), stage], env=child_env())
    _STARTED.append(proc)
    return proc, marker


def test_killed_worker_is_replaced_after_its_lease_expires(usergate_server, store_path):
    """SIGKILL a worker holding the lease; the next one takes over once it expires."""
    server = usergate_server
    _, session_id = sign_in(server, store_path)
    stuck, marker = start_stuck_worker(store_path, "before_request")
    seconds = 13.0
    consumers = start_consumers(server, store_path, processes=1, threads=4, seconds=seconds,
                                no_refresh=True)
    held = wait_for(marker, ACCESS_LIFETIME + 5)
    os.kill(stuck.pid, signal.SIGKILL)
    stuck.wait(timeout=5)
    record = TokenStore(str(store_path)).get("svc")
    assert (record.state, record.lease_owner) == ("refreshing", held["lease_owner"])

    log_path = store_path.parent / "successor.log"
    successor = start_worker(store_path, log_path)
    summaries = finish_consumers(consumers, seconds)
    stop_worker(*successor)
    calls = check_consumers(summaries)
    assert summaries[0]["tokens"] >= 2  # they got the successor's token, after waiting

    times = refresh_times(log_path)
    assert times, log_path.read_text()
    assert times[0] >= held["lease_expires_at"] - 0.01  # not before the dead lease ran out
    session = server.session_row(session_id)
    record = TokenStore(str(store_path)).get("svc")
    assert session["revoked_at"] is None
    assert session["refresh_count"] == record.refresh_count == len(times)
    lease_end, takeover = held["lease_expires_at"] - held["at"], times[0] - held["at"]
    print(f"\ncrash: the killed worker's lease ran out at +{lease_end:.1f}s, the successor "
          f"refreshed at +{takeover:.1f}s and {len(times)} times in all; consumers {calls} "
          f"calls, all 200")


def test_rotated_token_lost_in_a_crash(usergate_server, tmp_path):
    """The server rotated, the holder died before storing: sign in again, or fail readably."""
    server = usergate_server
    stores = {kind: tmp_path / f"{kind}.db" for kind in ("with-password", "without")}
    emails, sessions, stuck = {}, {}, {}
    for kind, path in stores.items():
        emails[kind], sessions[kind] = sign_in(server, path,
                                               store_password=kind == "with-password")
        stuck[kind] = start_stuck_worker(path, "after_response")
    lease_ends = []
    for proc, marker in stuck.values():
        lease_ends.append(wait_for(marker, ACCESS_LIFETIME + 5)["lease_expires_at"])
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    # The server spent the old refresh token; the stores still hold it.
    for kind in stores:
        assert server.session_row(sessions[kind])["refresh_count"] == 1
    time.sleep(max(0.0, max(lease_ends) - time.time()) + 0.1)
    for path in stores.values():
        done = subprocess.run(keeper_cmd("--store", str(path), "run", "--once", "--margin",
                                         str(MARGIN), "--lease", str(LEASE), "--http-timeout",
                                         str(HTTP_TIMEOUT)),
                              env=child_env(), capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
    # Presenting the spent token revoked the session (reuse detection) ...
    for kind in stores:
        assert server.session_row(sessions[kind])["revoked_at"] is not None

    # ... so the keeper signed in again with the stored password,
    record = TokenStore(str(stores["with-password"])).get("svc")
    assert record.state == "ok"
    new_session = server.session_of(record.access_token)
    assert new_session != sessions["with-password"]
    # or, without one, marked the token failed with a reason every consumer reads.
    record = TokenStore(str(stores["without"])).get("svc")
    assert record.state == "failed"
    assert "refresh token was refused (invalid_grant" in record.error
    assert "usergate-keeper add --replace svc" in record.error
    done = subprocess.run(keeper_cmd("--store", str(stores["without"]), "token", "svc"),
                          env=child_env(), capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and done.stdout == ""
    assert "token 'svc' has failed: the refresh token was refused" in done.stderr
    assert record.access_token is not None  # nothing stored was thrown away
