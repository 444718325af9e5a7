"""email_key is NFKC + casefold of the whole address (it was .lower())

Recomputes every user's uniqueness key with usergate.emails.email_key's rule
(copied here: a migration must not change when the code does). Existing rows
stay valid: when two existing accounts fold to one key (`STRASSE@x` and
`straße@x` registered before), the older keeps the key and signs in as
before; each newer one gets `duplicate:<its id>:<key>`, which no address can
ever normalise to, so its row, its addresses and its sessions are kept but it
cannot sign in by email until an administrator changes its email (PATCH
/users/{id}). Every such account is printed by the migration.

Revision ID: 6c8be2479278
Revises: mail0a1b2c3d
Create Date: 2026-12-02 20:15:00

"""
import unicodedata

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '6c8be2479278'
down_revision = 'mail0a1b2c3d'
branch_labels = None
depends_on = None

MAX_KEY = 320
USERS = sa.table("users", sa.column("id", sa.Integer), sa.column("public_id", sa.String),
                 sa.column("email", sa.String), sa.column("email_key", sa.String),
                 sa.column("registered_on", sa.DateTime))


def nfkc_casefold(email):
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email).casefold())


def _rekey(key_of):
    bind = op.get_bind()
    rows = bind.execute(sa.select(USERS.c.id, USERS.c.public_id, USERS.c.email,
                                  USERS.c.email_key)
                        .order_by(USERS.c.registered_on, USERS.c.id)).all()
    taken, wanted = set(), {}
    for user_id, public_id, email, old_key in rows:
        key = key_of(email)[:MAX_KEY]
        if key in taken:
            key = f"duplicate:{public_id}:{key}"[:MAX_KEY]
            print(f"usergate: user {public_id} shares its email key with an older "
                  "account; it cannot sign in by email until its email is changed")
        taken.add(key)
        if key != old_key:
            wanted[user_id] = key
    # Two steps, so that no intermediate state holds one key twice (a row may
    # take the key another row is about to give up).
    for user_id in wanted:
        bind.execute(USERS.update().where(USERS.c.id == user_id)
                     .values(email_key=f"migrating:{user_id}"))
    for user_id, key in wanted.items():
        bind.execute(USERS.update().where(USERS.c.id == user_id).values(email_key=key))


def upgrade():
    _rekey(nfkc_casefold)


def downgrade():
    _rekey(str.lower)
