"""The statement that creates a session checks, itself, that the credentials still hold.

A login reads the user, checks the password (bcrypt: slow on purpose), then
inserts the session. A password change, a disabling or a deletion may commit in
between. So the INSERT is an INSERT ... SELECT from the user's row, on the
conditions the login was decided on: the row still exists, still has the
password hash that was checked, and is not disabled. Zero rows inserted means
the login lost a race and is refused (401), never a live session minted with the
old password and never a foreign-key error.

PostgreSQL: the SELECT takes FOR SHARE on the user's row. A password change
locks that row first (`users.lock_user`) and only then revokes sessions, so
either the login waits for the change and then re-reads the row (new hash: no
row, no session), or the change waits for the login's commit and then revokes
its session with the others. SQLite: every write takes the database's write
lock, so the INSERT ... SELECT runs wholly before or wholly after the change.
"""

from __future__ import annotations

from sqlalchemy import insert, literal, select

from ..extensions import db
from ..models import Session, User


def insert_session_if_credentials_hold(values: dict, *, user_id: int,
                                       password_hash: str) -> bool:
    """INSERT the session row `values` if the user still is as the login saw them."""
    columns = list(values)
    row = select(*[literal(values[name], type_=Session.__table__.c[name].type).label(name)
                   for name in columns]).where(
        User.id == user_id, User.password_hash == password_hash, User.disabled.is_(False))
    if db.session.get_bind().dialect.name == "postgresql":
        row = row.with_for_update(read=True, of=User)
    # RETURNING, not rowcount: psycopg 3 reports -1 for an INSERT ... SELECT here.
    table = Session.__table__
    inserted = db.session.execute(
        insert(table).from_select(columns, row).returning(table.c.id)).first()
    return inserted is not None
