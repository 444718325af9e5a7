"""Addresses (docs/api.md): ownership, PUT/PATCH semantics, the primary rule, limits, paging."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from helpers.accounts import AuthActions
from helpers.concurrency import in_threads
from helpers.paging import links, walk
from helpers.problems import assert_problem
from usergate.extensions import db as _db
from usergate.models import Address

API = "/api/v1"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def address_body(n: int = 1, **changes) -> dict:
    body = {"label": f"Home {n}", "line1": f"{n} Analytical Row", "line2": "Flat 3",
            "city": "London", "region": "Greater London", "postal_code": "W1 2AB",
            "country": "gb"}
    body.update(changes)
    return body


def create(client, tokens, n: int = 1, **changes) -> dict:
    response = client.post(f"{API}/addresses", json=address_body(n, **changes),
                           headers=tokens.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def get(client, tokens, address_id: str):
    return client.get(f"{API}/addresses/{address_id}", headers=tokens.headers)


def primaries(client, tokens) -> list[str]:
    response = client.get(f"{API}/addresses?per_page=100", headers=tokens.headers)
    assert response.status_code == 200
    return [item["id"] for item in response.get_json()["items"] if item["is_primary"]]


def page_of(url: str) -> tuple[int, int]:
    page = int(re.search(r"[?&]page=(\d+)", url).group(1))
    per_page = int(re.search(r"[?&]per_page=(\d+)", url).group(1))
    return page, per_page


# -- create ------------------------------------------------------------------


def test_create_returns_the_address_with_location(client, auth):
    tokens = auth.register()
    me = auth.me(tokens)
    response = client.post(f"{API}/addresses", json=address_body(), headers=tokens.headers)
    assert response.status_code == 201
    body = response.get_json()
    assert UUID_RE.match(body["id"])
    assert body["user_id"] == me["id"]
    assert body["country"] == "GB"  # upper-cased on input
    assert body["line1"] == "1 Analytical Row" and body["region"] == "Greater London"
    assert TIME_RE.match(body["created_at"]) and TIME_RE.match(body["updated_at"])
    assert response.headers["Location"] == f"/api/v1/addresses/{body['id']}"
    assert get(client, tokens, body["id"]).get_json() == body


def test_create_trims_text_and_clears_blank_optional_fields(client, auth):
    tokens = auth.register()
    body = create(client, tokens, line1="  7 Engine Lane  ", line2="", region=None, label="  ")
    assert body["line1"] == "7 Engine Lane"
    assert body["line2"] is None and body["region"] is None and body["label"] is None


def test_first_address_is_primary_even_when_created_with_false(client, auth):
    tokens = auth.register()
    first = create(client, tokens, 1, is_primary=False)
    second = create(client, tokens, 2)
    third = create(client, tokens, 3, is_primary=False)
    assert first["is_primary"] is True
    assert second["is_primary"] is False and third["is_primary"] is False
    assert primaries(client, tokens) == [first["id"]]


def test_creating_a_primary_clears_the_old_one(client, auth):
    tokens = auth.register()
    first = create(client, tokens, 1)
    second = create(client, tokens, 2, is_primary=True)
    assert second["is_primary"] is True
    assert get(client, tokens, first["id"]).get_json()["is_primary"] is False
    assert primaries(client, tokens) == [second["id"]]


@pytest.mark.parametrize("country", ["de", "DE", " De "])
def test_country_is_upper_cased(client, auth, country):
    tokens = auth.register()
    assert create(client, tokens, country=country)["country"] == "DE"


@pytest.mark.parametrize("country", ["XX", "DEU", "D", "", "1A", "ÄÖ", 49])
def test_country_must_be_iso_3166_alpha_2(client, auth, country):
    tokens = auth.register()
    response = client.post(f"{API}/addresses", json=address_body(country=country),
                           headers=tokens.headers)
    assert_problem(response, 400, "country")


def test_missing_required_fields_are_all_named(client, auth):
    tokens = auth.register()
    response = client.post(f"{API}/addresses", json={"label": "Work"}, headers=tokens.headers)
    body = assert_problem(response, 400, "line1", "city", "postal_code", "country")
    assert body["errors"]["line1"] == ["is required"]


@pytest.mark.parametrize("changes, fields", [
    ({"line1": "   "}, ["line1"]),
    ({"line1": None, "city": 7}, ["line1", "city"]),
    ({"postal_code": "x" * 21}, ["postal_code"]),
    ({"label": "x" * 51, "line2": "y" * 201}, ["label", "line2"]),
    ({"is_primary": "yes"}, ["is_primary"]),
    ({"user_id": "5f0c6a0e-8a57-4a50-9a53-0f2f3c9d1e11"}, ["user_id"]),
    ({"id": "x", "country": "XX"}, ["id", "country"]),
])
def test_invalid_create_bodies_name_every_failing_field(client, auth, changes, fields):
    tokens = auth.register()
    response = client.post(f"{API}/addresses", json=address_body(**changes),
                           headers=tokens.headers)
    body = assert_problem(response, 400, *fields)
    assert set(body["errors"]) == set(fields)
    assert primaries(client, tokens) == []  # nothing was stored


def test_create_needs_json(client, auth):
    tokens = auth.register()
    response = client.post(f"{API}/addresses", data="line1=x", headers={
        **tokens.headers, "Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(response, 415)


def test_addresses_need_a_token(client):
    response = client.get(f"{API}/addresses")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="usergate"'
    response = client.post(f"{API}/addresses", json=address_body())
    assert_problem(response, 401)


def test_authentication_comes_before_body_validation(client):
    response = client.post(f"{API}/addresses", json={"nonsense": 1},
                           headers={"Authorization": "Bearer not.a.token"})
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_max_addresses_per_user_is_a_409(make_app):
    app = make_app(MAX_ADDRESSES_PER_USER=3)
    client = app.test_client()


    auth = AuthActions(app, client)
    tokens = auth.register()
    for n in range(3):
        create(client, tokens, n)
    response = client.post(f"{API}/addresses", json=address_body(4), headers=tokens.headers)
    assert_problem(response, 409)
    # The limit is per user: someone else still has room.
    other = auth.register()
    create(client, other, 1)
    # And a deleted address makes room again.
    first = client.get(f"{API}/addresses", headers=tokens.headers).get_json()["items"][0]
    assert client.delete(f"{API}/addresses/{first['id']}",
                         headers=tokens.headers).status_code == 204
    create(client, tokens, 5)


def test_default_max_addresses_is_50(client, auth, app):
    tokens = auth.register()
    assert app.config["MAX_ADDRESSES_PER_USER"] == 50
    for n in range(50):
        create(client, tokens, n)
    response = client.post(f"{API}/addresses", json=address_body(51), headers=tokens.headers)
    assert_problem(response, 409)


# -- read, replace, update ---------------------------------------------------


def test_put_replaces_every_field_and_clears_left_out_optional_ones(client, auth):
    tokens = auth.register()
    address = create(client, tokens)
    replacement = {"line1": "1 New Street", "city": "Paris", "postal_code": "75001",
                   "country": "fr"}
    response = client.put(f"{API}/addresses/{address['id']}", json=replacement,
                          headers=tokens.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert {k: body[k] for k in replacement} == {**replacement, "country": "FR"}
    assert body["label"] is None and body["line2"] is None and body["region"] is None
    assert body["id"] == address["id"] and body["created_at"] == address["created_at"]
    assert body["is_primary"] is True  # left out: kept as it was


def test_put_needs_every_required_field(client, auth):
    tokens = auth.register()
    address = create(client, tokens)
    response = client.put(f"{API}/addresses/{address['id']}", json={"line1": "x"},
                          headers=tokens.headers)
    assert_problem(response, 400, "city", "postal_code", "country")
    assert get(client, tokens, address["id"]).get_json() == address


def test_put_without_is_primary_keeps_it_either_way(client, auth):
    tokens = auth.register()
    first, second = create(client, tokens, 1), create(client, tokens, 2)
    for address, expected in ((first, True), (second, False)):
        response = client.put(f"{API}/addresses/{address['id']}", json=address_body(9),
                              headers=tokens.headers)
        assert response.get_json()["is_primary"] is expected


def test_patch_changes_only_the_fields_sent(client, auth):
    tokens = auth.register()
    address = create(client, tokens)
    response = client.patch(f"{API}/addresses/{address['id']}",
                            json={"city": "Manchester", "line2": None},
                            headers=tokens.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["city"] == "Manchester" and body["line2"] is None
    unchanged = {k: v for k, v in address.items() if k not in ("city", "line2", "updated_at")}
    assert {k: body[k] for k in unchanged} == unchanged


def test_patch_with_an_empty_body_changes_nothing(client, auth):
    tokens = auth.register()
    address = create(client, tokens)
    response = client.patch(f"{API}/addresses/{address['id']}", json={}, headers=tokens.headers)
    assert response.status_code == 200
    assert {k: v for k, v in response.get_json().items() if k != "updated_at"} == {
        k: v for k, v in address.items() if k != "updated_at"}


@pytest.mark.parametrize("changes, fields", [
    ({"line1": ""}, ["line1"]),
    ({"city": None}, ["city"]),
    ({"country": "zz", "user_id": "x"}, ["country", "user_id"]),
    ({"is_primary": None}, ["is_primary"]),
])
def test_invalid_patch_bodies_are_400(client, auth, changes, fields):
    tokens = auth.register()
    address = create(client, tokens)
    response = client.patch(f"{API}/addresses/{address['id']}", json=changes,
                            headers=tokens.headers)
    assert_problem(response, 400, *fields)
    assert get(client, tokens, address["id"]).get_json() == address


def test_making_another_address_primary_clears_the_old_one(client, auth):
    tokens = auth.register()
    first, second, third = (create(client, tokens, n) for n in (1, 2, 3))
    response = client.patch(f"{API}/addresses/{third['id']}", json={"is_primary": True},
                            headers=tokens.headers)
    assert response.status_code == 200 and response.get_json()["is_primary"] is True
    assert primaries(client, tokens) == [third["id"]]
    response = client.put(f"{API}/addresses/{second['id']}",
                          json=address_body(2, is_primary=True), headers=tokens.headers)
    assert response.get_json()["is_primary"] is True
    assert primaries(client, tokens) == [second["id"]]
    # Making the primary primary again changes nothing.
    response = client.patch(f"{API}/addresses/{second['id']}", json={"is_primary": True},
                            headers=tokens.headers)
    assert response.status_code == 200
    assert primaries(client, tokens) == [second["id"]]
    assert first["id"] not in primaries(client, tokens)


def test_unmarking_the_primary_is_a_409(client, auth):
    tokens = auth.register()
    first, second = create(client, tokens, 1), create(client, tokens, 2)
    for method in (client.patch, client.put):
        response = method(f"{API}/addresses/{first['id']}",
                          json=address_body(1, is_primary=False), headers=tokens.headers)
        assert_problem(response, 409)
    assert get(client, tokens, first["id"]).get_json() == first  # nothing else changed either
    # false on an address that is not primary is no change at all.
    response = client.patch(f"{API}/addresses/{second['id']}", json={"is_primary": False},
                            headers=tokens.headers)
    assert response.status_code == 200
    assert primaries(client, tokens) == [first["id"]]


def test_deleting_the_primary_promotes_the_oldest_remaining(client, auth, clock):
    tokens = auth.register()
    first = create(client, tokens, 1)
    clock.advance(5)
    second = create(client, tokens, 2)
    clock.advance(5)
    third = create(client, tokens, 3)
    # The oldest by creation, not the one most recently changed.
    client.patch(f"{API}/addresses/{third['id']}", json={"city": "Leeds"},
                 headers=tokens.headers)
    assert client.delete(f"{API}/addresses/{first['id']}",
                         headers=tokens.headers).status_code == 204
    assert_problem(get(client, tokens, first["id"]), 404)
    assert primaries(client, tokens) == [second["id"]]
    # Deleting one that is not primary leaves the primary alone.
    assert client.delete(f"{API}/addresses/{third['id']}",
                         headers=tokens.headers).status_code == 204
    assert primaries(client, tokens) == [second["id"]]
    assert client.delete(f"{API}/addresses/{second['id']}",
                         headers=tokens.headers).status_code == 204
    assert primaries(client, tokens) == []
    # With none left, the next one is primary again.
    assert create(client, tokens, 4, is_primary=False)["is_primary"] is True


def test_unknown_and_malformed_ids_are_404(client, auth):
    tokens = auth.register()
    for address_id in ("5f0c6a0e-8a57-4a50-9a53-0f2f3c9d1e11", "not-a-uuid"):
        assert_problem(get(client, tokens, address_id), 404)
        assert_problem(client.patch(f"{API}/addresses/{address_id}", json={},
                                    headers=tokens.headers), 404)
        assert_problem(client.delete(f"{API}/addresses/{address_id}",
                                     headers=tokens.headers), 404)


def test_the_partial_unique_index_refuses_a_second_primary(client, auth, app):
    """The database itself guards the invariant, whatever the service code does."""
    tokens = auth.register()
    create(client, tokens, 1)
    second = create(client, tokens, 2)
    with app.app_context():
        address = _db.session.execute(
            select(Address).where(Address.public_id == second["id"])).scalar_one()
        address.is_primary = True
        with pytest.raises(IntegrityError):
            _db.session.commit()
        _db.session.rollback()


# -- who may see what --------------------------------------------------------


def test_another_user_can_neither_read_list_change_nor_delete_my_address(client, auth):
    owner = auth.register()
    owner_id = auth.me(owner)["id"]
    address = create(client, owner)
    other = auth.register()
    url = f"{API}/addresses/{address['id']}"

    assert_problem(client.get(url, headers=other.headers), 404)
    assert_problem(client.put(url, json=address_body(7), headers=other.headers), 404)
    assert_problem(client.patch(url, json={"city": "Elsewhere"}, headers=other.headers), 404)
    assert_problem(client.patch(url, json={"is_primary": True}, headers=other.headers), 404)
    assert_problem(client.delete(url, headers=other.headers), 404)
    # Someone else's address looks exactly like no address at all.
    unknown = client.get(f"{API}/addresses/5f0c6a0e-8a57-4a50-9a53-0f2f3c9d1e11",
                         headers=other.headers)
    assert client.get(url, headers=other.headers).get_json() == unknown.get_json()

    response = client.get(f"{API}/addresses?user={owner_id}", headers=other.headers)
    assert_problem(response, 403)
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert_problem(client.get(f"{API}/users/{owner_id}/addresses", headers=other.headers), 404)
    assert client.get(f"{API}/addresses", headers=other.headers).get_json()["items"] == []

    assert get(client, owner, address["id"]).get_json() == address  # untouched


def test_an_admin_can_read_list_change_and_delete_anyones_address(client, auth):
    owner = auth.register()
    owner_id = auth.me(owner)["id"]
    first = create(client, owner, 1)
    second = create(client, owner, 2)
    admin = auth.admin()
    url = f"{API}/addresses/{first['id']}"

    assert client.get(url, headers=admin.headers).get_json() == first
    listing = client.get(f"{API}/addresses?user={owner_id}", headers=admin.headers).get_json()
    assert [item["id"] for item in listing["items"]] == [first["id"], second["id"]]
    listing = client.get(f"{API}/users/{owner_id}/addresses", headers=admin.headers).get_json()
    assert listing["total"] == 2
    # The admin's own list holds none of them.
    assert client.get(f"{API}/addresses", headers=admin.headers).get_json()["total"] == 0

    response = client.patch(url, json={"city": "Bristol"}, headers=admin.headers)
    assert response.status_code == 200 and response.get_json()["city"] == "Bristol"
    assert response.get_json()["user_id"] == owner_id  # still the owner's
    response = client.put(f"{API}/addresses/{second['id']}",
                          json=address_body(2, is_primary=True), headers=admin.headers)
    assert response.status_code == 200
    assert primaries(client, owner) == [second["id"]]
    assert client.delete(url, headers=admin.headers).status_code == 204
    assert_problem(get(client, owner, first["id"]), 404)


def test_listing_by_user_parameter(client, auth):
    tokens = auth.register()
    me = auth.me(tokens)
    create(client, tokens)
    # Passing one's own id is fine for anyone.
    response = client.get(f"{API}/addresses?user={me['id']}", headers=tokens.headers)
    assert response.status_code == 200 and response.get_json()["total"] == 1
    assert_problem(client.get(f"{API}/addresses?user=nope", headers=tokens.headers),
                   400, "user")
    admin = auth.admin()
    assert_problem(client.get(f"{API}/addresses?user=5f0c6a0e-8a57-4a50-9a53-0f2f3c9d1e11",
                              headers=admin.headers), 404)


# -- pagination ---------------------------------------------------------------


def test_empty_collection(client, auth):
    tokens = auth.register()
    response = client.get(f"{API}/addresses", headers=tokens.headers)
    assert response.status_code == 200
    assert response.get_json() == {"items": [], "page": 1, "per_page": 20, "total": 0,
                                   "pages": 0}
    rels = links(response)
    assert set(rels) == {"first"}
    assert page_of(rels["first"]) == (1, 20)


def test_pages_links_and_stable_order(client, auth):
    tokens = auth.register()
    # Created within one second: equal created_at, so the id must break the tie.
    created = [create(client, tokens, n)["id"] for n in range(5)]

    response = client.get(f"{API}/addresses?per_page=2", headers=tokens.headers)
    body = response.get_json()
    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (1, 2, 5, 3)
    rels = links(response)
    assert set(rels) == {"first", "next", "last"}
    assert page_of(rels["next"]) == (2, 2) and page_of(rels["last"]) == (3, 2)

    seen = walk(client, f"{API}/addresses?per_page=2", tokens.headers)
    assert seen == created

    middle = client.get(f"{API}/addresses?per_page=2&page=2", headers=tokens.headers)
    rels = links(middle)
    assert set(rels) == {"first", "prev", "next", "last"}
    assert page_of(rels["prev"]) == (1, 2) and page_of(rels["next"]) == (3, 2)

    last = client.get(f"{API}/addresses?per_page=2&page=3", headers=tokens.headers)
    assert [item["id"] for item in last.get_json()["items"]] == created[4:]
    assert set(links(last)) == {"first", "prev", "last"}


def test_per_page_1_and_100(client, auth):
    tokens = auth.register()
    created = [create(client, tokens, n)["id"] for n in range(3)]
    one = client.get(f"{API}/addresses?per_page=1&page=3", headers=tokens.headers)
    assert one.status_code == 200
    body = one.get_json()
    assert [item["id"] for item in body["items"]] == [created[2]]
    assert (body["pages"], body["total"]) == (3, 3)
    assert set(links(one)) == {"first", "prev", "last"}
    hundred = client.get(f"{API}/addresses?per_page=100", headers=tokens.headers)
    assert hundred.status_code == 200
    assert [item["id"] for item in hundred.get_json()["items"]] == created
    assert hundred.get_json()["pages"] == 1
    assert set(links(hundred)) == {"first", "last"}


def test_page_past_the_last_is_an_empty_200(client, auth):
    tokens = auth.register()
    create(client, tokens)
    response = client.get(f"{API}/addresses?page=7", headers=tokens.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["items"] == [] and body["page"] == 7 and body["pages"] == 1
    rels = links(response)
    assert page_of(rels["prev"]) == (1, 20)  # back to the last page that exists
    assert "next" not in rels
    huge = client.get(f"{API}/addresses?page=999999999999999999", headers=tokens.headers)
    assert huge.status_code == 200 and huge.get_json()["items"] == []


@pytest.mark.parametrize("query, field", [
    ("per_page=0", "per_page"),
    ("per_page=101", "per_page"),
    ("per_page=-1", "per_page"),
    ("per_page=ten", "per_page"),
    ("page=0", "page"),
    ("page=-3", "page"),
    ("page=1.5", "page"),
    ("page=", "page"),
    ("page=" + "9" * 4001, "page"),  # more digits than an int may have (Python's limit)
])
def test_out_of_range_paging_is_a_400_naming_the_parameter(client, auth, query, field):
    tokens = auth.register()
    response = client.get(f"{API}/addresses?{query}", headers=tokens.headers)
    body = assert_problem(response, 400, field)
    assert list(body["errors"]) == [field]


def test_both_bad_paging_parameters_are_named_at_once(client, auth):
    tokens = auth.register()
    response = client.get(f"{API}/addresses?page=0&per_page=101", headers=tokens.headers)
    assert_problem(response, 400, "page", "per_page")


def test_links_keep_the_other_query_parameters(client, auth):
    tokens = auth.register()
    me = auth.me(tokens)
    for n in range(2):
        create(client, tokens, n)
    response = client.get(f"{API}/addresses?user={me['id']}&per_page=1",
                          headers=tokens.headers)
    next_url = links(response)["next"]
    assert f"user={me['id']}" in next_url
    assert next_url.startswith("http://localhost/api/v1/addresses?")


# -- concurrency --------------------------------------------------------------


def test_concurrent_make_primary_requests_leave_exactly_one_primary(app, auth, client):
    """20 threads, each with its own client, each making a different address primary."""
    tokens = auth.register()
    addresses = [create(client, tokens, n)["id"] for n in range(20)]
    barrier = threading.Barrier(len(addresses))
    statuses: dict[str, int] = {}

    def make_primary(address_id: str) -> None:
        own_client = app.test_client()
        barrier.wait()
        response = own_client.patch(f"{API}/addresses/{address_id}", json={"is_primary": True},
                                    headers=tokens.headers)
        statuses[address_id] = response.status_code

    threads = [threading.Thread(target=make_primary, args=(a,)) for a in addresses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == {address_id: 200 for address_id in addresses}
    assert len(primaries(client, tokens)) == 1
    with app.app_context():
        count = _db.session.execute(select(func.count()).select_from(Address)
                                    .where(Address.is_primary.is_(True))).scalar_one()
    assert count == 1


def test_concurrent_first_addresses_make_exactly_one_primary(app, auth, client):
    """Of concurrent "first" addresses only one can be first."""
    tokens = auth.register()
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def add(n: int) -> None:
        own_client = app.test_client()
        barrier.wait()
        response = own_client.post(f"{API}/addresses", json=address_body(n),
                                   headers=tokens.headers)
        statuses.append(response.status_code)

    in_threads(add, 10)
    assert statuses == [201] * 10
    assert len(primaries(client, tokens)) == 1
