"""Swagger UI in a real headless Chromium, driven by Selenium, against a live usergate.

A user opens /api/v1/ui, clicks Authorize, signs in through the OAuth2 password
flow (Swagger UI posts the form to the spec's absolute tokenUrl), runs
``GET /auth/user`` with "Try it out" / "Execute" and sees 200 with their email; then
signs out of OAuth2, pastes ``Bearer <token>`` of another user into the Bearer
(apiKey) field and sees that user instead.

Needs Debian's ``chromium`` and ``chromium-driver`` (``CHROMIUM_PATH`` and
``CHROMEDRIVER_PATH`` point elsewhere); skipped with a message when Chromium is
absent, a failure instead when ``USERGATE_REQUIRE_CHROMIUM=1`` (as in CI). Swagger
UI's assets come from the flask-restx package, so no network is needed.
``SWAGGER_UI_SCREENSHOT=docs/swagger-ui.png`` also writes the screenshot
taken after the authorized call there (it always goes to the test's tmp_path).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest
from clients_support import PASSWORD

WAIT = 30  # seconds for any one thing to appear in the page


def _find(env: str, *names: str) -> str | None:
    if os.environ.get(env):
        return os.environ[env] if os.access(os.environ[env], os.X_OK) else None
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _find("CHROMIUM_PATH", "chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = _find("CHROMEDRIVER_PATH", "chromedriver")

ABSENT = ("Chromium or chromedriver is absent: apt-get install -y chromium chromium-driver "
          "(or set CHROMIUM_PATH and CHROMEDRIVER_PATH) to run the Swagger UI browser test")


def chromium_driver(tmp_path, *flags: str):
    """Headless Chromium under chromedriver, `flags` after the common ones (skipped when
    absent, a failure instead in CI); the caller quits it."""
    if not (CHROMIUM and CHROMEDRIVER):
        # CI installs Chromium and sets USERGATE_REQUIRE_CHROMIUM=1: there a skip is a failure.
        if os.environ.get("USERGATE_REQUIRE_CHROMIUM") == "1":
            pytest.fail(ABSENT)
        pytest.skip(ABSENT)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:  # a missing test dependency is a failure, not a skip
        pytest.fail("selenium is missing: pip install -e '.[test]'")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 *flags, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    # An explicit driver path: Selenium Manager never tries to download one.
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "driver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    return driver


@pytest.fixture
def browser(tmp_path):
    driver = chromium_driver(tmp_path, "--window-size=1280,1400")
    yield driver
    driver.quit()


class SwaggerPage:
    """What a person does in Swagger UI, in Selenium terms."""

    def __init__(self, driver):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.By, self.ec = driver, By, ec
        self.wait = WebDriverWait(driver, WAIT)

    def css(self, selector: str, root=None):
        return (root or self.driver).find_element(self.By.CSS_SELECTOR, selector)

    def buttons(self, root, label: str) -> list:
        return root.find_elements(self.By.XPATH, f".//button[normalize-space(.)='{label}']")

    def visible(self, selector: str):
        return self.wait.until(self.ec.visibility_of_element_located(
            (self.By.CSS_SELECTOR, selector)))

    def click(self, element) -> None:
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        self.wait.until(lambda _: element.is_displayed() and element.is_enabled())
        element.click()

    def open(self, url: str) -> None:
        self.driver.get(url)
        self.visible(".swagger-ui .information-container .title")
        self.visible(".swagger-ui .btn.authorize")

    def auth_container(self, scheme: str):
        """The block of the Authorize dialog for one security scheme (by its name)."""
        self.visible(".dialog-ux .modal-ux")
        xpath = (f"//div[contains(@class,'auth-container')][.//h4[contains(normalize-space(.),"
                 f"'{scheme}')]]")
        return self.wait.until(self.ec.presence_of_element_located((self.By.XPATH, xpath)))

    def open_authorize_dialog(self) -> None:
        self.click(self.css(".swagger-ui .auth-wrapper .btn.authorize"))
        self.visible(".dialog-ux .modal-ux")

    def close_dialog(self) -> None:
        self.click(self.css(".dialog-ux .modal-ux .btn-done"))
        self.wait.until(self.ec.invisibility_of_element_located(
            (self.By.CSS_SELECTOR, ".dialog-ux .modal-ux")))

    def oauth2_password_login(self, email: str, password: str) -> None:
        box = self.auth_container("oauth2")
        username = self.css("input#oauth_username", box)
        username.clear()
        username.send_keys(email)
        self.css("input#oauth_password", box).send_keys(password)
        self.click(self.css("button.authorize", box))
        # Signed in: the block shows "Authorized", and its button now says Logout.
        self.wait.until(lambda _: "Authorized" in self.auth_container("oauth2").text
                        and self.buttons(self.auth_container("oauth2"), "Logout"))
        errors = self.auth_container("oauth2").find_elements(self.By.CSS_SELECTOR, ".errors")
        assert not [e.text for e in errors if e.text.strip()], [e.text for e in errors]

    def oauth2_logout(self) -> None:
        self.click(self.buttons(self.auth_container("oauth2"), "Logout")[0])
        self.wait.until(lambda _: self.auth_container("oauth2").find_elements(
            self.By.CSS_SELECTOR, "input#oauth_username"))

    def paste_bearer(self, value: str) -> None:
        box = self.auth_container("Bearer")
        field = self.css("input", box)
        field.clear()
        field.send_keys(value)
        self.click(self.css("button.authorize", box))
        self.wait.until(lambda _: "Authorized" in self.auth_container("Bearer").text
                        and self.buttons(self.auth_container("Bearer"), "Logout"))

    def operation(self, method: str, path: str):
        xpath = (f"//div[contains(@class,'opblock-{method}')]"
                 f"[.//*[contains(@class,'opblock-summary-path') and @data-path='{path}']]")
        return self.wait.until(self.ec.presence_of_element_located((self.By.XPATH, xpath)))

    def in_operation(self, method: str, path: str, selector: str):
        """Wait for an element inside the operation (Swagger UI renders asynchronously)."""
        def found(_):
            elements = self.operation(method, path).find_elements(self.By.CSS_SELECTOR, selector)
            return elements[0] if elements and elements[0].is_displayed() else False
        return self.wait.until(found)

    def try_it_out(self, method: str, path: str) -> None:
        """Expand the operation and press "Try it out" (unless it already is)."""
        block = self.operation(method, path)
        if not block.find_elements(self.By.CSS_SELECTOR, ".opblock-body"):
            self.click(self.css(".opblock-summary-control, .opblock-summary", block))
        try_out = self.in_operation(method, path, ".try-out__btn")
        if "Cancel" not in try_out.text:
            self.click(try_out)

    def execute(self, method: str, path: str) -> tuple[str, str]:
        """Expand the operation, Try it out, Execute; return (status, response body)."""
        self.try_it_out(method, path)
        self.in_operation(method, path, ".btn.execute")  # rendered after "Try it out"
        for old in self.operation(method, path).find_elements(self.By.CSS_SELECTOR,
                                                               ".btn-clear"):
            self.click(old)  # forget the previous call's response
        status_cell = ".live-responses-table .response .response-col_status"
        self.wait.until(lambda _: not self.operation(method, path).find_elements(
            self.By.CSS_SELECTOR, status_cell))
        execute = self.in_operation(method, path, ".btn.execute")
        self.click(execute)
        status = self.in_operation(method, path, status_cell).text.strip()
        body = self.in_operation(
            method, path, ".live-responses-table .response .response-col_description pre")
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", body)
        return status, body.text

    def screenshot(self, file: Path, method: str, path: str) -> None:
        """The operation from its summary line (padlock closed) down to the response."""
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'start'});",
                                   self.operation(method, path))
        self.driver.save_screenshot(str(file))

    def operation_is_locked(self, method: str, path: str) -> bool:
        """The padlock of the operation shows it will send credentials."""
        block = self.operation(method, path)
        lock = self.css(".authorization__btn", block)
        return "locked" in (lock.get_attribute("aria-label") or "") and \
            "unlocked" not in (lock.get_attribute("aria-label") or "")


def test_swagger_ui_oauth2_password_flow_then_pasted_bearer_token(
        browser, usergate_server, tmp_path, capsys):
    api = usergate_server.api
    ada = usergate_server.register("ada.browser@example.com", name="Ada Lovelace")
    grace = usergate_server.register("grace.browser@example.com", name="Grace Hopper")
    spec = httpx.get(f"{api}/swagger.json", timeout=10).json()
    assert spec["securityDefinitions"]["oauth2"]["tokenUrl"] == f"{api}/auth/token"

    page = SwaggerPage(browser)
    page.open(f"{api}/ui")
    assert "usergate" in browser.title

    # 1. Authorize -> OAuth2 password flow with Ada's email and password.
    page.open_authorize_dialog()
    page.oauth2_password_login("ada.browser@example.com", PASSWORD)
    page.close_dialog()
    status, body = page.execute("get", "/auth/user")
    assert status == "200", body
    assert '"email": "ada.browser@example.com"' in body
    assert '"fresh": true' in body  # a token from a password grant is fresh
    assert page.operation_is_locked("get", "/auth/user")
    screenshot = tmp_path / "swagger-ui.png"
    page.screenshot(screenshot, "get", "/auth/user")
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("SWAGGER_UI_SCREENSHOT"):
        shutil.copyfile(screenshot, os.environ["SWAGGER_UI_SCREENSHOT"])

    # 2. Sign out of OAuth2, paste "Bearer <Grace's token>" into the Bearer field.
    page.open_authorize_dialog()
    page.oauth2_logout()
    page.paste_bearer(f"Bearer {grace['access_token']}")
    page.close_dialog()
    status, body = page.execute("get", "/auth/user")
    assert status == "200", body
    assert '"email": "grace.browser@example.com"' in body
    assert "ada.browser@example.com" not in body

    # Ada's OAuth2 sign-in opened a session of her own next to the one of registering.
    sessions = httpx.get(f"{api}/auth/sessions", timeout=10,
                         headers={"Authorization": f"Bearer {ada['access_token']}"}).json()
    assert sessions["total"] == 2
    with capsys.disabled():  # a line in the CI log
        print(f"\nbrowser: {browser.capabilities.get('browserName')} "
              f"{browser.capabilities.get('browserVersion')} headless: Swagger UI's OAuth2 "
              "password sign-in and a pasted Bearer token each ran GET /auth/user -> 200")


def test_swagger_ui_shows_an_unauthorized_call_as_401(browser, usergate_server):
    page = SwaggerPage(browser)
    page.open(f"{usergate_server.api}/ui")
    assert not page.operation_is_locked("get", "/auth/user")
    status, body = page.execute("get", "/auth/user")
    assert status == "401", body
    assert '"status": 401' in body


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # Chromium must reach 127.0.0.1 directly even where a proxy is configured.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)

