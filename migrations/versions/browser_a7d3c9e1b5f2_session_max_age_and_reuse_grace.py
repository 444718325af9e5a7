"""sessions: absolute lifetime (SESSION_MAX_AGE) and what the refresh reuse grace needs

Existing sessions end at created_at + SESSION_MAX_AGE (the setting of the app that
runs the upgrade; 90 days by default), or sooner where their sliding expiry is sooner.

Revision ID: a7d3c9e1b5f2
Revises: 6c8be2479278
Create Date: 2026-12-02 19:50:00.000000

"""
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a7d3c9e1b5f2'
down_revision = '6c8be2479278'
branch_labels = None
depends_on = None

DEFAULT_MAX_AGE = 90 * 24 * 3600


def _max_age() -> int:
    try:
        from flask import current_app

        return int(current_app.config.get("SESSION_MAX_AGE") or DEFAULT_MAX_AGE)
    except RuntimeError:  # outside an application context
        return DEFAULT_MAX_AGE


def upgrade():
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('absolute_expires_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('previous_refresh_jti', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('rotated_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('refresh_iat', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('refresh_exp', sa.BigInteger(), nullable=True))

    bind = op.get_bind()
    max_age = _max_age()
    if bind.dialect.name == 'postgresql':
        bind.execute(sa.text(
            "UPDATE sessions SET absolute_expires_at = created_at + make_interval(secs => :age)"
        ), {"age": max_age})
        bind.execute(sa.text(
            "UPDATE sessions SET expires_at = LEAST(expires_at, absolute_expires_at)"))
    else:
        sessions = sa.table('sessions', sa.column('id', sa.String), sa.column('created_at', sa.DateTime),
                            sa.column('expires_at', sa.DateTime),
                            sa.column('absolute_expires_at', sa.DateTime))
        rows = bind.execute(sa.select(sessions.c.id, sessions.c.created_at,
                                      sessions.c.expires_at)).all()
        for session_id, created_at, expires_at in rows:
            absolute = created_at + timedelta(seconds=max_age)
            bind.execute(sessions.update().where(sessions.c.id == session_id).values(
                absolute_expires_at=absolute, expires_at=min(expires_at, absolute)))

    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.alter_column('absolute_expires_at', existing_type=sa.DateTime(), nullable=False)


def downgrade():
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('refresh_exp')
        batch_op.drop_column('refresh_iat')
        batch_op.drop_column('rotated_at')
        batch_op.drop_column('previous_refresh_jti')
        batch_op.drop_column('absolute_expires_at')
