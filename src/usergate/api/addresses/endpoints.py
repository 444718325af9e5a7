"""The addresses namespace: thin Resources over services.addresses."""

from __future__ import annotations

from http import HTTPStatus

from flask import request, url_for
from flask_restx import Resource

from ...auth.decorators import current_auth, token_required
from ...services import addresses as addresses_service
from ..common import BEARER, errors
from ..pagination import PAGE_HEADERS, PAGE_PARAMS, page_args, paged
from ..representations import NO_STORE, address_public, no_content
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


@addresses_ns.route("", endpoint="addresses")
class AddressListResource(Resource):
    @addresses_ns.doc(security=BEARER, params=LIST_PARAMS)
    @addresses_ns.response(200, "One page of addresses, oldest first; RFC 8288 Link header",
                           AddressPage, headers=PAGE_HEADERS)
    @errors(addresses_ns, 400, 401, 403, 404)
    @token_required
    def get(self):
        """Your addresses (an administrator may pass `user`)."""
        owner = addresses_service.resolve_owner(current_auth.user, request.args.get("user"))
        page, per_page = page_args()
        body, headers = paged(addresses_service.list_addresses(owner, page=page,
                                                               per_page=per_page),
                              address_public)
        return body, HTTPStatus.OK, {**headers, **NO_STORE}

    @addresses_ns.doc(security=BEARER)
    @addresses_ns.expect(AddressCreate)
    @addresses_ns.response(201, "Created; its URL in Location", AddressPublic)
    @errors(addresses_ns, 400, 401, 409, 413, 415)
    @token_required
    def post(self):
        """Add an address of yours (your first one is primary)."""
        data = parse_json(AddressCreate)
        address = addresses_service.create_address(current_auth.user, data)
        location = url_for("api.address", address_id=address.public_id)
        return address_public(address), HTTPStatus.CREATED, {**NO_STORE, "Location": location}


@addresses_ns.route("/<string:address_id>", endpoint="address")
@addresses_ns.doc(params=ID_PARAM)
class AddressResource(Resource):
    @addresses_ns.doc(security=BEARER)
    @addresses_ns.response(200, "The address", AddressPublic)
    @errors(addresses_ns, 400, 401, 404)
    @token_required
    def get(self, address_id):
        """An address of yours (anyone's for an administrator)."""
        address = addresses_service.get_address(address_id, actor=current_auth.user)
        return address_public(address), HTTPStatus.OK, NO_STORE

    @addresses_ns.doc(security=BEARER, description=(
        "Full replacement: optional fields left out are cleared; `is_primary` left out "
        "stays as it was."))
    @addresses_ns.expect(AddressReplace)
    @addresses_ns.response(200, "The replaced address", AddressPublic)
    @errors(addresses_ns, 400, 401, 404, 409, 413, 415)
    @token_required
    def put(self, address_id):
        """Replace an address of yours (anyone's for an administrator)."""
        address = addresses_service.get_address(address_id, actor=current_auth.user)
        data = parse_json(AddressReplace)
        address = addresses_service.replace_address(address, data)
        return address_public(address), HTTPStatus.OK, NO_STORE

    @addresses_ns.doc(security=BEARER, description="Only the fields sent change.")
    @addresses_ns.expect(AddressUpdate)
    @addresses_ns.response(200, "The changed address", AddressPublic)
    @errors(addresses_ns, 400, 401, 404, 409, 413, 415)
    @token_required
    def patch(self, address_id):
        """Change an address of yours (anyone's for an administrator)."""
        address = addresses_service.get_address(address_id, actor=current_auth.user)
        data = parse_json(AddressUpdate)
        address = addresses_service.update_address(address, data)
        return address_public(address), HTTPStatus.OK, NO_STORE

    @addresses_ns.doc(security=BEARER, description=(
        "Deleting the primary address makes the oldest remaining one primary."))
    @addresses_ns.response(204, "Deleted")
    @errors(addresses_ns, 400, 401, 404)
    @token_required
    def delete(self, address_id):
        """Delete an address of yours (anyone's for an administrator)."""
        address = addresses_service.get_address(address_id, actor=current_auth.user)
        addresses_service.delete_address(address)
        return no_content()
