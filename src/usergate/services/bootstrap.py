"""The first administrator, for a database that has none."""

from __future__ import annotations

import os
import secrets

from sqlalchemy import select

from ..extensions import db
from ..models import User
from .accounts import create_user


def ensure_first_admin() -> tuple[str, str] | None:
    """Create an admin when no user is an admin; return (email, password) if created."""
    if db.session.execute(select(User.id).where(User.admin.is_(True)).limit(1)).first():
        return None
    email = os.environ.get("USERGATE_ADMIN_EMAIL", "admin@example.com")
    password = os.environ.get("USERGATE_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    create_user(email=email, password=password, name="Administrator", admin=True)
    db.session.commit()
    return email, password
