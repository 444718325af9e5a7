"""Request and response models of the addresses namespace."""

from __future__ import annotations

from flask_restx import fields

from ..common import NullableString, shared_namespace
from ..pagination import collection_model
from ..validation import CountryCode, Text

addresses_ns = shared_namespace("addresses", "Each user's postal addresses; one is primary")


class NonBlankText(Text):
    """Trimmed text that must not be blank, also where it may be left out (PATCH)."""

    def clean(self, value: str) -> str:
        value = super().clean(value)
        if not value:
            raise ValueError("must not be blank")
        return value


def _fields(*, full: bool) -> dict:
    """The address fields; `full` marks the required ones required (POST, PUT)."""
    return {
        "label": Text(max_length=50, nullable=True, example="Home",
                      description='optional; null or "" clears it'),
        "line1": NonBlankText(required=full, max_length=200, example="12 Analytical Row"),
        "line2": Text(max_length=200, nullable=True, example="Flat 3",
                      description='optional; null or "" clears it'),
        "city": NonBlankText(required=full, max_length=100, example="London"),
        "region": Text(max_length=100, nullable=True, example="Greater London",
                       description='optional; null or "" clears it'),
        "postal_code": NonBlankText(required=full, max_length=20, example="W1 2AB"),
        "country": CountryCode(required=full),
    }


_IS_PRIMARY = "true makes this the primary address (the old one stops being primary)"

AddressCreate = addresses_ns.model("AddressCreate", {
    **_fields(full=True),
    "is_primary": fields.Boolean(default=False, example=False, description=(
        _IS_PRIMARY + "; a user's first address is primary whatever this says")),
}, strict=True)

AddressReplace = addresses_ns.model("AddressReplace", {
    **_fields(full=True),
    "is_primary": fields.Boolean(example=True, description=(
        _IS_PRIMARY + "; false on the primary is a 409; left out, it stays as it was")),
}, strict=True)

AddressUpdate = addresses_ns.model("AddressUpdate", {
    **_fields(full=False),
    "is_primary": fields.Boolean(example=True, description=(
        _IS_PRIMARY + "; false on the primary is a 409")),
}, strict=True)

AddressPublic = addresses_ns.model("AddressPublic", {
    "id": fields.String(example="9b2d7c1e-3f4a-4b5c-8d6e-7f8091a2b3c4"),
    "user_id": fields.String(example="5f0c6a0e-8a57-4a50-9a53-0f2f3c9d1e11"),
    "label": NullableString(example="Home"),
    "line1": fields.String(example="12 Analytical Row"),
    "line2": NullableString(example="Flat 3"),
    "city": fields.String(example="London"),
    "region": NullableString(example="Greater London"),
    "postal_code": fields.String(example="W1 2AB"),
    "country": fields.String(example="GB"),
    "is_primary": fields.Boolean(example=True),
    "created_at": fields.String(example="2026-11-24T09:30:00Z"),
    "updated_at": fields.String(example="2026-11-24T09:30:00Z"),
})

AddressPage = collection_model(addresses_ns, "AddressPage", AddressPublic)
