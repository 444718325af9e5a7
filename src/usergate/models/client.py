from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..clock import utcnow
from ..extensions import db
from .user import new_uuid


class ServiceClient(db.Model):
    """A registered OAuth 2 client (another service): client_credentials, introspection.

    Only an HMAC of the secret is stored (services/clients.py says which and why);
    deleting the row revokes every token the client holds.
    """

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The OAuth `client_id` and the `sub` of the client's access tokens.
    client_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
