"""The migrations build the schema the models describe, on SQLite and PostgreSQL.

Each test starts from an empty database of its own (a SQLite file; on PostgreSQL,
when TEST_DATABASE_URL names one, a scratch database: conftest's fresh_app),
so whatever revisions exist in migrations/versions are applied from the start.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from usergate.extensions import db


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())


def _schema_diff() -> list:
    """What `flask db migrate` would generate now: empty when models and migrations agree."""
    configure_args = current_app.extensions["migrate"].configure_args
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True,
            "render_as_batch": configure_args.get("render_as_batch", False),
        })
        return compare_metadata(context, db.metadata)


def _tables() -> set[str]:
    return set(inspect(db.engine).get_table_names())


def test_there_is_exactly_one_head(fresh_app):
    with fresh_app.app_context():
        heads = _script().get_heads()
    assert len(heads) == 1, (
        f"migrations/versions has {len(heads)} heads {heads}: point the newer revision's "
        "down_revision at the other so there is a single line of history")


def test_upgrade_to_head_builds_every_table_and_matches_the_models(fresh_app):
    with fresh_app.app_context():
        assert _tables() == set()
        upgrade()
        head = _script().get_current_head()
        with db.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_heads() == (head,)
        assert _tables() == set(db.metadata.tables) | {"alembic_version"}
        diff = _schema_diff()
    assert diff == [], (
        "the models and the migrations disagree; generate a revision with "
        f"`flask --app run.py db migrate -m ...`:\n{diff}")


def test_downgrade_to_base_and_upgrade_again(fresh_app):
    with fresh_app.app_context():
        upgrade()
        downgrade(revision="base")
        assert _tables() <= {"alembic_version"}
        upgrade()
        assert _tables() == set(db.metadata.tables) | {"alembic_version"}
        assert _schema_diff() == []


def test_upgrading_a_populated_database_keeps_every_row(fresh_app):
    """Rows stored before a migration are there after it. On SQLite a batch migration
    rebuilds a table (copy, drop, rename): with foreign keys on, dropping `users`
    would cascade and delete every session and address of every user."""
    from sqlalchemy import text

    with fresh_app.app_context():
        upgrade(revision="c856024e21f3")  # users, sessions, blacklist, addresses
        db.session.execute(text(
            "INSERT INTO users (id, public_id, email, email_key, password_hash, admin, disabled,"
            " registered_on) VALUES (1, '00000000-0000-4000-8000-000000000001', 'a@example.com',"
            " 'a@example.com', 'x', false, false, '2026-01-01 00:00:00')"))
        db.session.execute(text(
            "INSERT INTO sessions (id, user_id, refresh_jti, created_at, last_used_at, expires_at,"
            " refresh_count) VALUES ('00000000-0000-4000-8000-0000000000a1', 1, 'j',"
            " '2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-02-01 00:00:00', 0)"))
        db.session.execute(text(
            "INSERT INTO addresses (id, public_id, user_id, line1, city, postal_code, country,"
            " is_primary, created_at, updated_at) VALUES (1,"
            " '00000000-0000-4000-8000-0000000000b1', 1, 'l', 'c', 'p', 'DE', true,"
            " '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
        db.session.commit()

        upgrade()

        counts = {table: db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                  for table in ("users", "sessions", "addresses")}
    assert counts == {"users": 1, "sessions": 1, "addresses": 1}
