from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from ..clock import utcnow
from ..extensions import db


def new_uuid() -> str:
    return str(uuid.uuid4())


class User(db.Model):
    __tablename__ = "users"

    # The integer key never leaves the server; `public_id` is the API's `id`.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    email: Mapped[str] = mapped_column(String(320))
    # Lower-cased email: uniqueness and lookups are case-insensitive over the
    # whole address, on every database, with a plain unique index.
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_on: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    # Tokens issued before this moment are rejected (password change, log out everywhere).
    tokens_valid_after: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # Proven by a mailed link (docs/api.md §6.2); a changed email is unverified again.
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False,
                                                 server_default=false())
    # A confirmed TOTP authenticator (docs/mfa.md): login then asks for a code too.
    mfa_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    def __repr__(self) -> str:
        return f"<User {self.public_id}>"
