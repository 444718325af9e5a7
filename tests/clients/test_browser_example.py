"""examples/browser/ in a real headless Chromium, against a live usergate on another origin.

The example page is served by a static server on one local origin
(``http://127.0.0.1:<port A>``) and talks to usergate on another
(``http://127.0.0.1:<port B>``: the same site, as app.example.com and id.example.com
are), with the cookie transport, CORS for the page's origin and development
settings (``Secure`` dropped on http://localhost). It signs in, survives a reload
(a refresh by cookie), opens a second tab, and both tabs refresh at the same
moment: with REFRESH_REUSE_GRACE both stay signed in, without it the race ends the
session (reuse, as docs/api.md says). Logging out in one tab signs the other out on its next
request. Answers to /auth/refresh reach the browser 0.6 s late (a slow network,
USERGATE_TEST_LATENCY), so the two tabs' requests overlap for certain.

Over plain HTTP (httpx): every attribute of both cookies as sent on the wire,
and CSRF / Origin refusals that change nothing.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from clients_support import PASSWORD, REPO
from test_browser import WAIT, chromium_driver

from helpers.cookies import parse_set_cookies

EXAMPLE = REPO / "examples" / "browser"
LATENCY = 0.6


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test log is not the place for access lines
        pass


@pytest.fixture(scope="module")
def page_origin():
    """The example folder served as-is by a static server: the front-end's origin."""
    handler = functools.partial(_QuietHandler, directory=str(EXAMPLE))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def chromium(tmp_path):
    # Two tabs race: neither may be slowed down for being in the background.
    driver = chromium_driver(tmp_path, "--disable-background-timer-throttling",
                             "--disable-renderer-backgrounding",
                             "--disable-backgrounding-occluded-windows", "--window-size=1000,900")
    yield driver
    driver.quit()


def start_api(start_server, page_origin: str, **settings):
    return start_server(USERGATE_CONFIG="development", CORS_ORIGINS=page_origin,
                        USERGATE_TEST_LATENCY=f"/api/v1/auth/refresh={LATENCY}", **settings)


class ExamplePage:
    def __init__(self, driver, url: str):
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.url = url
        self.wait = WebDriverWait(driver, WAIT)

    def state(self) -> str:
        return self.driver.execute_script("return document.body.dataset.state")

    def wait_for(self, state: str) -> None:
        self.wait.until(lambda _: self.state() == state,
                        f"the page never became {state}: {self.log()}")

    def log(self) -> str:
        return self.driver.execute_script("return document.getElementById('log').innerText")

    def email(self) -> str | None:
        return self.driver.execute_script("return document.body.dataset.email || null")

    def open(self) -> None:
        self.driver.get(self.url)
        self.wait.until(lambda _: self.state() in ("signed-in", "signed-out"))

    def sign_in(self, email: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.ID, "email").send_keys(email)
        self.driver.find_element(By.ID, "password").send_keys(PASSWORD)
        self.driver.find_element(By.ID, "signin-button").click()
        self.wait_for("signed-in")

    def click(self, button: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.ID, button).click()

    def start(self, function: str) -> None:
        """Start usergate.<function>() and return at once; result() collects its answer."""
        self.driver.execute_script(
            f"window.__result = undefined; usergate.{function}()"
            ".then(s => { window.__result = s; }, e => { window.__result = String(e); });")

    def result(self):
        self.wait.until(lambda _: self.driver.execute_script("return window.__result")
                        is not None, f"no answer: {self.log()}")
        return self.driver.execute_script("return window.__result")


def session_row(server, email: str):
    with sqlite3.connect(server.db_path) as conn:
        return conn.execute(
            "SELECT s.refresh_count, s.revoked_at IS NOT NULL, s.refresh_jti FROM sessions s "
            "JOIN users u ON u.id = s.user_id WHERE u.email_key = ? "
            "ORDER BY s.created_at DESC LIMIT 1", (email,)).fetchone()


def all_cookies(driver) -> list[dict]:
    """Every cookie of the browser (WebDriver's own call sees only the page's path)."""
    return driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]


def refresh_cookie(driver) -> dict:
    (cookie,) = [c for c in all_cookies(driver) if c["name"] == "usergate_refresh"]
    return cookie


def two_tabs_signed_in(chromium, server, page_origin, email):
    """Sign in in tab 1, reload it, open tab 2: both signed in by the one cookie."""
    server.register(email)
    page = ExamplePage(chromium, f"{page_origin}/index.html?api={server.api}")
    page.open()
    assert page.state() == "signed-out"
    page.sign_in(email)
    assert page.email() == email
    cookie = refresh_cookie(chromium)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/api/v1/auth"
    # Script in the page cannot read the refresh token; it sees the CSRF cookie only
    # (cookies ignore ports: the page and the API share 127.0.0.1 here).
    seen = chromium.execute_script("return document.cookie")
    assert cookie["value"] not in seen and "usergate_refresh" not in seen

    chromium.refresh()  # a reload forgets the access token: the cookie signs in again
    page.wait_for("signed-in")
    assert "POST /auth/refresh -> 200" in page.log()
    tab1 = chromium.current_window_handle
    chromium.switch_to.new_window("tab")
    page.open()
    page.wait_for("signed-in")
    assert page.email() == email
    tab2 = chromium.current_window_handle
    return page, tab1, tab2


def race(chromium, page, tabs):
    for tab in tabs:
        chromium.switch_to.window(tab)
        page.start("refresh")
    results = []
    for tab in tabs:
        chromium.switch_to.window(tab)
        results.append(page.result())
    return results


def test_example_page_two_tabs_with_the_grace_stay_signed_in_and_log_out_together(
        chromium, start_server, page_origin, capsys):
    server = start_api(start_server, page_origin, REFRESH_REUSE_GRACE="10")
    email = "tabs@example.com"
    page, tab1, tab2 = two_tabs_signed_in(chromium, server, page_origin, email)
    count_before, revoked, _ = session_row(server, email)
    assert not revoked

    results = race(chromium, page, [tab1, tab2])

    assert results == [200, 200], page.log()
    count_after, revoked, live_jti = session_row(server, email)
    # Two refreshes, one rotation: the second tab sent the spent token (its request
    # overlapped the first) and the grace answered the current one.
    assert count_after == count_before + 1
    assert not revoked
    assert jwt.decode(refresh_cookie(chromium)["value"],
                      options={"verify_signature": False})["jti"] == live_jti
    for tab in (tab1, tab2):
        chromium.switch_to.window(tab)
        page.start("whoAmI")
        assert page.result() == 200
        assert page.state() == "signed-in"

    # Log out in tab 1; tab 2 finds out on its next request.
    chromium.switch_to.window(tab1)
    page.click("logout")
    page.wait_for("signed-out")
    assert "POST /auth/logout -> 204" in page.log()
    assert not [c for c in all_cookies(chromium) if c["name"].startswith("usergate_")]
    chromium.switch_to.window(tab2)
    assert page.state() == "signed-in"  # it has not asked yet
    page.start("whoAmI")
    assert page.result() == 401
    page.wait_for("signed-out")
    assert session_row(server, email)[1]  # revoked
    with capsys.disabled():
        print(f"\nbrowser: {chromium.capabilities.get('browserName')} "
              f"{chromium.capabilities.get('browserVersion')} headless: the example page "
              "signed in by cookie, survived a reload, two tabs refreshed at once (grace on: "
              "both 200, one rotation), logout in one tab signed the other out")


def test_example_page_two_tabs_without_the_grace_end_the_session(
        chromium, start_server, page_origin):
    server = start_api(start_server, page_origin)  # REFRESH_REUSE_GRACE=0, the default
    email = "nograce@example.com"
    page, tab1, tab2 = two_tabs_signed_in(chromium, server, page_origin, email)

    results = race(chromium, page, [tab1, tab2])

    assert sorted(results) == [200, 401], page.log()
    count, revoked, _ = session_row(server, email)
    assert revoked  # the loser's token was reuse: the whole session is revoked (§2)
    for tab in (tab1, tab2):
        chromium.switch_to.window(tab)
        page.start("whoAmI")
        assert page.result() == 401
        page.wait_for("signed-out")


@pytest.mark.parametrize("config, secure", [("testing", True), ("development", False)])
def test_cookie_attributes_over_http(start_server, config, secure):
    server = start_server(USERGATE_CONFIG=config)
    server.register("wire@example.com")
    response = httpx.post(f"{server.api}/auth/login?transport=cookie", timeout=10,
                          json={"email": "wire@example.com", "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()
    assert response.headers["cache-control"] == "no-store"
    cookies = parse_set_cookies(response)
    refresh, csrf = cookies["usergate_refresh"], cookies["usergate_csrf"]
    assert refresh["httponly"] is True and "httponly" not in csrf
    for cookie, path in ((refresh, "/api/v1/auth"), (csrf, "/")):
        assert cookie["path"] == path
        assert cookie["samesite"] == "Strict"
        assert cookie["max-age"] == str(30 * 24 * 3600)
        assert "expires" in cookie
        assert cookie.get("secure", False) is secure
        assert "domain" not in cookie  # host-only
    assert csrf["value"] == response.json()["csrf_token"]


def test_csrf_and_origin_refusals_over_http_change_nothing(start_server):
    server = start_server(CORS_ORIGINS="https://app.example.com")
    server.register("refused@example.com")
    login = httpx.post(f"{server.api}/auth/login?transport=cookie", timeout=10,
                       json={"email": "refused@example.com", "password": PASSWORD})
    cookies = {name: c["value"] for name, c in parse_set_cookies(login).items()}
    csrf = login.json()["csrf_token"]
    before = session_row(server, "refused@example.com")
    jar = "; ".join(f"{name}={value}" for name, value in cookies.items())
    for path in ("refresh", "logout"):
        for headers in ({}, {"X-CSRF-Token": "wrong"},
                        {"X-CSRF-Token": csrf, "Origin": "https://evil.example"}):
            response = httpx.post(f"{server.api}/auth/{path}", timeout=10,
                                  headers={"Cookie": jar, **headers})
            assert response.status_code == 403, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == "csrf_failed"
            assert "set-cookie" not in response.headers
    assert session_row(server, "refused@example.com") == before
    allowed = httpx.post(f"{server.api}/auth/refresh", timeout=10, headers={
        "Cookie": jar, "X-CSRF-Token": csrf, "Origin": "https://app.example.com"})
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert allowed.headers["access-control-allow-credentials"] == "true"


def test_a_cookie_transport_refresh_token_works_as_a_bearer_header_over_http(start_server):
    server = start_server(USERGATE_CONFIG="development")
    server.register("both@example.com")
    login = httpx.post(f"{server.api}/auth/login?transport=cookie", timeout=10,
                       json={"email": "both@example.com", "password": PASSWORD})
    assert login.status_code == 200, login.text
    token = parse_set_cookies(login)["usergate_refresh"]["value"]
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]
    # No cookie, no CSRF header, no Origin: a non-browser client on the Bearer path.
    refreshed = httpx.post(f"{server.api}/auth/refresh", timeout=10,
                           headers={"Authorization": f"Bearer {token}"})
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert "csrf_token" not in body and "set-cookie" not in refreshed.headers
    assert jwt.decode(body["refresh_token"], options={"verify_signature": False})["sid"] == sid
    # One session: the cookie's token was spent by that refresh (reuse now).
    again = httpx.post(f"{server.api}/auth/refresh", timeout=10,
                       headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 401, again.text
    assert again.headers["www-authenticate"].startswith("Bearer")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)

