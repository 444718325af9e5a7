"""Users (docs/api.md): listing for admins, self or admin access, PATCH and DELETE rules."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from helpers.accounts import PASSWORD
from helpers.paging import links, walk
from helpers.problems import assert_invalid_token, assert_problem
from usergate.extensions import db as _db
from usergate.models import Address, Session, User

API = "/api/v1"
UNKNOWN_ID = "5f0c6a0e-8a57-4a50-9a53-0f2f3c9d1e11"


def page_of(url: str) -> int:
    return int(re.search(r"[?&]page=(\d+)", url).group(1))


def not_fresh(client, tokens) -> dict:
    """Headers with an access token from a refresh: valid, but never fresh."""
    response = client.post(f"{API}/auth/refresh", headers=tokens.refresh_headers)
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def add_address(client, headers, n: int = 1) -> dict:
    response = client.post(f"{API}/addresses", headers=headers, json={
        "line1": f"{n} Main Street", "city": "Berlin", "postal_code": "10115", "country": "de"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def assert_insufficient_scope(response) -> None:
    assert_problem(response, 403)
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="admin"' in challenge


def assert_needs_fresh(response) -> None:
    assert_problem(response, 401)
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_user_authentication"' in challenge
    assert 'max_age="900"' in challenge


# -- GET /users ---------------------------------------------------------------


def test_listing_users_is_for_admins(client, auth):
    tokens = auth.register()
    assert_problem(client.get(f"{API}/users"), 401)
    assert_insufficient_scope(client.get(f"{API}/users", headers=tokens.headers))
    admin = auth.admin()
    response = client.get(f"{API}/users", headers=admin.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (1, 20, 2, 1)
    assert set(body["items"][0]) == {"id", "email", "name", "admin", "disabled",
                                     "registered_on", "email_verified", "mfa_enabled"}


def test_a_demoted_admins_token_no_longer_lists_users(client, auth, db):
    admin = auth.admin()
    auth.admin("second-admin@example.com")
    db.session.execute(db.update(User).where(User.email_key == "admin@example.com")
                       .values(admin=False))
    db.session.commit()
    assert_insufficient_scope(client.get(f"{API}/users", headers=admin.headers))


def test_q_matches_email_or_name_case_insensitively(client, auth):
    admin = auth.admin()
    auth.create_user("grace@navy.example", name="Grace Hopper")
    auth.create_user("ada@example.com", name="Ada Lovelace")
    auth.create_user("percent%@example.com", name="Under_score")

    def emails(query: str) -> list[str]:
        response = client.get(f"{API}/users", query_string={"q": query}, headers=admin.headers)
        assert response.status_code == 200
        return sorted(item["email"] for item in response.get_json()["items"])

    assert emails("HOPPER") == ["grace@navy.example"]
    assert emails("NAVY") == ["grace@navy.example"]
    assert emails("love") == ["ada@example.com"]
    assert emails("example.com") == ["ada@example.com", "admin@example.com",
                                     "percent%@example.com"]
    # LIKE wildcards in q are taken literally.
    assert emails("%") == ["percent%@example.com"]
    assert emails("_") == ["percent%@example.com"]
    assert emails("nobody-has-this") == []


def test_admin_filter(client, auth):
    admin = auth.admin()
    auth.create_user("boss@example.com", admin=True)
    auth.create_user("plain@example.com")
    for value, expected in (("true", {"admin@example.com", "boss@example.com"}),
                            ("false", {"plain@example.com"}),
                            ("FALSE", {"plain@example.com"})):
        response = client.get(f"{API}/users?admin={value}", headers=admin.headers)
        assert {item["email"] for item in response.get_json()["items"]} == expected


def test_sorts(client, auth, clock):
    admin = auth.admin("m-admin@example.com")
    for email in ("c@example.com", "A@example.com", "b@example.com"):
        clock.advance(10)
        auth.create_user(email)

    def order(sort: str | None) -> list[str]:
        query = f"?sort={sort}" if sort else ""
        response = client.get(f"{API}/users{query}", headers=admin.headers)
        assert response.status_code == 200
        return [item["email"] for item in response.get_json()["items"]]

    by_time = ["m-admin@example.com", "c@example.com", "A@example.com", "b@example.com"]
    assert order(None) == by_time
    assert order("registered_on") == by_time
    assert order("-registered_on") == by_time[::-1]
    # Case-insensitive over the whole address.
    assert order("email") == ["A@example.com", "b@example.com", "c@example.com",
                              "m-admin@example.com"]
    assert order("-email") == ["m-admin@example.com", "c@example.com", "b@example.com",
                               "A@example.com"]


def test_equal_sort_keys_page_stably_by_id(client, auth):
    admin = auth.admin()
    # Created in the same second: registered_on ties, the id decides.
    created = [auth.create_user(f"u{n}@example.com") for n in range(5)]
    seen = walk(client, f"{API}/users?per_page=2&admin=false", admin.headers)
    assert seen == created
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize("query, fields", [
    ("sort=name", ["sort"]),
    ("admin=maybe", ["admin"]),
    ("per_page=0", ["per_page"]),
    ("per_page=101", ["per_page"]),
    ("page=0&sort=x&admin=2", ["page", "sort", "admin"]),
    ("q=" + "x" * 321, ["q"]),
])
def test_bad_list_parameters_are_400s_naming_each(client, auth, query, fields):
    admin = auth.admin()
    body = assert_problem(client.get(f"{API}/users?{query}", headers=admin.headers), 400,
                          *fields)
    assert set(body["errors"]) == set(fields)


def test_user_pagination_edges(client, auth):
    admin = auth.admin()
    for n in range(4):
        auth.create_user(f"u{n}@example.com")

    empty = client.get(f"{API}/users?q=nobody", headers=admin.headers)
    assert empty.get_json() == {"items": [], "page": 1, "per_page": 20, "total": 0, "pages": 0}
    assert set(links(empty)) == {"first"}
    assert "q=nobody" in links(empty)["first"]

    one = client.get(f"{API}/users?per_page=1", headers=admin.headers)
    body = one.get_json()
    assert len(body["items"]) == 1 and (body["total"], body["pages"]) == (5, 5)
    rels = links(one)
    assert set(rels) == {"first", "next", "last"}
    assert (page_of(rels["first"]), page_of(rels["next"]), page_of(rels["last"])) == (1, 2, 5)

    last = client.get(f"{API}/users?per_page=2&page=3", headers=admin.headers)
    assert len(last.get_json()["items"]) == 1
    rels = links(last)
    assert set(rels) == {"first", "prev", "last"} and page_of(rels["prev"]) == 2

    hundred = client.get(f"{API}/users?per_page=100", headers=admin.headers)
    assert len(hundred.get_json()["items"]) == 5 and set(links(hundred)) == {"first", "last"}

    past = client.get(f"{API}/users?page=9", headers=admin.headers)
    assert past.status_code == 200 and past.get_json()["items"] == []
    assert page_of(links(past)["prev"]) == 1


# -- POST /users ----------------------------------------------------------------


def test_admin_creates_a_user_with_location(client, auth):
    admin = auth.admin()
    response = client.post(f"{API}/users", headers=admin.headers, json={
        "email": " New.Admin@EXAMPLE.com ", "password": "a long password", "name": "New",
        "admin": True})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["email"] == "New.Admin@example.com" and body["admin"] is True
    assert response.headers["Location"] == f"/api/v1/users/{body['id']}"
    assert client.get(response.headers["Location"], headers=admin.headers).get_json() == body
    # The new admin can sign in and is an admin.
    assert auth.me(auth.login("new.admin@example.com", "a long password"))["admin"] is True


def test_created_user_is_not_admin_by_default(client, auth):
    admin = auth.admin()
    response = client.post(f"{API}/users", headers=admin.headers,
                           json={"email": "p@example.com", "password": PASSWORD})
    assert response.status_code == 201 and response.get_json()["admin"] is False


def test_creating_users_is_for_admins(client, auth):
    tokens = auth.register()
    response = client.post(f"{API}/users", headers=tokens.headers,
                           json={"email": "x@example.com", "password": PASSWORD})
    assert_insufficient_scope(response)


@pytest.mark.parametrize("body, fields", [
    ({"email": "nope", "password": "short"}, ["email", "password"]),
    ({"password": PASSWORD}, ["email"]),
    ({"email": "x@example.com", "password": PASSWORD, "admin": "yes"}, ["admin"]),
    ({"email": "x@example.com", "password": PASSWORD, "disabled": True}, ["disabled"]),
])
def test_invalid_user_bodies_are_400(client, auth, body, fields):
    admin = auth.admin()
    assert_problem(client.post(f"{API}/users", headers=admin.headers, json=body), 400, *fields)


def test_creating_a_taken_email_is_409(client, auth):
    admin = auth.admin()
    auth.create_user("taken@example.com")
    response = client.post(f"{API}/users", headers=admin.headers,
                           json={"email": "TAKEN@example.com", "password": PASSWORD})
    assert_problem(response, 409)


# -- GET /users/{id} --------------------------------------------------------------


def test_register_location_is_the_users_url(client):
    response = client.post(f"{API}/auth/register",
                           json={"email": "loc@example.com", "password": PASSWORD})
    token = response.get_json()["access_token"]
    user = client.get(response.headers["Location"], headers={"Authorization": f"Bearer {token}"})
    assert user.status_code == 200
    assert user.get_json()["email"] == "loc@example.com"
    assert response.headers["Location"].endswith(user.get_json()["id"])


def test_a_user_reads_themself_but_another_is_404(client, auth):
    first = auth.register()
    first_id = auth.me(first)["id"]
    second = auth.register()
    response = client.get(f"{API}/users/{first_id}", headers=first.headers)
    assert response.status_code == 200
    assert response.get_json() == {k: v for k, v in auth.me(first).items()
                                   if k not in ("token_expires_in", "fresh", "session_id")}
    assert response.headers["Cache-Control"] == "no-store"
    other = client.get(f"{API}/users/{first_id}", headers=second.headers)
    unknown = client.get(f"{API}/users/{UNKNOWN_ID}", headers=second.headers)
    assert_problem(other, 404)
    assert other.get_json() == unknown.get_json()  # indistinguishable
    assert_problem(client.get(f"{API}/users/not-a-uuid", headers=second.headers), 404)


def test_an_admin_reads_anyone(client, auth):
    user_id = auth.create_user("someone@example.com")
    admin = auth.admin()
    response = client.get(f"{API}/users/{user_id}", headers=admin.headers)
    assert response.status_code == 200 and response.get_json()["email"] == "someone@example.com"
    # Upper-case UUIDs name the same user.
    assert client.get(f"{API}/users/{user_id.upper()}", headers=admin.headers).status_code == 200
    assert_problem(client.get(f"{API}/users/{UNKNOWN_ID}", headers=admin.headers), 404)


def test_users_need_a_token(client, auth):
    user_id = auth.create_user("someone@example.com")
    for method in (client.get, client.patch, client.delete):
        response = method(f"{API}/users/{user_id}")
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="usergate"'


# -- PATCH /users/{id} ------------------------------------------------------------


def test_a_user_changes_their_name(client, auth):
    tokens = auth.register(name="Old")
    user_id = auth.me(tokens)["id"]
    # A name needs no fresh token.
    headers = not_fresh(client, tokens)
    response = client.patch(f"{API}/users/{user_id}", json={"name": "  New Name "},
                            headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["name"] == "New Name"
    response = client.patch(f"{API}/users/{user_id}", json={"name": None}, headers=headers)
    assert response.get_json()["name"] is None


@pytest.mark.parametrize("body, fields", [
    ({"nickname": "x"}, ["nickname"]),
    ({"id": UNKNOWN_ID, "registered_on": "2020-01-01T00:00:00Z"}, ["id", "registered_on"]),
    ({"password": PASSWORD}, ["password"]),
    ({"email": "not an email"}, ["email"]),
    ({"name": "x" * 201}, ["name"]),
])
def test_unknown_or_invalid_patch_fields_are_400(client, auth, body, fields):
    tokens = auth.register()
    user_id = auth.me(tokens)["id"]
    assert_problem(client.patch(f"{API}/users/{user_id}", json=body, headers=tokens.headers),
                   400, *fields)


@pytest.mark.parametrize("field, value", [("admin", True), ("disabled", False),
                                          ("admin", False)])
def test_a_non_admin_sending_admin_or_disabled_is_403(client, auth, field, value):
    tokens = auth.register()
    user_id = auth.me(tokens)["id"]
    response = client.patch(f"{API}/users/{user_id}", json={field: value, "name": "X"},
                            headers=tokens.headers)
    assert_insufficient_scope(response)
    me = auth.me(tokens)
    assert me["admin"] is False and me["name"] is None  # nothing changed


def test_a_user_cannot_patch_another_user(client, auth):
    victim = auth.register()
    victim_id = auth.me(victim)["id"]
    attacker = auth.register()
    response = client.patch(f"{API}/users/{victim_id}", json={"name": "pwned"},
                            headers=attacker.headers)
    assert_problem(response, 404)
    assert auth.me(victim)["name"] is None


def test_changing_the_email_needs_a_fresh_token(client, auth):
    tokens = auth.register("old@example.com")
    user_id = auth.me(tokens)["id"]
    stale = not_fresh(client, tokens)
    response = client.patch(f"{API}/users/{user_id}", json={"email": "new@example.com"},
                            headers=stale)
    assert_needs_fresh(response)
    assert auth.me(tokens)["email"] == "old@example.com"
    # The same email again is no change, so no fresh token is needed.
    response = client.patch(f"{API}/users/{user_id}", json={"email": "old@example.com"},
                            headers=stale)
    assert response.status_code == 200

    response = client.patch(f"{API}/users/{user_id}", json={"email": "New@Example.COM"},
                            headers=tokens.headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["email"] == "New@example.com"
    auth.login("new@example.com")
    response = client.post(f"{API}/auth/login",
                           json={"email": "old@example.com", "password": PASSWORD})
    assert_problem(response, 401)


def test_an_admin_changing_someones_email_needs_a_fresh_token_too(client, auth):
    tokens = auth.admin()
    user_id = auth.create_user("victim@example.com")
    response = client.patch(f"{API}/users/{user_id}", json={"email": "evil@example.com"},
                            headers=not_fresh(client, tokens))
    assert_needs_fresh(response)
    response = client.patch(f"{API}/users/{user_id}", json={"email": "fixed@example.com"},
                            headers=tokens.headers)
    assert response.status_code == 200


def test_changing_to_a_taken_email_is_409(auth):
    auth.create_user("taken@example.com")
    tokens = auth.register("mine@example.com")
    assert_problem(auth.update_me(tokens, email="TAKEN@example.com"), 409)
    # Changing only the case of one's own address is not a conflict with oneself.
    response = auth.update_me(tokens, email="Mine@example.com")
    assert response.status_code == 200 and response.get_json()["email"] == "Mine@example.com"


def test_an_admin_promotes_and_demotes(client, auth):
    admin = auth.admin()
    user_id = auth.create_user("someone@example.com")
    response = client.patch(f"{API}/users/{user_id}", json={"admin": True},
                            headers=not_fresh(client, admin))
    assert response.status_code == 200 and response.get_json()["admin"] is True
    response = client.patch(f"{API}/users/{user_id}", json={"admin": False},
                            headers=admin.headers)
    assert response.status_code == 200 and response.get_json()["admin"] is False


def test_the_last_admin_can_neither_be_demoted_disabled_nor_deleted(client, auth, db):
    admin = auth.admin()
    admin_id = auth.me(admin)["id"]
    for body in ({"admin": False}, {"disabled": True}, {"admin": False, "name": "x"}):
        assert_problem(client.patch(f"{API}/users/{admin_id}", json=body,
                                    headers=admin.headers), 409)
    assert_problem(client.delete(f"{API}/users/{admin_id}", headers=admin.headers), 409)
    me = auth.me(admin)
    assert me["admin"] is True and me["disabled"] is False and me["name"] is None

    # With a second admin, one may go; then the other is the last one.
    second = auth.admin("second@example.com")
    second_id = auth.me(second)["id"]
    response = client.patch(f"{API}/users/{admin_id}", json={"admin": False},
                            headers=admin.headers)
    assert response.status_code == 200
    assert_problem(client.patch(f"{API}/users/{second_id}", json={"admin": False},
                                headers=second.headers), 409)
    assert_problem(client.delete(f"{API}/users/{second_id}", headers=second.headers), 409)
    assert db.session.execute(select(func.count()).select_from(User)
                              .where(User.admin.is_(True))).scalar_one() == 1


def test_a_disabled_admin_does_not_count_as_the_other_admin(client, auth):
    admin = auth.admin()
    admin_id = auth.me(admin)["id"]
    other_id = auth.create_user("other-admin@example.com", admin=True)
    response = client.patch(f"{API}/users/{other_id}", json={"disabled": True},
                            headers=admin.headers)
    assert response.status_code == 200
    assert_problem(client.patch(f"{API}/users/{admin_id}", json={"admin": False},
                                headers=admin.headers), 409)
    # Deleting the disabled admin leaves the enabled one: allowed.
    assert client.delete(f"{API}/users/{other_id}", headers=admin.headers).status_code == 204


# -- disabling --------------------------------------------------------------------


def test_disabling_a_user_rejects_their_tokens_and_login(client, auth):
    admin = auth.admin()
    tokens = auth.register("victim@example.com")
    second_session = auth.login("victim@example.com")
    user_id = auth.me(tokens)["id"]

    response = client.patch(f"{API}/users/{user_id}", json={"disabled": True},
                            headers=admin.headers)
    assert response.status_code == 200 and response.get_json()["disabled"] is True

    for session in (tokens, second_session):
        assert_invalid_token(client.get(f"{API}/auth/user", headers=session.headers))
        assert_invalid_token(client.get(f"{API}/users/{user_id}", headers=session.headers))
        assert_invalid_token(client.post(f"{API}/auth/refresh",
                                         headers=session.refresh_headers))
    response = client.post(f"{API}/auth/login",
                           json={"email": "victim@example.com", "password": PASSWORD})
    assert_problem(response, 403)

    # Enabling again lets the user sign in, but revives no old session.
    response = client.patch(f"{API}/users/{user_id}", json={"disabled": False},
                            headers=admin.headers)
    assert response.status_code == 200 and response.get_json()["disabled"] is False
    assert_invalid_token(client.get(f"{API}/auth/user", headers=tokens.headers))
    assert_invalid_token(client.post(f"{API}/auth/refresh", headers=tokens.refresh_headers))
    auth.me(auth.login("victim@example.com"))


def test_disabling_revokes_every_session_in_the_database(client, auth, db):
    admin = auth.admin()
    tokens = auth.register("victim@example.com")
    auth.login("victim@example.com")
    user_id = auth.me(tokens)["id"]
    client.patch(f"{API}/users/{user_id}", json={"disabled": True}, headers=admin.headers)
    live = db.session.execute(
        select(func.count()).select_from(Session).join(User)
        .where(User.public_id == user_id, Session.revoked_at.is_(None))).scalar_one()
    assert live == 0


# -- DELETE /users/{id} --------------------------------------------------------------


def test_deleting_yourself_needs_a_fresh_token(client, auth, db):
    tokens = auth.register("leaving@example.com")
    user_id = auth.me(tokens)["id"]
    add_address(client, tokens.headers, 1)
    add_address(client, tokens.headers, 2)
    assert_needs_fresh(client.delete(f"{API}/users/{user_id}",
                                     headers=not_fresh(client, tokens)))
    assert auth.me(tokens)["id"] == user_id  # still there

    response = client.delete(f"{API}/users/{user_id}", headers=tokens.headers)
    assert response.status_code == 204 and response.get_data() == b""

    assert_invalid_token(client.get(f"{API}/auth/user", headers=tokens.headers))
    assert_invalid_token(client.post(f"{API}/auth/refresh", headers=tokens.refresh_headers))
    assert db.session.execute(select(func.count()).select_from(Address)).scalar_one() == 0
    assert db.session.execute(select(func.count()).select_from(Session)).scalar_one() == 0
    assert_problem(client.post(f"{API}/auth/login",
                               json={"email": "leaving@example.com", "password": PASSWORD}),
                   401)
    # The email is free again.
    auth.register("leaving@example.com")


def test_an_admin_deletes_a_user_with_addresses_and_sessions(client, auth, db):
    victim = auth.register("victim@example.com")
    other_session = auth.login("victim@example.com")
    victim_id = auth.me(victim)["id"]
    address = add_address(client, victim.headers)
    bystander = auth.register("bystander@example.com")
    kept = add_address(client, bystander.headers)
    admin = auth.admin()

    response = client.delete(f"{API}/users/{victim_id}", headers=not_fresh(client, admin))
    assert response.status_code == 204
    for session in (victim, other_session):
        assert_invalid_token(client.get(f"{API}/auth/user", headers=session.headers))
        assert_invalid_token(client.post(f"{API}/auth/refresh",
                                         headers=session.refresh_headers))
    assert_problem(client.get(f"{API}/addresses/{address['id']}", headers=admin.headers), 404)
    assert_problem(client.get(f"{API}/users/{victim_id}", headers=admin.headers), 404)
    assert_problem(client.delete(f"{API}/users/{victim_id}", headers=admin.headers), 404)
    # Nobody else lost anything.
    assert client.get(f"{API}/addresses/{kept['id']}",
                      headers=bystander.headers).status_code == 200
    assert auth.me(bystander)["email"] == "bystander@example.com"


def test_a_user_cannot_delete_another_user(client, auth):
    victim = auth.register()
    victim_id = auth.me(victim)["id"]
    attacker = auth.register()
    assert_problem(client.delete(f"{API}/users/{victim_id}", headers=attacker.headers), 404)
    assert auth.me(victim)["id"] == victim_id


# -- GET /users/{id}/addresses ----------------------------------------------------------


def test_a_users_addresses_for_self_and_admin_only(client, auth):
    owner = auth.register()
    owner_id = auth.me(owner)["id"]
    created = [add_address(client, owner.headers, n)["id"] for n in range(3)]
    response = client.get(f"{API}/users/{owner_id}/addresses?per_page=2", headers=owner.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert [item["id"] for item in body["items"]] == created[:2]
    assert (body["total"], body["pages"]) == (3, 2)
    assert page_of(links(response)["next"]) == 2
    assert links(response)["next"].startswith(f"http://localhost/api/v1/users/{owner_id}/addresses?")

    other = auth.register()
    assert_problem(client.get(f"{API}/users/{owner_id}/addresses", headers=other.headers), 404)
    admin = auth.admin()
    response = client.get(f"{API}/users/{owner_id}/addresses", headers=admin.headers)
    assert [item["id"] for item in response.get_json()["items"]] == created
    assert_problem(client.get(f"{API}/users/{owner_id}/addresses?per_page=101",
                              headers=admin.headers), 400, "per_page")
    assert_problem(client.get(f"{API}/users/{UNKNOWN_ID}/addresses", headers=admin.headers), 404)


def test_swagger_documents_the_new_models_with_examples(client):
    from flask_restx import schemas

    spec = client.get(f"{API}/swagger.json").get_json()
    schemas.validate(spec)  # valid Swagger 2.0 as served
    definitions = spec["definitions"]
    for name in ("UserPublic", "UserUpdate", "AdminUserCreate", "UserPage", "AddressCreate",
                 "AddressReplace", "AddressUpdate", "AddressPublic", "AddressPage"):
        assert name in definitions, name
        for field, schema in definitions[name]["properties"].items():
            if "$ref" in schema or schema.get("type") == "array":
                continue
            assert "example" in schema, (name, field)
    assert "items" in definitions["AddressPage"]["properties"]
    assert definitions["AdminUserCreate"]["additionalProperties"] is False
    paths = spec["paths"]
    assert {"/users", "/users/{user_id}", "/users/{user_id}/addresses", "/addresses",
            "/addresses/{address_id}"} <= set(paths)
    params = {p["name"] for p in paths["/users"]["get"]["parameters"]}
    assert {"page", "per_page", "q", "admin", "sort"} <= params
    for path in ("/users", "/addresses", "/users/{user_id}/addresses"):
        assert "Link" in paths[path]["get"]["responses"]["200"]["headers"]


def test_two_admins_demoting_each_other_at_once_leave_one_admin(app, auth):
    """Both see another admin when they start; only one may win."""
    import threading

    first = auth.admin("first@example.com")
    second = auth.admin("second@example.com")
    targets = [(first, auth.me(second)["id"]), (second, auth.me(first)["id"])]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def demote(tokens, target_id: str) -> None:
        own_client = app.test_client()
        barrier.wait()
        response = own_client.patch(f"{API}/users/{target_id}", json={"admin": False},
                                    headers=tokens.headers)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=demote, args=pair) for pair in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The loser either saw the winner's change after taking the lock (409), or
    # was no longer an admin when its token was checked (404: not its user).
    assert sorted(statuses) in ([200, 409], [200, 404])
    with app.app_context():
        admins = _db.session.execute(select(func.count()).select_from(User)
                                     .where(User.admin.is_(True))).scalar_one()
    assert admins == 1
