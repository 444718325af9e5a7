"""Cookies as a response sets them: every attribute of every Set-Cookie header."""

from __future__ import annotations


def parse_set_cookies(response) -> dict[str, dict]:
    """{name: {"value": ..., attribute (lower-case): value or True}} of every Set-Cookie
    of a Flask test client's or an httpx response."""
    headers = response.headers
    values = headers.get_list("set-cookie") if hasattr(headers, "get_list") else (
        headers.getlist("Set-Cookie"))
    cookies = {}
    for header in values:
        first, *attributes = [part.strip() for part in header.split(";")]
        name, _, value = first.partition("=")
        parsed = {"value": value}
        for attribute in attributes:
            key, sep, val = attribute.partition("=")
            parsed[key.lower()] = val if sep else True
        cookies[name] = parsed
    return cookies
