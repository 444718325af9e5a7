"""Address rules: ownership, the one primary address, the per-user limit.

A user with addresses has exactly one primary:
- the first address becomes primary, whatever the request said;
- making another one primary clears the old one in the same transaction;
- un-marking the primary is a Conflict (make another one primary instead);
- deleting the primary promotes the oldest remaining address.

Every change takes the owner's lock first (`lock_user`), so concurrent
requests on one user's addresses run one after the other and each sees the
state the previous one committed; the partial unique index on the table is the
last line: no interleaving can store two primaries.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import InvalidRequestError

from ..clock import utcnow
from ..errors import ConflictError, InsufficientScopeError, NotFoundError, ValidationError
from ..extensions import db
from ..models import Address, User
from .locks import lock_user
from .pagination import Page, paginate
from .users import find_user, may_see, normalise_public_id

FIELDS = ("label", "line1", "line2", "city", "region", "postal_code", "country")
OPTIONAL_FIELDS = ("label", "line2", "region")


def _not_found() -> NotFoundError:
    return NotFoundError("There is no address with this id")


def max_addresses() -> int:
    return current_app.config["MAX_ADDRESSES_PER_USER"]


def get_address(public_id: str, *, actor: User) -> Address:
    """The address with this id, if the actor owns it or is an admin; anyone else's is NotFound."""
    key = normalise_public_id(public_id)
    address = None if key is None else db.session.execute(
        select(Address).where(Address.public_id == key)).scalar_one_or_none()
    if address is None or not may_see(actor, user_id=address.user_id):
        raise _not_found()
    return address


def resolve_owner(actor: User, user_id: str | None) -> User:
    """Whose addresses a listing shows: the actor's, or for an admin anyone's."""
    if user_id is None:
        return actor
    key = normalise_public_id(user_id)
    if key is None:
        raise ValidationError.single("user", "must be a user id (a UUID)")
    if not may_see(actor, public_id=key):
        # 403, not 404 (docs/api.md): the `user` parameter is the administrators'.
        raise InsufficientScopeError("Only administrators may list another user's addresses",
                                     scope="admin")
    if key == actor.public_id:
        return actor
    owner = find_user(key)
    if owner is None:
        raise NotFoundError("There is no user with this id")
    return owner


def list_addresses(owner: User, *, page: int, per_page: int) -> Page:
    """The owner's addresses, oldest first (the id breaks ties, so pages are stable)."""
    stmt = (select(Address).where(Address.user_id == owner.id)
            .order_by(Address.created_at.asc(), Address.id.asc()))
    return paginate(stmt, page=page, per_page=per_page)


def _clear_primary(user_id: int, moment) -> None:
    # Before the new primary is written: the partial unique index is checked
    # row by row, so the old primary must be cleared first.
    db.session.execute(
        update(Address).where(Address.user_id == user_id, Address.is_primary.is_(True))
        .values(is_primary=False, updated_at=moment)
        .execution_options(synchronize_session=False))


def _clean(value):
    # An optional field sent as "" (or null) is cleared.
    return value or None


def create_address(owner: User, data: dict) -> Address:
    lock_user(owner.id)
    count = db.session.execute(
        select(func.count()).select_from(Address).where(Address.user_id == owner.id)).scalar_one()
    if count >= max_addresses():
        db.session.rollback()
        raise ConflictError(f"A user has at most {max_addresses()} addresses; "
                            "delete one before adding another")
    moment = utcnow()
    is_primary = count == 0 or bool(data.get("is_primary"))
    if is_primary and count:
        _clear_primary(owner.id, moment)
    address = Address(user=owner, is_primary=is_primary, created_at=moment, updated_at=moment,
                      **{name: _clean(data.get(name)) for name in FIELDS})
    db.session.add(address)
    db.session.commit()
    return address


def _locked(address: Address) -> Address:
    """Take the owner's lock, then read the address again as it is now."""
    lock_user(address.user_id)
    try:
        db.session.refresh(address)
    except InvalidRequestError:  # deleted by a concurrent request
        raise _not_found() from None
    return address


def _apply(address: Address, values: dict, is_primary: bool | None) -> Address:
    """Stage a change (the caller commits)."""
    address = _locked(address)
    if is_primary is False and address.is_primary:
        raise ConflictError("The primary address cannot be un-marked; "
                            "make another address primary instead")
    moment = utcnow()
    if is_primary and not address.is_primary:
        _clear_primary(address.user_id, moment)
        address.is_primary = True
    for name, value in values.items():
        setattr(address, name, value)
    address.updated_at = moment
    return address


def replace_address(address: Address, data: dict) -> Address:
    """PUT: every field from the body (absent optional ones cleared); is_primary kept if absent."""
    values = {name: _clean(data.get(name)) for name in FIELDS}
    address = _apply(address, values, data.get("is_primary"))
    db.session.commit()
    return address


def update_address(address: Address, data: dict) -> Address:
    """PATCH: only the fields in the body change."""
    values = {name: (_clean(data[name]) if name in OPTIONAL_FIELDS else data[name])
              for name in FIELDS if name in data}
    address = _apply(address, values, data.get("is_primary"))
    db.session.commit()
    return address


def delete_address(address: Address) -> None:
    """Delete; when it was the primary, the oldest remaining address becomes primary."""
    address = _locked(address)
    was_primary = address.is_primary
    user_id = address.user_id
    db.session.delete(address)
    db.session.flush()
    if was_primary:
        oldest = db.session.execute(
            select(Address.id).where(Address.user_id == user_id)
            .order_by(Address.created_at.asc(), Address.id.asc()).limit(1)).scalar_one_or_none()
        if oldest is not None:
            db.session.execute(
                update(Address).where(Address.id == oldest)
                .values(is_primary=True, updated_at=utcnow())
                .execution_options(synchronize_session=False))
    db.session.commit()
