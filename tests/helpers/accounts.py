"""Accounts through the real HTTP endpoints: register, sign in, the headers of a token."""

from __future__ import annotations

from dataclasses import dataclass

from usergate.extensions import db as _db

PASSWORD = "correct horse battery"


@dataclass
class Tokens:
    access: str
    refresh: str | None
    body: dict

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.access}"}

    @property
    def refresh_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.refresh}"}


class AuthActions:
    """Register, sign in and build headers through the real HTTP endpoints."""

    def __init__(self, app, client):
        self.app = app
        self.client = client
        self._n = 0

    def register(self, email: str | None = None, password: str = PASSWORD, **extra) -> Tokens:
        if email is None:
            self._n += 1
            email = f"user{self._n}@example.com"
        response = self.client.post("/api/v1/auth/register",
                                    json={"email": email, "password": password, **extra})
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        return Tokens(body["access_token"], body["refresh_token"], body)

    def login(self, email: str, password: str = PASSWORD) -> Tokens:
        response = self.client.post("/api/v1/auth/login",
                                    json={"email": email, "password": password})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        return Tokens(body["access_token"], body["refresh_token"], body)

    def create_user(self, email: str, password: str = PASSWORD, *, admin: bool = False,
                    name: str | None = None):
        from usergate.services.accounts import create_user

        with self.app.app_context():
            user = create_user(email=email, password=password, admin=admin, name=name)
            _db.session.commit()
            return user.public_id

    def admin(self, email: str = "admin@example.com") -> Tokens:
        self.create_user(email, admin=True)
        return self.login(email)

    def me(self, tokens: Tokens) -> dict:
        response = self.client.get("/api/v1/auth/user", headers=tokens.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def update_me(self, tokens: Tokens, **fields):
        """PATCH the signed-in user's own /users/{id} with `fields`; the response."""
        user_id = self.me(tokens)["id"]
        return self.client.patch(f"/api/v1/users/{user_id}", json=fields,
                                 headers=tokens.headers)
