"""The password-reset page in a real headless Chromium, from a link in a real mail.

A live usergate (its own process, SQLite file) mails through aiosmtpd; the test
asks for a reset over HTTP, runs the deliverer, takes the link from the captured
message, opens it in Chromium, types a new password twice, submits, and then
signs in with the new password. The server's log is searched for the token.
Chromium is found and driven as in test_browser.py (skipped without it, a
failure with USERGATE_REQUIRE_CHROMIUM=1).
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
from clients_support import PASSWORD
from test_browser import WAIT, _no_proxy, browser  # noqa: F401 - fixtures

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers.settings import app_settings  # noqa: E402
from helpers.smtp import deliver, link_of  # noqa: E402

NEW_PASSWORD = "a passphrase typed in a browser"


def _deliverer_app(server):
    """An app in this process on the live server's database: the deliverer's side."""
    from usergate import create_app

    return create_app(app_settings(f"sqlite:///{server.db_path}",
                                   SECRET_KEY=server.env["SECRET_KEY"], **server_mail(server)))


def server_mail(server) -> dict:
    return {k: server.env[k] for k in ("MAIL_BACKEND", "MAIL_SERVER", "MAIL_PORT",
                                       "MAIL_DEFAULT_SENDER")}


def test_reset_page_sets_the_password_from_the_mailed_link(browser, start_server, smtp):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    server = start_server(**{k: str(v) for k, v in smtp.settings().items()})
    server.register("ada.reset@example.com")
    assert httpx.post(f"{server.api}/auth/password-reset", timeout=10,
                      json={"email": "ada.reset@example.com"}).status_code == 202
    app = _deliverer_app(server)
    assert deliver(app).sent == 2  # the verification of registering, and the reset
    (message,) = [m for m in smtp.to("ada.reset@example.com") if "Reset" in m["Subject"]]
    link, token = link_of(message)
    assert link.startswith(f"{server.url}/account/reset#token=")

    browser.get(link)
    wait = WebDriverWait(browser, WAIT)
    wait.until(ec.visibility_of_element_located((By.ID, "new_password")))
    # The token left the address bar (and so the history) once the script read it.
    assert token not in browser.current_url
    browser.find_element(By.ID, "new_password").send_keys(NEW_PASSWORD)
    browser.find_element(By.ID, "new_password_again").send_keys(NEW_PASSWORD)
    browser.find_element(By.ID, "submit").click()
    wait.until(lambda _: "done" in (browser.find_element(By.ID, "status")
                                    .get_attribute("class") or ""))
    assert "password is set" in browser.find_element(By.ID, "status").text
    errors = [entry for entry in browser.get_log("browser")
              if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]]
    assert not errors, errors  # no CSP violation, no script error

    login = {"email": "ada.reset@example.com"}
    assert httpx.post(f"{server.api}/auth/login", timeout=10,
                      json={**login, "password": NEW_PASSWORD}).status_code == 200
    assert httpx.post(f"{server.api}/auth/login", timeout=10,
                      json={**login, "password": PASSWORD}).status_code == 401

    # The link works once: opening it again and submitting says so.
    browser.get("about:blank")  # else only the fragment would change: no new page
    browser.get(link)
    wait.until(ec.visibility_of_element_located((By.ID, "new_password")))
    browser.find_element(By.ID, "new_password").send_keys("another passphrase")
    browser.find_element(By.ID, "new_password_again").send_keys("another passphrase")
    browser.find_element(By.ID, "submit").click()
    wait.until(lambda _: "error" in (browser.find_element(By.ID, "status")
                                     .get_attribute("class") or ""))
    assert "link" in browser.find_element(By.ID, "status").text

    log = server.log_path.read_text()
    assert "/account/reset" in log and "/password-reset/confirm" in log
    assert token not in log and NEW_PASSWORD not in log


def test_verify_page_confirms_the_email_from_the_mailed_link(browser, start_server, smtp):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    server = start_server(**{k: str(v) for k, v in smtp.settings().items()})
    tokens = server.register("ada.verify@example.com")
    assert deliver(_deliverer_app(server)).sent == 1
    link, token = link_of(smtp.to("ada.verify@example.com")[0])
    assert link.startswith(f"{server.url}/account/verify#token=")

    browser.get(link)
    wait = WebDriverWait(browser, WAIT)
    button = wait.until(ec.element_to_be_clickable((By.ID, "submit")))
    me = httpx.get(f"{server.api}/auth/user", timeout=10,
                   headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["email_verified"] is False  # opening the link alone verifies nothing
    button.click()
    wait.until(lambda _: "done" in (browser.find_element(By.ID, "status")
                                    .get_attribute("class") or ""))
    me = httpx.get(f"{server.api}/auth/user", timeout=10,
                   headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["email_verified"] is True
    assert token not in server.log_path.read_text()
