"""Errors in one place: every failure is problem JSON, never HTML or a stack trace."""

from __future__ import annotations

import json
import logging

import pytest

from helpers.accounts import PASSWORD
from helpers.problems import assert_problem

REGISTER = "/api/v1/auth/register"


@pytest.mark.parametrize("raw", [b"{bad json", b"{\"email\": }", b"\xff\xfe", b""])
def test_malformed_json_is_400(client, raw):
    response = client.post(REGISTER, data=raw, content_type="application/json")
    body = assert_problem(response, 400, "body")
    assert "JSON" in body["detail"]


@pytest.mark.parametrize("payload", [[], [1, 2], 5, "text", None, True])
def test_json_that_is_not_an_object_is_400(client, payload):
    response = client.post(REGISTER, data=json.dumps(payload), content_type="application/json")
    assert_problem(response, 400, "body")


def test_wrong_types_are_named(client):
    response = client.post(REGISTER, json={"email": ["a"], "password": 12345678, "name": {}})
    body = assert_problem(response, 400, "email", "password", "name")
    assert body["errors"]["password"] == ["must be a string"]


def test_body_over_the_limit_is_413_without_storing_anything(app, client, db):
    from usergate.models import User

    big = {"email": "big@example.com", "password": PASSWORD, "name": "x" * (70 * 1024)}
    assert_problem(client.post(REGISTER, json=big), 413)
    assert db.session.execute(db.select(User)).first() is None


def test_small_limit_is_configurable(make_app):
    app = make_app(MAX_CONTENT_LENGTH=100)
    response = app.test_client().post(REGISTER, json={"email": "a@example.com",
                                                      "password": "p" * 200})
    assert_problem(response, 413)


@pytest.mark.parametrize("kwargs", [
    {"data": "email=a@example.com", "content_type": "text/plain"},
    {"data": '{"email": "a@example.com"}'},  # no Content-Type at all
    {"data": {"email": "a@example.com", "password": PASSWORD}},  # a form where JSON is due
])
def test_wrong_content_type_is_415(client, kwargs):
    assert_problem(client.post(REGISTER, **kwargs), 415)


def test_unknown_url_is_404_problem(client):
    for url in ("/nope", "/api/v1/nope", "/api/v1/auth/nope"):
        assert_problem(client.get(url), 404)


def test_wrong_method_is_405_with_allow(client):
    response = client.get(REGISTER)
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_unexpected_exception_is_500_problem_logged_with_request_id(app, client, caplog):
    @app.route("/probe/boom")
    def boom():
        raise RuntimeError("secret internals")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    with caplog.at_level(logging.ERROR, logger="usergate"):
        response = client.get("/probe/boom", headers={"X-Request-ID": "req-42"})
    body = assert_problem(response, 500)
    text = response.get_data(as_text=True)
    assert "secret internals" not in text and "Traceback" not in text
    assert "req-42" in body["detail"]
    assert any("req-42" in record.getMessage() for record in caplog.records)


def test_every_response_has_request_id_and_nosniff(client):
    for response in (client.get("/api/v1/health"), client.get("/nope"),
                     client.post(REGISTER, json=[])):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Request-ID"]


@pytest.mark.parametrize("incoming, echoed", [
    ("abc-123_X.y", True),
    ("x" * 128, True),
    ("x" * 129, False),
    ("has space", False),
    ("semi;colon", False),
])
def test_request_id_is_echoed_only_when_well_formed(client, incoming, echoed):
    response = client.get("/api/v1/health", headers={"X-Request-ID": incoming})
    assert (response.headers["X-Request-ID"] == incoming) is echoed
    assert 1 <= len(response.headers["X-Request-ID"]) <= 128


def test_health(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_swagger_spec_declares_both_security_schemes(client):
    spec = client.get("/api/v1/swagger.json", base_url="https://auth.example.org").get_json()
    assert spec["swagger"] == "2.0"
    schemes = spec["securityDefinitions"]
    assert schemes["Bearer"] == {"type": "apiKey", "in": "header", "name": "Authorization",
                                 "description": schemes["Bearer"]["description"]}
    assert schemes["oauth2"]["flow"] == "password"
    assert schemes["oauth2"]["tokenUrl"] == "https://auth.example.org/api/v1/auth/token"
    user_op = spec["paths"]["/auth/user"]["get"]
    assert {"Bearer": []} in user_op["security"]
    assert "401" in user_op["responses"]
    assert spec["paths"]["/auth/login"]["post"]["security"] == []


def test_swagger_ui_is_served(client):
    response = client.get("/api/v1/ui")
    assert response.status_code == 200
    assert b"swagger" in response.data.lower()
