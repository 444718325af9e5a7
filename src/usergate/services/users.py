"""User management rules: who may see, change and delete whom.

- A non-admin sees only themself: another user's id is NotFound, as if it did
  not exist.
- `admin` and `disabled` are changed by administrators only.
- An email change needs a fresh token (for admins too: changing someone's email
  is how an account is taken over, so a stolen non-fresh token must not do it).
- No change may leave the service without an enabled administrator: the last
  one can neither be demoted, disabled nor deleted (Conflict).
- Disabling a user revokes every session at once; deleting one deletes them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import (
    ConflictError,
    InsufficientScopeError,
    InsufficientUserAuthenticationError,
    NotFoundError,
)
from ..extensions import db
from ..models import Address, Session, User
from .auth import create_user, email_key, revoke_all_sessions
from .pagination import Page, paginate
from .runtime import auth_settings

SORTS = {
    "email": (User.email_key.asc(),),
    "-email": (User.email_key.desc(),),
    "registered_on": (User.registered_on.asc(),),
    "-registered_on": (User.registered_on.desc(),),
}
DEFAULT_SORT = "registered_on"
ADMIN_FIELDS = ("admin", "disabled")


@dataclass(frozen=True)
class UserFilter:
    q: str | None = None
    admin: bool | None = None
    sort: str = DEFAULT_SORT


def normalise_public_id(value: str) -> str | None:
    """The canonical form of a UUID from a URL, or None when it is not one."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


def find_user(public_id: str) -> User | None:
    key = normalise_public_id(public_id)
    if key is None:
        return None
    return db.session.execute(select(User).where(User.public_id == key)).scalar_one_or_none()


def get_user(public_id: str, *, actor: User) -> User:
    """The user with this id, if the actor may see them (themself, or anyone for an admin)."""
    if not actor.admin:
        # Another user's id answers exactly like an unknown one.
        if normalise_public_id(public_id) != actor.public_id:
            raise NotFoundError("There is no user with this id")
        return actor
    user = find_user(public_id)
    if user is None:
        raise NotFoundError("There is no user with this id")
    return user


def list_users(filters: UserFilter, *, page: int, per_page: int) -> Page:
    stmt = select(User)
    if filters.q:
        stmt = stmt.where(User.email.icontains(filters.q, autoescape=True)
                          | User.name.icontains(filters.q, autoescape=True))
    if filters.admin is not None:
        stmt = stmt.where(User.admin.is_(filters.admin))
    # The id ends every sort, so equal keys keep one order from page to page.
    stmt = stmt.order_by(*SORTS[filters.sort], User.id.asc())
    return paginate(stmt, page=page, per_page=per_page)


def add_user(*, email: str, password: str, name: str | None = None,
             admin: bool = False) -> User:
    """An administrator creates a user (possibly another administrator)."""
    user = create_user(email=email, password=password, name=name, admin=admin)
    db.session.commit()
    return user


def lock_user(user_id: int) -> None:
    """Serialise writers on one user's rows (the user and their addresses) until commit.

    PostgreSQL: a row lock on the user. SQLite has no row locks and does not
    render FOR UPDATE; there a write takes the database's write lock, and every
    read after it in the transaction sees no concurrent change. (pysqlite opens
    the transaction at the first write, so no earlier read snapshot can go stale.)
    """
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(update(User).where(User.id == user_id).values(id=User.id)
                           .execution_options(synchronize_session=False))
    else:
        db.session.execute(select(User.id).where(User.id == user_id).with_for_update())


def _lock_enabled_admins(user: User) -> list[int]:
    """The ids of the enabled administrators, locked until commit.

    Locking all of them (in id order, so two such transactions cannot deadlock)
    means two admins demoting each other at once cannot both see "another admin
    is left": the second waits and then counts again.
    """
    if db.session.get_bind().dialect.name == "sqlite":
        lock_user(user.id)
    return list(db.session.execute(
        select(User.id).where(User.admin.is_(True), User.disabled.is_(False))
        .order_by(User.id).with_for_update()).scalars())


def _ensure_not_last_admin(user: User, action: str) -> None:
    admins = _lock_enabled_admins(user)
    if user.id in admins and len(admins) == 1:
        db.session.rollback()
        raise ConflictError(f"The last administrator cannot be {action}; "
                            "make another user an administrator first")


def _require_fresh(fresh: bool, what: str) -> None:
    if not fresh:
        raise InsufficientUserAuthenticationError(
            f"{what} needs a fresh token; sign in again with your password",
            max_age=auth_settings().fresh_max_age)


def update_user(user: User, changes: dict, *, actor: User, fresh: bool) -> User:
    """Apply a PATCH: `name`, `email` (fresh token), and for admins `admin`, `disabled`."""
    forbidden = [name for name in ADMIN_FIELDS if name in changes]
    if forbidden and not actor.admin:
        raise InsufficientScopeError(
            f"Only administrators may change {' and '.join(forbidden)}", scope="admin")

    email = changes.get("email")
    if email is not None and email != user.email:
        _require_fresh(fresh, "Changing the email")

    demote = changes.get("admin") is False and user.admin
    disable = changes.get("disabled") is True and not user.disabled
    if demote or disable:
        _ensure_not_last_admin(user, "demoted" if demote else "disabled")

    if email is not None and email != user.email:
        if email_key(email) != user.email_key and db.session.execute(
                select(User.id).where(User.email_key == email_key(email))).first():
            db.session.rollback()
            raise ConflictError("A user with this email already exists")
        user.email = email
        user.email_key = email_key(email)
    if "name" in changes:
        user.name = changes["name"] or None
    if "admin" in changes:
        user.admin = changes["admin"]
    if "disabled" in changes:
        if disable:
            # Enabling again later revives none of these sessions.
            revoke_all_sessions(user)
        user.disabled = changes["disabled"]
    try:
        db.session.commit()
    except IntegrityError:  # the same email taken by a concurrent request
        db.session.rollback()
        raise ConflictError("A user with this email already exists") from None
    return user


def delete_user(user: User, *, actor: User, fresh: bool) -> None:
    """Delete a user with their addresses; every session ends with them."""
    if not actor.admin:
        _require_fresh(fresh, "Deleting your account")
    if user.admin:
        _ensure_not_last_admin(user, "deleted")
    # Explicit deletes, not only ON DELETE CASCADE, so the rule does not hang on
    # a database setting (SQLite enforces foreign keys only when asked to). With
    # its session rows gone, every token of the user is rejected at once.
    for model in (Address, Session):
        db.session.execute(delete(model).where(model.user_id == user.id)
                           .execution_options(synchronize_session=False))
    db.session.delete(user)
    db.session.commit()
