"""User management rules: who may see, change and delete whom.

- Who may see whom is `may_see` (themself, or anyone for an administrator);
  `get_user` answers an invisible user as NotFound, as if it did not exist.
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

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..errors import ConflictError, InsufficientScopeError, NotFoundError
from ..extensions import db
from ..models import Address, RecoveryCode, Session, TotpAuthenticator, User
from . import audit
from .accounts import create_user, email_key
from .authentication import require_fresh
from .locks import lock_user
from .pagination import Page, paginate
from .sessions import revoke_all_sessions

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


def may_see(actor: User, *, public_id: str | None = None, user_id: int | None = None) -> bool:
    """The one visibility rule: a user (named by canonical public id or row id) is
    visible to themself and to administrators, and to no one else.

    What an invisible user answers is the caller's: a resource URL (`/users/ID`,
    `/users/ID/addresses`, an address) answers 404, so ids of others are not
    revealed; the `user` filter of `GET /addresses` answers 403 as docs/api.md fixes
    (the parameter itself is for administrators, whatever the id).
    """
    if actor.admin:
        return True
    if public_id is not None:
        return public_id == actor.public_id
    return user_id is not None and user_id == actor.id


def get_user(public_id: str, *, actor: User) -> User:
    """The user with this id, if the actor may see them; otherwise NotFound."""
    key = normalise_public_id(public_id)
    if key is None or not may_see(actor, public_id=key):
        # Another user's id answers exactly like an unknown one.
        raise NotFoundError("There is no user with this id")
    user = actor if key == actor.public_id else find_user(key)
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
             admin: bool = False, actor: User | None = None, method: str = "admin") -> User:
    """An administrator (`actor`; None from the command line) creates a user."""
    user = create_user(email=email, password=password, name=name, admin=admin)
    audit.record("user_created", user_id=user, actor_id=actor,
                 details={"method": method, "admin": bool(admin)})
    db.session.commit()
    return user


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
        raise ConflictError(f"The last administrator cannot be {action}; "
                            "make another user an administrator first")


def update_user(user: User, changes: dict, *, actor: User, fresh: bool) -> User:
    """Apply a PATCH: `name`, `email` (fresh token), and for admins `admin`, `disabled`."""
    forbidden = [name for name in ADMIN_FIELDS if name in changes]
    if forbidden and not actor.admin:
        raise InsufficientScopeError(
            f"Only administrators may change {' and '.join(forbidden)}", scope="admin")

    email = changes.get("email")
    if email is not None and email != user.email:
        require_fresh(fresh, "Changing the email")

    demote = changes.get("admin") is False and user.admin
    disable = changes.get("disabled") is True and not user.disabled
    if demote or disable:
        _ensure_not_last_admin(user, "demoted" if demote else "disabled")

    if email is not None and email != user.email:
        if email_key(email) != user.email_key and db.session.execute(
                select(User.id).where(User.email_key == email_key(email))).first():
            db.session.rollback()
            raise ConflictError("A user with this email already exists")
        from .account_mail import queue_email_change

        old_email = user.email
        user.email = email
        user.email_key = email_key(email)
        queue_email_change(user, old_email)  # unverified again; mails to both addresses
        audit.record("email_changed", user_id=user, actor_id=actor)
    changed = {name: changes[name] for name in ADMIN_FIELDS
               if name in changes and changes[name] != getattr(user, name)}
    if "name" in changes:
        user.name = changes["name"] or None
    if "admin" in changes:
        user.admin = changes["admin"]
    if "disabled" in changes:
        if disable:
            # Enabling again later revives none of these sessions.
            revoke_all_sessions(user)
        user.disabled = changes["disabled"]
    if changed:
        audit.record("user_updated", user_id=user, actor_id=actor,
                     details={**changed, "fields": sorted(changed),
                              **({"sessions_revoked": True} if disable else {})})
    try:
        db.session.commit()
    except IntegrityError:  # the same email taken by a concurrent request
        db.session.rollback()
        raise ConflictError("A user with this email already exists") from None
    return user


def delete_user(user: User, *, actor: User, fresh: bool) -> None:
    """Delete a user with their addresses; every session ends with them."""
    if not actor.admin:
        require_fresh(fresh, "Deleting your account")
    if user.admin:
        _ensure_not_last_admin(user, "deleted")
    # Explicit deletes, not only ON DELETE CASCADE, so the rule does not hang on
    # a database setting (SQLite enforces foreign keys only when asked to). With
    # its session rows gone, every token of the user is rejected at once.
    for model in (Address, Session, TotpAuthenticator, RecoveryCode):
        db.session.execute(delete(model).where(model.user_id == user.id)
                           .execution_options(synchronize_session=False))
    audit.record("user_deleted", user_id=user, actor_id=actor)
    db.session.delete(user)
    db.session.commit()
