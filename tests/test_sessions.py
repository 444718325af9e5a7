"""Sessions: list, end one, log out everywhere, change the password (docs/api.md)."""

from __future__ import annotations

import re
import threading
import uuid

import pytest
from sqlalchemy import select

from helpers.accounts import PASSWORD, AuthActions
from helpers.problems import assert_invalid_token, assert_problem
from helpers.tokens import bearer, claims_of
from usergate import clock
from usergate.models import Session, User

API = "/api/v1/auth"
NEW_PASSWORD = "a completely new passphrase"
pytestmark = pytest.mark.usefixtures("clock")  # the service clock, reset after each test


def token_works(client, token: str) -> bool:
    response = client.get(f"{API}/user", headers=bearer(token))
    assert response.status_code in (200, 401), response.get_data(as_text=True)
    if response.status_code == 401:
        assert_invalid_token(response)
    return response.status_code == 200


def refresh_works(client, token: str) -> bool:
    response = client.post(f"{API}/refresh", headers=bearer(token))
    assert response.status_code in (200, 401), response.get_data(as_text=True)
    return response.status_code == 200


def not_fresh(client, tokens) -> str:
    """An access token from a refresh: valid, but never fresh."""
    response = client.post(f"{API}/refresh", headers=tokens.refresh_headers)
    assert response.status_code == 200
    return response.get_json()["access_token"]


def start_of_same_second(iat: int) -> None:
    """Stop the service clock in the middle of the second a token was issued in.

    The requests that follow then run in that same second however slow the machine
    is, so revoking by `iat` alone could not tell the old token from the new one.
    """
    clock.freeze()
    now = clock.utcnow()
    clock.advance(iat + 0.5 - clock.timestamp(now) - now.microsecond / 1e6)


def tokens_valid_after(app, email: str) -> int:
    with app.app_context():
        from usergate.extensions import db

        user = db.session.execute(select(User).where(User.email_key == email)).scalar_one()
        return clock.timestamp(user.tokens_valid_after)


def live_session_ids(app, email: str) -> set[str]:
    with app.app_context():
        from usergate.extensions import db

        rows = db.session.execute(
            select(Session.id).join(User, User.id == Session.user_id)
            .where(User.email_key == email, Session.revoked_at.is_(None))).scalars()
        return set(rows)


# --- POST /auth/logout-all ------------------------------------------------------------


def test_logout_all_revokes_every_session_of_the_user_only(client, auth):
    first = auth.register("ada@example.com")
    second = auth.login("ada@example.com")
    third = auth.login("ada@example.com")
    other = auth.register("bob@example.com")

    response = client.post(f"{API}/logout-all", headers=first.headers)
    assert response.status_code == 204
    assert response.get_data() == b""

    for tokens in (first, second, third):
        assert not token_works(client, tokens.access)
        assert not refresh_works(client, tokens.refresh)
    # Someone else's sessions are untouched.
    assert token_works(client, other.access)
    # Signing in again works, in a new session.
    again = auth.login("ada@example.com")
    assert token_works(client, again.access)


def test_logout_all_needs_a_fresh_token(client, auth):
    tokens = auth.register()
    response = client.post(f"{API}/logout-all", headers=bearer(not_fresh(client, tokens)))
    assert_problem(response, 401)
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_user_authentication"' in challenge
    assert 'max_age="900"' in challenge
    assert token_works(client, tokens.access)  # nothing was revoked


def test_logout_all_without_a_token_is_a_bare_challenge(client):
    response = client.post(f"{API}/logout-all")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="usergate"'


def test_logout_all_rejects_tokens_issued_in_the_same_second(app, client, auth):
    tokens = auth.register("ada@example.com")
    iat = claims_of(tokens.access)["iat"]
    start_of_same_second(iat)

    assert client.post(f"{API}/logout-all", headers=tokens.headers).status_code == 204
    after = auth.login("ada@example.com")

    # The precondition of this test: everything happened within one second, so
    # `iat < tokens_valid_after` cannot be what rejects the old token.
    assert tokens_valid_after(app, "ada@example.com") == iat
    assert claims_of(after.access)["iat"] == iat
    assert not token_works(client, tokens.access)
    assert not refresh_works(client, tokens.refresh)
    assert token_works(client, after.access)
    assert refresh_works(client, after.refresh)


def test_tokens_issued_before_logout_all_are_rejected_later_too(client, auth):
    tokens = auth.register("ada@example.com")
    clock.advance(5)
    fresh = auth.login("ada@example.com")
    assert client.post(f"{API}/logout-all", headers=fresh.headers).status_code == 204
    clock.advance(5)
    assert not token_works(client, tokens.access)
    assert token_works(client, auth.login("ada@example.com").access)


# --- PUT /auth/password ---------------------------------------------------------------


def change_password(client, tokens, current=PASSWORD, new=NEW_PASSWORD, **headers):
    return client.put(f"{API}/password", headers={**tokens.headers, **headers},
                      json={"current_password": current, "new_password": new})


def test_password_change_answers_new_tokens_in_a_new_session(app, client, auth):
    tokens = auth.register("ada@example.com")
    other = auth.login("ada@example.com")
    old_sid = claims_of(tokens.access)["sid"]

    response = change_password(client, tokens, **{"User-Agent": "pw-test/1.0"})
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token",
                         "refresh_expires_in"}
    assert body["token_type"] == "Bearer"
    new_claims = claims_of(body["access_token"])
    assert new_claims["sid"] != old_sid
    assert new_claims["fresh"] is True
    assert claims_of(body["refresh_token"])["sid"] == new_claims["sid"]

    # Every earlier session is revoked, the caller's own included.
    assert live_session_ids(app, "ada@example.com") == {new_claims["sid"]}
    for old in (tokens, other):
        assert not token_works(client, old.access)
        assert not refresh_works(client, old.refresh)
    assert token_works(client, body["access_token"])
    assert refresh_works(client, body["refresh_token"])

    # The new session is listed with the client that changed the password.
    me = client.get(f"{API}/sessions", headers=bearer(body["access_token"])).get_json()
    assert [s["user_agent"] for s in me["items"]] == ["pw-test/1.0"]

    # The password itself changed.
    old_login = client.post(f"{API}/login", json={"email": "ada@example.com",
                                                  "password": PASSWORD})
    assert_problem(old_login, 401)
    assert auth.login("ada@example.com", NEW_PASSWORD).access


def test_token_from_before_a_password_change_is_rejected_one_from_after_accepted(
        app, client, auth):
    before = auth.register("ada@example.com")
    iat = claims_of(before.access)["iat"]
    start_of_same_second(iat)

    response = change_password(client, before)
    assert response.status_code == 200
    after = response.get_json()
    relogin = auth.login("ada@example.com", NEW_PASSWORD)

    # All in one second: tokens_valid_after alone could not separate them.
    assert tokens_valid_after(app, "ada@example.com") == iat
    assert claims_of(after["access_token"])["iat"] == iat
    assert not token_works(client, before.access)
    assert token_works(client, after["access_token"])
    assert token_works(client, relogin.access)

    # And a second later nothing changes.
    clock.advance(1)
    assert not token_works(client, before.access)
    assert token_works(client, after["access_token"])


def test_wrong_current_password_is_a_400_naming_it_and_changes_nothing(client, auth):
    tokens = auth.register("ada@example.com")
    response = change_password(client, tokens, current="not the password at all")
    body = assert_problem(response, 400, "current_password")
    assert set(body["errors"]) == {"current_password"}
    assert token_works(client, tokens.access)
    assert auth.login("ada@example.com", PASSWORD).access


@pytest.mark.parametrize(("payload", "fields"), [
    ({"current_password": PASSWORD, "new_password": "short"}, {"new_password"}),
    ({"current_password": PASSWORD, "new_password": "x" * 257}, {"new_password"}),
    ({}, {"current_password", "new_password"}),
    ({"current_password": PASSWORD}, {"new_password"}),
    ({"current_password": 5, "new_password": NEW_PASSWORD}, {"current_password"}),
    ({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "email": "x@example.com"},
     {"email"}),
])
def test_password_change_validates_the_body(client, auth, payload, fields):
    tokens = auth.register()
    response = client.put(f"{API}/password", headers=tokens.headers, json=payload)
    body = assert_problem(response, 400, *fields)
    assert set(body["errors"]) == fields
    assert token_works(client, tokens.access)


def test_password_change_needs_json(client, auth):
    tokens = auth.register()
    response = client.put(f"{API}/password", headers=tokens.headers,
                          data="current_password=x&new_password=y",
                          content_type="application/x-www-form-urlencoded")
    assert_problem(response, 415)
    response = client.put(f"{API}/password", headers=tokens.headers, data="{not json",
                          content_type="application/json")
    assert_problem(response, 400)


def test_password_change_needs_a_fresh_token(client, auth):
    tokens = auth.register("ada@example.com")
    response = change_password(client, type(tokens)(not_fresh(client, tokens), None, {}))
    assert_problem(response, 401)
    assert 'error="insufficient_user_authentication"' in response.headers["WWW-Authenticate"]
    assert auth.login("ada@example.com", PASSWORD).access


def test_password_change_checks_the_token_before_the_body(client):
    response = client.put(f"{API}/password", json={"bogus": 1})
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="usergate"'


def test_a_token_past_the_fresh_max_age_is_not_fresh_enough(make_app):

    app = make_app(JWT_ACCESS_TOKEN_EXPIRES=3600)
    client = app.test_client()
    tokens = AuthActions(app, client).register()
    clock.advance(901)  # JWT_FRESH_MAX_AGE is 900 s; the token itself is still valid
    response = change_password(client, tokens)
    assert_problem(response, 401)
    assert 'error="insufficient_user_authentication"' in response.headers["WWW-Authenticate"]
    assert token_works(client, tokens.access)


def test_password_change_is_rate_limited_like_fresh_login(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_AUTH="2/minute")
    client = app.test_client()
    tokens = AuthActions(app, client).register()
    for _ in range(2):
        wrong = change_password(client, tokens, current="a wrong guess at it")
        assert_problem(wrong, 400, "current_password")
    limited = change_password(client, tokens)
    assert_problem(limited, 429)
    assert int(limited.headers["Retry-After"]) > 0
    assert token_works(client, tokens.access)  # the limit changed nothing


def test_concurrent_password_changes_on_one_session_exactly_one_wins(app, auth):
    tokens = auth.register("ada@example.com")
    results: dict[str, tuple[int, dict]] = {}
    barrier = threading.Barrier(10)

    def change(new_password: str):
        client = app.test_client()
        barrier.wait()
        response = client.put(f"{API}/password", headers=tokens.headers, json={
            "current_password": PASSWORD, "new_password": new_password})
        results[new_password] = (response.status_code, response.get_json())

    passwords = [f"new passphrase number {n}" for n in range(10)]
    threads = [threading.Thread(target=change, args=(pw,)) for pw in passwords]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(status for status, _ in results.values())
    assert statuses == [200] + [401] * 9, results
    (winner,) = [pw for pw, (status, _) in results.items() if status == 200]
    # The winner's password is the one in force, and only the winner's session lives.
    assert auth.login("ada@example.com", winner).access
    for loser in set(passwords) - {winner}:
        response = auth.client.post(f"{API}/login", json={"email": "ada@example.com",
                                                          "password": loser})
        assert response.status_code == 401
    winner_sid = claims_of(results[winner][1]["access_token"])["sid"]
    assert winner_sid in live_session_ids(app, "ada@example.com")
    assert claims_of(tokens.access)["sid"] not in live_session_ids(app, "ada@example.com")


# --- GET /auth/sessions ---------------------------------------------------------------


RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def list_sessions(client, tokens, **params):
    return client.get(f"{API}/sessions", headers=tokens.headers, query_string=params)


def test_sessions_lists_live_sessions_with_their_fields(client, auth):
    first = auth.register("ada@example.com")
    clock.advance(2)
    client.post(f"{API}/login", json={"email": "ada@example.com", "password": PASSWORD},
                headers={"User-Agent": "phone/2.0"})
    auth.register("bob@example.com")  # someone else's session is never listed

    response = list_sessions(client, first)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert {k: body[k] for k in ("page", "per_page", "total", "pages")} == {
        "page": 1, "per_page": 20, "total": 2, "pages": 1}
    newest, oldest = body["items"]
    assert set(newest) == {"id", "created_at", "last_used_at", "expires_at", "user_agent",
                           "ip", "current"}
    assert newest["user_agent"] == "phone/2.0" and newest["current"] is False
    assert oldest["id"] == claims_of(first.access)["sid"] and oldest["current"] is True
    assert oldest["ip"] == "127.0.0.1"
    for item in body["items"]:
        for name in ("created_at", "last_used_at", "expires_at"):
            assert RFC3339.fullmatch(item[name]), item[name]
        uuid.UUID(item["id"])
    assert newest["created_at"] > oldest["created_at"]


def test_sessions_leaves_out_revoked_and_expired_ones(make_app):
    app = make_app(JWT_REFRESH_TOKEN_EXPIRES=1000)
    client = app.test_client()

    auth = AuthActions(app, client)
    old = auth.register("ada@example.com")
    clock.advance(600)
    logged_out = auth.login("ada@example.com")
    assert client.post(f"{API}/logout", headers=logged_out.headers).status_code == 204
    current = auth.login("ada@example.com")
    clock.advance(500)  # the first session (1000 s) is past its expiry, the rest are not

    body = list_sessions(client, current).get_json()
    assert [item["id"] for item in body["items"]] == [claims_of(current.access)["sid"]]
    assert body["total"] == 1
    assert not refresh_works(client, old.refresh)


def test_sessions_last_used_at_follows_refresh(client, auth):
    tokens = auth.register()
    before = list_sessions(client, tokens).get_json()["items"][0]
    clock.advance(120)
    response = client.post(f"{API}/refresh", headers=tokens.refresh_headers)
    assert response.status_code == 200
    after = list_sessions(client, tokens).get_json()["items"][0]
    assert after["id"] == before["id"]
    assert after["created_at"] == before["created_at"]
    assert after["last_used_at"] > before["last_used_at"]
    assert after["expires_at"] > before["expires_at"]


def test_sessions_pages_and_link_header(client, auth):
    tokens = auth.register("ada@example.com")
    for _ in range(4):
        clock.advance(1)
        auth.login("ada@example.com")

    pages = [list_sessions(client, tokens, page=n, per_page=2) for n in (1, 2, 3)]
    bodies = [p.get_json() for p in pages]
    assert [b["total"] for b in bodies] == [5, 5, 5]
    assert [b["pages"] for b in bodies] == [3, 3, 3]
    assert [len(b["items"]) for b in bodies] == [2, 2, 1]
    ids = [item["id"] for b in bodies for item in b["items"]]
    assert len(set(ids)) == 5
    created = [item["created_at"] for b in bodies for item in b["items"]]
    assert created == sorted(created, reverse=True)  # newest first
    assert bodies[2]["items"][0]["current"] is True  # the oldest is this one

    def rels(response) -> dict[str, str]:
        found = re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["Link"])
        return {rel: url for url, rel in found}

    first, middle, last = (rels(p) for p in pages)
    assert set(first) == {"first", "next", "last"}
    assert set(middle) == {"first", "prev", "next", "last"}
    assert set(last) == {"first", "prev", "last"}
    assert "page=3" in middle["next"] and "per_page=2" in middle["next"]
    assert "page=1" in middle["prev"] and "page=3" in first["last"]
    assert middle["next"].startswith("http://localhost/api/v1/auth/sessions?")

    past = list_sessions(client, tokens, page=4, per_page=2)
    assert past.status_code == 200
    assert past.get_json()["items"] == [] and past.get_json()["total"] == 5


@pytest.mark.parametrize(("params", "field"), [
    *[({"page": value}, "page") for value in ("0", "-1", "abc", "1.5")],
    *[({"per_page": value}, "per_page") for value in ("0", "101", "ten", "")],
])
def test_sessions_page_arguments_out_of_range_are_a_400(client, auth, params, field):
    tokens = auth.register()
    body = assert_problem(list_sessions(client, tokens, **params), 400, field)
    assert set(body["errors"]) == {field}


def test_sessions_per_page_100_is_allowed(client, auth):
    tokens = auth.register()
    assert list_sessions(client, tokens, per_page=100).get_json()["per_page"] == 100


def test_sessions_needs_a_token(client):
    response = client.get(f"{API}/sessions")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="usergate"'


# --- DELETE /auth/sessions/{id} -------------------------------------------------------


def test_delete_session_ends_that_session_only(client, auth):
    mine = auth.register("ada@example.com")
    laptop = auth.login("ada@example.com")
    laptop_sid = claims_of(laptop.access)["sid"]

    response = client.delete(f"{API}/sessions/{laptop_sid}", headers=mine.headers)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert not token_works(client, laptop.access)
    assert not refresh_works(client, laptop.refresh)
    assert token_works(client, mine.access)
    ids = [s["id"] for s in list_sessions(client, mine).get_json()["items"]]
    assert ids == [claims_of(mine.access)["sid"]]

    # Gone now: a second DELETE finds nothing.
    again = client.delete(f"{API}/sessions/{laptop_sid}", headers=mine.headers)
    assert_problem(again, 404)


def test_delete_someone_elses_session_is_a_404_and_leaves_it_alone(client, auth):
    mine = auth.register("ada@example.com")
    theirs = auth.register("bob@example.com")
    response = client.delete(f"{API}/sessions/{claims_of(theirs.access)['sid']}",
                             headers=mine.headers)
    assert_problem(response, 404)
    assert token_works(client, theirs.access)


@pytest.mark.parametrize("session_id", [str(uuid.uuid4()), "not-a-uuid", "x" * 300])
def test_delete_unknown_session_is_a_404(client, auth, session_id):
    tokens = auth.register()
    assert_problem(client.delete(f"{API}/sessions/{session_id}", headers=tokens.headers), 404)


def test_delete_my_current_session_signs_me_out(client, auth):
    tokens = auth.register()
    sid = claims_of(tokens.access)["sid"]
    assert client.delete(f"{API}/sessions/{sid}", headers=tokens.headers).status_code == 204
    assert not token_works(client, tokens.access)
    assert not refresh_works(client, tokens.refresh)


def test_delete_session_needs_a_token(client, auth):
    tokens = auth.register()
    sid = claims_of(tokens.access)["sid"]
    response = client.delete(f"{API}/sessions/{sid}")
    assert_problem(response, 401)
    assert token_works(client, tokens.access)


def test_swagger_documents_these_endpoints(client):
    from flask_restx import schemas

    spec = client.get("/api/v1/swagger.json").get_json()
    schemas.validate(spec)  # still valid Swagger 2.0
    paths = spec["paths"]
    assert paths["/auth/jwks.json"]["get"]["security"] == []
    assert {"Bearer": []} in paths["/auth/logout-all"]["post"]["security"]
    assert "204" in paths["/auth/logout-all"]["post"]["responses"]
    password = paths["/auth/password"]["put"]
    assert {"200", "400", "401", "429"} <= set(password["responses"])
    assert password["parameters"][0]["schema"]["$ref"] == "#/definitions/PasswordChange"
    listing = paths["/auth/sessions"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"page", "per_page"}
    assert listing["responses"]["200"]["schema"]["$ref"] == "#/definitions/SessionList"
    assert "Link" in listing["responses"]["200"]["headers"]
    assert "404" in paths["/auth/sessions/{session_id}"]["delete"]["responses"]
    assert set(spec["definitions"]["SessionPublic"]["properties"]) == {
        "id", "created_at", "last_used_at", "expires_at", "user_agent", "ip", "current"}
