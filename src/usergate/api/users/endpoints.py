"""The users namespace: thin Resources over services.users."""

from __future__ import annotations

from http import HTTPStatus

from flask import request, url_for
from flask_restx import Resource

from ...auth.decorators import admin_token_required, current_auth, token_required
from ...services import addresses as addresses_service
from ...services import auth as auth_service
from ...services import users as users_service
from ..addresses.schemas import AddressPage
from ..common import BEARER, errors
from ..pagination import PAGE_HEADERS, PAGE_PARAMS, page_args, paged
from ..representations import NO_STORE, address_public, no_content, user_public
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


@users_ns.route("", endpoint="users")
class UserListResource(Resource):
    @users_ns.doc(security=BEARER, params=LIST_PARAMS)
    @users_ns.response(200, "One page of users; RFC 8288 Link header with first/prev/next/last",
                       UserPage, headers=PAGE_HEADERS)
    @errors(users_ns, 400, 401, 403)
    @admin_token_required
    def get(self):
        """List users (administrators)."""
        filters, page, per_page = _list_args()
        body, headers = paged(users_service.list_users(filters, page=page, per_page=per_page),
                              user_public)
        return body, HTTPStatus.OK, {**headers, **NO_STORE}

    @users_ns.doc(security=BEARER)
    @users_ns.expect(AdminUserCreate)
    @users_ns.response(201, "Created; the user's URL in Location", UserPublic)
    @errors(users_ns, 400, 401, 403, 409, 413, 415)
    @admin_token_required
    def post(self):
        """Create a user, possibly an administrator (administrators)."""
        data = parse_json(AdminUserCreate)
        user = users_service.add_user(email=data["email"], password=data["password"],
                                      name=data.get("name") or None,
                                      admin=data.get("admin", False))
        location = url_for("api.user", user_id=user.public_id)
        return user_public(user), HTTPStatus.CREATED, {**NO_STORE, "Location": location}


@users_ns.route("/<string:user_id>", endpoint="user")
@users_ns.doc(params=ID_PARAM)
class UserResource(Resource):
    @users_ns.doc(security=BEARER)
    @users_ns.response(200, "The user", UserPublic)
    @errors(users_ns, 400, 401, 404)
    @token_required
    def get(self, user_id):
        """A user: yourself, or anyone for an administrator."""
        user = users_service.get_user(user_id, actor=current_auth.user)
        return user_public(user), HTTPStatus.OK, NO_STORE

    @users_ns.doc(security=BEARER, description=(
        "You may change your `name`, and your `email` with a fresh token; an administrator "
        "also `admin` and `disabled`. The last administrator cannot be demoted or disabled."))
    @users_ns.expect(UserUpdate)
    @users_ns.response(200, "The changed user", UserPublic)
    @errors(users_ns, 400, 401, 403, 404, 409, 413, 415)
    @token_required
    def patch(self, user_id):
        """Change a user: yourself, or anyone for an administrator."""
        actor = current_auth.user
        user = users_service.get_user(user_id, actor=actor)
        data = parse_json(UserUpdate)
        user = users_service.update_user(user, data, actor=actor,
                                         fresh=auth_service.is_fresh(current_auth.claims))
        return user_public(user), HTTPStatus.OK, NO_STORE

    @users_ns.doc(security=BEARER, description=(
        "Yourself with a fresh token, or anyone for an administrator. Deletes the user's "
        "addresses and ends every session. The last administrator cannot be deleted."))
    @users_ns.response(204, "Deleted")
    @errors(users_ns, 400, 401, 404, 409)
    @token_required
    def delete(self, user_id):
        """Delete a user: yourself (fresh token), or anyone for an administrator."""
        actor = current_auth.user
        user = users_service.get_user(user_id, actor=actor)
        users_service.delete_user(user, actor=actor,
                                  fresh=auth_service.is_fresh(current_auth.claims))
        return no_content()


@users_ns.route("/<string:user_id>/addresses", endpoint="user_addresses")
@users_ns.doc(params=ID_PARAM)
class UserAddressListResource(Resource):
    @users_ns.doc(security=BEARER, params=PAGE_PARAMS)
    @users_ns.response(200, "One page of the user's addresses, oldest first", AddressPage,
                       headers=PAGE_HEADERS)
    @errors(users_ns, 400, 401, 404)
    @token_required
    def get(self, user_id):
        """A user's addresses: yours, or anyone's for an administrator."""
        user = users_service.get_user(user_id, actor=current_auth.user)
        page, per_page = page_args()
        body, headers = paged(addresses_service.list_addresses(user, page=page,
                                                               per_page=per_page),
                              address_public)
        return body, HTTPStatus.OK, {**headers, **NO_STORE}
