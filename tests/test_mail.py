"""The mail outbox (docs/api.md §6.1) against a real SMTP server: outages, 4xx, 5xx, leases,
two deliverer processes on one database, the CLI, the file and console backends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select, text

from helpers.accounts import PASSWORD
from helpers.databases import postgres_configured, scratch_postgres_database
from helpers.settings import app_settings
from helpers.smtp import SmtpServer, deliver, link_of, parts
from usergate import create_app
from usergate.extensions import db as _db
from usergate.models import OutboxMessage
from usergate.services import mail, outbox

REPO = Path(__file__).resolve().parents[1]
REGISTER = "/api/v1/auth/register"


def _register(client, email):
    started = time.perf_counter()
    response = client.post(REGISTER, json={"email": email, "password": PASSWORD})
    assert response.status_code == 201
    return time.perf_counter() - started


def _rows(app):
    with app.app_context():
        rows = _db.session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()
        return list(rows)


def test_smtp_down_then_451_then_back_loses_nothing(make_app, clock):
    server = SmtpServer()  # not started: the port is closed
    app = make_app(**server.settings(), MAIL_RETRY_BASE=30)
    client = app.test_client()
    # The request answers at once: it only writes the outbox.
    assert _register(client, "down@example.com") < 2

    report = deliver(app)
    assert (report.sent, report.retried) == (0, 1)
    (row,) = _rows(app)
    assert row.status == "pending" and row.attempts == 1
    assert "Connection" in row.last_error or "refused" in row.last_error.lower()
    assert deliver(app).handled == 0  # backoff: not due again yet

    server.start()
    try:
        server.mode = "451"
        clock.advance(31)
        report = deliver(app)
        assert (report.sent, report.retried) == (0, 1)
        (row,) = _rows(app)
        assert row.attempts == 2 and row.last_error.startswith("451")
        clock.advance(31)
        assert deliver(app).handled == 0  # the second delay is 60 s
        server.mode = "accept"
        clock.advance(30)
        assert deliver(app).sent == 1
        (row,) = _rows(app)
        assert row.status == "sent" and row.sent_at and row.context is None
        (message,) = server.to("down@example.com")
        link_of(message)
        assert server.attempts == 2  # one refused, one accepted: sent once
        clock.advance(10_000)
        assert deliver(app).handled == 0
    finally:
        server.stop()


def test_a_5xx_is_permanent_kept_with_the_error_and_listed(make_app, clock):
    server = SmtpServer().start()
    try:
        server.mode = "550"
        app = make_app(**server.settings())
        _register(app.test_client(), "gone@example.com")
        report = deliver(app)
        assert (report.failed, report.retried) == (1, 0)
        (row,) = _rows(app)
        assert row.status == "failed" and row.last_error.startswith("550")
        clock.advance(100_000)
        assert deliver(app).handled == 0
        assert server.attempts == 1  # not retried forever: once

        runner = app.test_cli_runner()
        listed = runner.invoke(args=["mail", "list", "--failed"])
        assert listed.exit_code == 0, listed.output
        assert f"{row.id}\tfailed\t1\temail_verification\tgone@example.com" in listed.output
        assert "550 5.1.1 No such mailbox here" in listed.output
        # An operator who fixed the cause queues it again.
        server.mode = "accept"
        assert "queued 1" in runner.invoke(args=["mail", "retry", str(row.id)]).output
        assert "sent 1" in runner.invoke(args=["mail", "deliver", "--once"]).output
        assert len(server.to("gone@example.com")) == 1
        assert "no failed messages" in runner.invoke(args=["mail", "list", "--failed"]).output
    finally:
        server.stop()


def test_temporary_failures_end_as_failed_after_max_attempts(make_app, clock):
    app = make_app(**SmtpServer().settings(), MAIL_MAX_ATTEMPTS=3, MAIL_RETRY_BASE=1,
                   MAIL_RETRY_MAX=1)
    _register(app.test_client(), "never@example.com")
    for _ in range(3):
        deliver(app)
        clock.advance(2)
    (row,) = _rows(app)
    assert (row.status, row.attempts) == ("failed", 3)


def test_a_crashed_deliverers_claim_comes_back_after_the_lease(make_app, clock):
    server = SmtpServer().start()
    try:
        app = make_app(**server.settings(), MAIL_LEASE=120)
        _register(app.test_client(), "lease@example.com")
        with app.app_context():
            _, claimed = mail.claim()  # ... and the deliverer dies here
            assert len(claimed) == 1
        assert deliver(app).handled == 0  # held by the dead claim
        clock.advance(121)
        assert deliver(app).sent == 1
        assert len(server.to("lease@example.com")) == 1
    finally:
        server.stop()


def test_the_file_backend_writes_one_eml_per_message(make_app, tmp_path):
    folder = tmp_path / "mail"
    app = make_app(MAIL_BACKEND="file", MAIL_FILE_PATH=str(folder))
    client = app.test_client()
    _register(client, "file1@example.com")
    _register(client, "file2@example.com")
    assert deliver(app).sent == 2
    files = sorted(folder.glob("*.eml"))
    assert len(files) == 2
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"
    messages = [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    assert {m["To"] for m in messages} == {"file1@example.com", "file2@example.com"}
    for message in messages:
        text_part, html_part = parts(message)
        link_of(message)


def test_the_console_backend_prints_the_message(make_app, capsys):
    app = make_app(MAIL_BACKEND="console")
    _register(app.test_client(), "console@example.com")
    assert deliver(app).sent == 1
    assert "To: console@example.com" in capsys.readouterr().out


def test_existing_users_are_unverified_after_the_migration(tmp_path):
    app = create_app(app_settings(f"sqlite:///{tmp_path / 'old.db'}"))
    with app.app_context():
        upgrade(revision="c856024e21f3")  # the schema before this feature
        _db.session.execute(text(
            "INSERT INTO users (public_id, email, email_key, password_hash, admin, disabled, "
            "registered_on) VALUES ('00000000-0000-4000-8000-000000000001', 'o@example.com', "
            "'o@example.com', 'x', 0, 0, '2026-01-01 00:00:00')"))
        _db.session.commit()
        upgrade()
        assert _db.session.execute(text("SELECT email_verified FROM users")).scalar() in (
            False, 0)
        _db.engine.dispose()


# --- two deliverer processes on one database ----------------------------------------

MESSAGES = 500


def _fill_outbox(app, count: int) -> None:
    with app.app_context():
        for n in range(count):
            outbox.enqueue("email_changed", f"bulk{n}@example.com",
                         context={"name": f"User {n}", "new_email": "n***@example.com"})
        _db.session.commit()


def _deliverer(database_url: str, server: SmtpServer, mode: str = "--once") -> subprocess.Popen:
    """`flask mail deliver --once` (or, with mode "--poll", until stopped) in a process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "DATABASE_"))}
    env.update({
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]),
        "USERGATE_CONFIG": "testing",
        "SECRET_KEY": app_settings("")["SECRET_KEY"],
        "DATABASE_URL": database_url,
        **{k: str(v) for k, v in server.settings().items()},
    })
    env["MAIL_POLL_INTERVAL"] = "1"
    once = ["--once"] if mode == "--once" else []
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "run.py", "mail",
                             "deliver", *once], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _two_deliverers_send_each_message_once(database_url: str) -> None:
    server = SmtpServer().start()
    # A little time per message, so that both processes are still busy when the
    # second has started (each would manage the lot alone).
    server.delay = 0.003
    app = create_app(app_settings(database_url))
    try:
        with app.app_context():
            upgrade()
        _fill_outbox(app, MESSAGES)
        workers = [_deliverer(database_url, server) for _ in range(2)]
        outputs = [w.communicate(timeout=300) for w in workers]
        for worker, (_out, err) in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, err
        sent = [int(out.split()[1].rstrip(",")) for out, _ in outputs]
        ids = [m["Message-ID"] for _, m in server.messages]
        assert len(ids) == MESSAGES, (len(ids), sent)
        assert len(set(ids)) == MESSAGES  # each delivered exactly once
        assert sum(sent) == MESSAGES and all(sent), sent  # and both did deliver
        assert sorted(r[0] for r, _ in server.messages) == sorted(
            f"bulk{n}@example.com" for n in range(MESSAGES))
        with app.app_context():
            assert _db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status == "sent")) == MESSAGES
        print(f"\ntwo deliverers on {database_url.split(':')[0]}: {sent} of {MESSAGES}")
    finally:
        server.stop()
        with app.app_context():
            _db.session.remove()
            _db.engine.dispose()


def test_two_deliverer_processes_on_one_sqlite_file(tmp_path):
    _two_deliverers_send_each_message_once(f"sqlite:///{tmp_path / 'shared.db'}")


@pytest.mark.postgres
@pytest.mark.skipif(not postgres_configured(),
                    reason="TEST_DATABASE_URL is not a postgresql:// URL")
def test_two_deliverer_processes_on_one_postgresql_database():
    with scratch_postgres_database("mail") as url:
        _two_deliverers_send_each_message_once(url)



def test_the_deliverer_prunes_old_sent_messages_and_dead_link_tokens(make_app, clock):
    from usergate.models import LinkToken

    server = SmtpServer().start()
    try:
        app = make_app(**server.settings())
        _register(app.test_client(), "prune@example.com")
        assert deliver(app).sent == 1
        with app.app_context():
            assert _db.session.scalar(select(func.count()).select_from(LinkToken)) == 1
        clock.advance(7 * 24 * 3600 + 1)  # past MAIL_KEEP_SENT and the token's 24 h
        deliver(app)
        with app.app_context():
            assert _db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
            assert _db.session.scalar(select(func.count()).select_from(LinkToken)) == 0
    finally:
        server.stop()


def test_the_background_deliverer_of_run_py_delivers_while_the_app_serves(make_app, tmp_path):
    folder = tmp_path / "background"
    app = make_app(MAIL_BACKEND="file", MAIL_FILE_PATH=str(folder), MAIL_POLL_INTERVAL=1)
    stop = mail.start_background_deliverer(app)
    try:
        _register(app.test_client(), "background@example.com")
        deadline = time.monotonic() + 20
        while not list(folder.glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(list(folder.glob("*.eml"))) == 1
    finally:
        stop.set()


def test_usergate_mail_delivery_off_starts_no_deliverer(make_app, monkeypatch):
    monkeypatch.setenv("USERGATE_MAIL_DELIVERY", "off")
    assert mail.start_background_deliverer(make_app()) is None


def test_mail_deliver_runs_until_sigterm_and_delivers_meanwhile(tmp_path):
    import signal

    server = SmtpServer().start()
    url = f"sqlite:///{tmp_path / 'forever.db'}"
    app = create_app(app_settings(url))
    try:
        with app.app_context():
            upgrade()
        worker = _deliverer(url, server, "--poll")
        _fill_outbox(app, 3)
        deadline = time.monotonic() + 30
        while len(server.messages) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(server.messages) == 3
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
    finally:
        server.stop()
        with app.app_context():
            _db.engine.dispose()
