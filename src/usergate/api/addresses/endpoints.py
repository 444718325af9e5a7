"""The addresses namespace: thin Resources over services.addresses."""

from __future__ import annotations

from flask import request, url_for
from flask_restx import Resource

from ...services import addresses as addresses_service
from ..common import item_get, item_route, operation
from ..guards import current_auth, token_required
from ..pagination import PAGE_HEADERS, PAGE_PARAMS, page_args
from ..representations import address_public, created, no_content, ok, page_response
from ..validation import parse_json
from .schemas import (
    AddressCreate,
    AddressPage,
    AddressPublic,
    AddressReplace,
    AddressUpdate,
    addresses_ns,
)

LIST_PARAMS = {
    **PAGE_PARAMS,
    "user": {"in": "query", "type": "string",
             "description": "administrators: list this user's addresses instead of their own"},
}
ID_PARAM = {"address_id": "the address's id (a UUID)"}
# PUT and PATCH can fail alike.
CHANGE_PROBLEMS = (400, 401, 404, 409, 413, 415)


def _address(address_id: str):
    """The address the URL names, if the signed-in user may see it (404 otherwise)."""
    return addresses_service.get_address(address_id, actor=current_auth.user)


def _change(address_id: str, schema, change):
    """PUT and PATCH: find the address (404 first), validate the body, apply it."""
    address = _address(address_id)
    return ok(address_public(change(address, parse_json(schema))))


@addresses_ns.route("", endpoint="addresses")
class AddressListResource(Resource):
    @operation(addresses_ns, 200, "One page of addresses, oldest first; RFC 8288 Link header",
               AddressPage, headers=PAGE_HEADERS, params=LIST_PARAMS,
               problems=(400, 401, 403, 404), guard=token_required)
    def get(self):
        """Your addresses (an administrator may pass `user`)."""
        owner = addresses_service.resolve_owner(current_auth.user, request.args.get("user"))
        page, per_page = page_args()
        return page_response(
            addresses_service.list_addresses(owner, page=page, per_page=per_page), address_public)

    @operation(addresses_ns, 201, "Created; its URL in Location", AddressPublic,
               expect=AddressCreate, problems=(400, 401, 409, 413, 415), guard=token_required)
    def post(self):
        """Add an address of yours (your first one is primary)."""
        address = addresses_service.create_address(current_auth.user, parse_json(AddressCreate))
        return created(address_public(address),
                       url_for("api.address", address_id=address.public_id))


@item_route(addresses_ns, "/<public_id:address_id>", "address", ID_PARAM)
class AddressResource(Resource):
    get = item_get(addresses_ns, _address, address_public, "The address", AddressPublic,
                   "An address of yours (anyone's for an administrator).")

    @operation(addresses_ns, 200, "The replaced address", AddressPublic, expect=AddressReplace,
               problems=CHANGE_PROBLEMS, guard=token_required, description=(
                   "Full replacement: optional fields left out are cleared; `is_primary` left "
                   "out stays as it was."))
    def put(self, address_id):
        """Replace an address of yours (anyone's for an administrator)."""
        return _change(address_id, AddressReplace, addresses_service.replace_address)

    @operation(addresses_ns, 200, "The changed address", AddressPublic, expect=AddressUpdate,
               problems=CHANGE_PROBLEMS, guard=token_required,
               description="Only the fields sent change.")
    def patch(self, address_id):
        """Change an address of yours (anyone's for an administrator)."""
        return _change(address_id, AddressUpdate, addresses_service.update_address)

    @operation(addresses_ns, 204, "Deleted", problems=(400, 401, 404), guard=token_required,
               description="Deleting the primary address makes the oldest remaining one "
               "primary.")
    def delete(self, address_id):
        """Delete an address of yours (anyone's for an administrator)."""
        addresses_service.delete_address(_address(address_id))
        return no_content()
