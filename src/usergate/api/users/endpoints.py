"""The users namespace: thin Resources over services.users."""

from __future__ import annotations

from flask import request, url_for
from flask_restx import Resource

from ...services import addresses as addresses_service
from ...services import authentication
from ...services import users as users_service
from ..addresses.schemas import AddressPage
from ..common import item_get, item_route, operation
from ..guards import admin_token_required, current_auth, token_required
from ..pagination import PAGE_HEADERS, PAGE_PARAMS, page_args
from ..representations import (
    address_public,
    created,
    no_content,
    ok,
    page_response,
    user_public,
)
from ..validation import parse_json
from .schemas import AdminUserCreate, UserPage, UserPublic, UserUpdate, users_ns

LIST_PARAMS = {
    **PAGE_PARAMS,
    "q": {"in": "query", "type": "string", "maxLength": 320,
          "description": "case-insensitive substring of the email or the name"},
    "admin": {"in": "query", "type": "boolean", "description": "only admins, or only non-admins"},
    "sort": {"in": "query", "type": "string", "enum": list(users_service.SORTS),
             "default": users_service.DEFAULT_SORT,
             "description": "sort key; `-` for descending (the id breaks ties)"},
}
ID_PARAM = {"user_id": "the user's id (a UUID)"}


def _list_args() -> tuple[users_service.UserFilter, int, int]:
    """The filters of GET /users; one 400 names every bad parameter."""
    errors: dict[str, list[str]] = {}
    q = request.args.get("q", "").strip() or None
    if q is not None and len(q) > 320:
        errors["q"] = ["must be at most 320 characters long"]
    admin = request.args.get("admin")
    if admin is not None:
        admin = {"true": True, "false": False}.get(admin.strip().lower(), admin)
        if not isinstance(admin, bool):
            errors["admin"] = ["must be true or false"]
    sort = request.args.get("sort", users_service.DEFAULT_SORT)
    if sort not in users_service.SORTS:
        errors["sort"] = ["must be one of " + ", ".join(users_service.SORTS)]
    page, per_page = page_args(errors)
    return users_service.UserFilter(q=q, admin=admin, sort=sort), page, per_page


def _user(user_id: str):
    """The user the URL names, if the signed-in user may see them (404 otherwise)."""
    return users_service.get_user(user_id, actor=current_auth.user)


def _fresh() -> bool:
    """Is the request's token fresh (some changes to a user need it)?"""
    return authentication.is_fresh(current_auth.claims)


@users_ns.route("", endpoint="users")
class UserListResource(Resource):
    @operation(users_ns, 200, "One page of users; RFC 8288 Link header with first/prev/next/last",
               UserPage, headers=PAGE_HEADERS, params=LIST_PARAMS, problems=(400, 401, 403),
               guard=admin_token_required)
    def get(self):
        """List users (administrators)."""
        filters, page, per_page = _list_args()
        return page_response(users_service.list_users(filters, page=page, per_page=per_page),
                             user_public)

    @operation(users_ns, 201, "Created; the user's URL in Location", UserPublic,
               expect=AdminUserCreate, problems=(400, 401, 403, 409, 413, 415),
               guard=admin_token_required)
    def post(self):
        """Create a user, possibly an administrator (administrators)."""
        data = parse_json(AdminUserCreate)
        user = users_service.add_user(email=data["email"], password=data["password"],
                                      name=data.get("name") or None,
                                      admin=data.get("admin", False),
                                      actor=current_auth.user)
        return created(user_public(user), url_for("api.user", user_id=user.public_id))


@item_route(users_ns, "/<public_id:user_id>", "user", ID_PARAM)
class UserResource(Resource):
    get = item_get(users_ns, _user, user_public, "The user", UserPublic,
                   "A user: yourself, or anyone for an administrator.")

    @operation(users_ns, 200, "The changed user", UserPublic, expect=UserUpdate,
               problems=(400, 401, 403, 404, 409, 413, 415), guard=token_required,
               description=(
                   "You may change your `name`, and your `email` with a fresh token; an "
                   "administrator also `admin` and `disabled`. The last administrator cannot "
                   "be demoted or disabled."))
    def patch(self, user_id):
        """Change a user: yourself, or anyone for an administrator."""
        user = _user(user_id)
        data = parse_json(UserUpdate)
        return ok(user_public(users_service.update_user(user, data, actor=current_auth.user,
                                                        fresh=_fresh())))

    @operation(users_ns, 204, "Deleted", problems=(400, 401, 404, 409), guard=token_required,
               description=(
                   "Yourself with a fresh token, or anyone for an administrator. Deletes the "
                   "user's addresses and ends every session. The last administrator cannot be "
                   "deleted."))
    def delete(self, user_id):
        """Delete a user: yourself (fresh token), or anyone for an administrator."""
        users_service.delete_user(_user(user_id), actor=current_auth.user, fresh=_fresh())
        return no_content()


@item_route(users_ns, "/<public_id:user_id>/addresses", "user_addresses", ID_PARAM)
class UserAddressListResource(Resource):
    @operation(users_ns, 200, "One page of the user's addresses, oldest first", AddressPage,
               headers=PAGE_HEADERS, params=PAGE_PARAMS, problems=(400, 401, 404),
               guard=token_required)
    def get(self, user_id):
        """A user's addresses: yours, or anyone's for an administrator."""
        user = _user(user_id)
        page, per_page = page_args()
        return page_response(
            addresses_service.list_addresses(user, page=page, per_page=per_page), address_public)
