"""Request and response models of the users namespace."""

from __future__ import annotations

from flask_restx import fields

from ..auth.schemas import USER_FIELDS, UserCreate
from ..common import shared_namespace
from ..pagination import collection_model
from ..validation import Email, Text

users_ns = shared_namespace("users", "Users: self-service, and administration by admins")

users_ns.add_model(UserCreate.name, UserCreate)

# An administrator may create another administrator; self-registration may not
# (`admin` in a /auth/register body is an unknown field there).
AdminUserCreate = users_ns.model("AdminUserCreate", {
    **UserCreate,
    "admin": fields.Boolean(default=False, example=False,
                            description="make the new user an administrator"),
}, strict=True)

UserUpdate = users_ns.model("UserUpdate", {
    "email": Email(description="needs a fresh token"),
    "name": Text(max_length=200, nullable=True, example="Ada King",
                 description='null or "" clears it'),
    "admin": fields.Boolean(example=True, description="administrators only"),
    "disabled": fields.Boolean(example=False,
                               description="administrators only; disabling revokes every "
                                           "session, enabling again revives none"),
}, strict=True)

UserPublic = users_ns.model("UserPublic", USER_FIELDS)

UserPage = collection_model(users_ns, "UserPage", UserPublic)
