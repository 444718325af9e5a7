"""A two-factor user signs in through Swagger UI in a real headless Chromium (docs/mfa.md).

The OAuth2 password flow of the Authorize dialog cannot carry a second factor (the
password grant answers invalid_grant), so the user runs POST /auth/login with
"Try it out", copies the `mfa_token` of its 401 into Authorize -> Bearer, runs
POST /auth/mfa/verify with the code of the authenticator (pyotp here), and puts
the access token of that answer into the Bearer field for everything else.
Chromium, chromedriver and the skip rules: see test_browser.py.
"""

from __future__ import annotations

import json
import time

import httpx
import pyotp
from clients_support import PASSWORD
from test_browser import SwaggerPage, _no_proxy, browser  # noqa: F401 - fixtures


class MfaSwaggerPage(SwaggerPage):
    def execute_with_body(self, method: str, path: str, body: dict) -> tuple[str, str]:
        """Try it out, type the JSON body into the operation's textarea, Execute."""
        self.try_it_out(method, path)
        area = self.in_operation(method, path, "textarea.body-param__text")
        # Typing over the selected example replaces it, as after a person's select-all
        # (deleting it first would leave Swagger UI's "{}" in place).
        self.driver.execute_script("arguments[0].focus(); arguments[0].select();", area)
        area.send_keys(json.dumps(body))
        self.wait.until(lambda _: area.get_attribute("value") == json.dumps(body))
        return self.execute(method, path)


def test_a_two_factor_user_signs_in_with_login_verify_then_the_bearer_field(
        browser, usergate_server):  # noqa: F811
    api = usergate_server.api
    email = "ada.mfa.browser@example.com"
    tokens = usergate_server.register(email, name="Ada Lovelace")
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    secret = httpx.post(f"{api}/auth/mfa/totp", headers=auth, timeout=10).json()["secret"]
    totp = pyotp.TOTP(secret)  # the authenticator app
    confirmed = httpx.post(f"{api}/auth/mfa/totp/confirm", headers=auth, timeout=10,
                           json={"code": totp.at(int(time.time()) - 30)})
    assert confirmed.status_code == 200, confirmed.text

    page = MfaSwaggerPage(browser)
    page.open(f"{api}/ui")

    # 1. POST /auth/login: 401 mfa_required with the mfa token.
    status, body = page.execute_with_body("post", "/auth/login",
                                          {"email": email, "password": PASSWORD})
    assert status == "401", body
    answer = json.loads(body)
    assert answer["code"] == "mfa_required"

    # 2. The mfa token into Authorize -> Bearer; POST /auth/mfa/verify with the code.
    page.open_authorize_dialog()
    page.paste_bearer(f"Bearer {answer['mfa_token']}")
    page.close_dialog()
    status, body = page.execute_with_body("post", "/auth/mfa/verify", {"code": totp.now()})
    assert status == "200", body
    signed_in = json.loads(body)
    assert signed_in["token_type"] == "Bearer" and signed_in["refresh_token"]

    # The mfa token opens nothing else.
    status, body = page.execute("get", "/auth/user")
    assert status == "401", body
    assert "invalid_token" in body

    # 3. The access token into the Bearer field: signed in.
    page.open_authorize_dialog()
    page.click(page.buttons(page.auth_container("Bearer"), "Logout")[0])
    page.paste_bearer(f"Bearer {signed_in['access_token']}")
    page.close_dialog()
    status, body = page.execute("get", "/auth/user")
    assert status == "200", body
    me = json.loads(body)
    assert me["email"] == email and me["mfa_enabled"] is True and me["fresh"] is True
