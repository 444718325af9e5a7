"""Page arguments and the collection shape of API.md §1, for GET /auth/sessions.

Kept to two functions so the session list can move to a shared
`api/pagination.py` by changing one import.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from flask import request

from ...errors import ValidationError

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
_INTEGER = re.compile(r"-?[0-9]{1,9}")  # ASCII digits only; no "1_0", no "+"


def _int_arg(name: str, default: int, low: int, high: int | None,
             errors: dict[str, list[str]]) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw):
        errors.setdefault(name, []).append("must be an integer")
        return default
    value = int(raw)
    if value < low or (high is not None and value > high):
        span = f"between {low} and {high}" if high is not None else f"at least {low}"
        errors.setdefault(name, []).append(f"must be {span}")
    return value


def page_args() -> tuple[int, int]:
    """`page` (>= 1) and `per_page` (1..100, default 20); out of range is a 400, not a clamp."""
    errors: dict[str, list[str]] = {}
    page = _int_arg("page", 1, 1, None, errors)
    per_page = _int_arg("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE, errors)
    if errors:
        raise ValidationError(errors)
    return page, per_page


def _page_url(page: int, per_page: int) -> str:
    args = request.args.to_dict()
    args.update(page=str(page), per_page=str(per_page))
    return f"{request.base_url}?{urlencode(args)}"


def collection(items: list, *, page: int, per_page: int, total: int) -> tuple[dict, dict]:
    """The body `{items, page, per_page, total, pages}` and its RFC 8288 `Link` header."""
    pages = -(-total // per_page)
    links = [(1, "first")]
    if page > 1:
        links.append((min(page - 1, pages) if pages else 1, "prev"))
    if page < pages:
        links.append((page + 1, "next"))
    if pages:
        links.append((pages, "last"))
    header = ", ".join(f'<{_page_url(n, per_page)}>; rel="{rel}"' for n, rel in links)
    body = {"items": items, "page": page, "per_page": per_page, "total": total, "pages": pages}
    return body, {"Link": header}
