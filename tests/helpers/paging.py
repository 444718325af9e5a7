"""Paged listings: the Link header."""

from __future__ import annotations

import re


def links(response) -> dict[str, str]:
    """rel -> URL of an RFC 8288 Link header."""
    header = response.headers.get("Link", "")
    return {rel: url for url, rel in re.findall(r'<([^>]*)>;\s*rel="([^"]+)"', header)}


def walk(client, url: str, headers: dict) -> list[str]:
    """The ids of every item, following rel="next" from `url` to the last page."""
    seen = []
    while url:
        response = client.get(url, headers=headers)
        seen += [item["id"] for item in response.get_json()["items"]]
        url = links(response).get("next")
    return seen
