"""audit_events: the audit log of security events (docs/audit.md)

One index per filter of GET /audit-events (user, type, and the time alone for
since/until and `flask audit purge`), each ending in the sort (at, id).

Revision ID: audit0a1b2c3
Revises: mfa0a1b2c3d4
Create Date: 2026-12-02 20:47:09.713354

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'audit0a1b2c3'
down_revision = 'mfa0a1b2c3d4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=True),
    sa.Column('actor_id', sa.String(length=36), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=512), nullable=True),
    sa.Column('request_id', sa.String(length=128), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('public_id', name=op.f('uq_audit_events_public_id'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_at', ['at', 'id'], unique=False)
        batch_op.create_index('ix_audit_events_type_at', ['type', 'at', 'id'], unique=False)
        batch_op.create_index('ix_audit_events_user_at', ['user_id', 'at', 'id'], unique=False)



def downgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_user_at')
        batch_op.drop_index('ix_audit_events_type_at')
        batch_op.drop_index('ix_audit_events_at')

    op.drop_table('audit_events')
