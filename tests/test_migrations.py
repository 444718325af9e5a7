"""The migrations build the schema the models describe, on SQLite and PostgreSQL.

Each test starts from an empty database of its own (a SQLite file; on PostgreSQL,
when TEST_DATABASE_URL names one, a scratch database created and dropped here),
so whatever revisions exist in migrations/versions are applied from the start.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from scratch_db import app_settings, postgres_configured, scratch_postgres_database
from usergate import create_app
from usergate.extensions import db

DATABASES = ["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.skipif(
    not postgres_configured(), reason="TEST_DATABASE_URL is not a postgresql:// URL")])]


@pytest.fixture(params=DATABASES)
def fresh_app(request, tmp_path):
    """An app on an empty database that nothing has created tables in."""
    if request.param == "sqlite":
        app = create_app(app_settings(f"sqlite:///{tmp_path / 'migrations.db'}"))
        yield app
        with app.app_context():
            db.engine.dispose()
        return
    with scratch_postgres_database("migrations") as url:
        app = create_app(app_settings(url))
        try:
            yield app
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


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
