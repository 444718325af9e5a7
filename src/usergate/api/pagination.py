"""The one way collections are paged (docs/api.md, "Collections and pagination").

- `page_args()` reads `page` (>= 1, default 1) and `per_page` (1..100, default
  20) from the query string; out of range or not a number is a 400 naming the
  parameter, never a clamp.
- `collection(items, page=, per_page=, total=)` answers
  `{items, page, per_page, total, pages}` and an RFC 8288 `Link` header;
  `paged(page, represent)` does the same for a `services.pagination.Page`.
- `collection_model(ns, name, item)` declares the body for Swagger;
  `PAGE_PARAMS` and `PAGE_HEADERS` document the query parameters and `Link`.

Links: `first` always (page 1, which exists even for an empty collection:
it is the empty page); `last` when there is at least one page; `prev` from page
2 on (from a page past the last it points at the last page); `next` when a
later page exists. Every other query parameter is kept in the links.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from flask import request
from flask_restx import Namespace, fields

from ..errors import ValidationError

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_DIGITS = 4000

PAGE_PARAMS = {
    "page": {"in": "query", "type": "integer", "minimum": 1, "default": 1,
             "description": "Page number, from 1. A page past the last is empty."},
    "per_page": {"in": "query", "type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE,
                 "default": DEFAULT_PER_PAGE, "description": "Items per page, 1 to 100."},
}

# Response headers of a page, for `ns.response(200, ..., headers=PAGE_HEADERS)`.
PAGE_HEADERS = {
    "Link": {"type": "string", "description": (
        'RFC 8288 links to the first, prev, next and last pages where they exist, e.g. '
        '<https://host/api/v1/addresses?page=2&per_page=20>; rel="next"')},
}


def _int_arg(name: str, default: int, low: int, high: int | None,
             errors: dict[str, list[str]]) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    text = raw.strip()
    # Digits only: no sign, no "1e3", no "½".
    if not (text.isascii() and text.isdigit()):
        errors.setdefault(name, []).append("must be a whole number")
        return default
    text = text.lstrip("0") or "0"
    if len(text) > MAX_DIGITS:
        # Past what Python turns into an int and back (sys.int_info.str_digits_check_threshold
        # and the default 4300-digit limit); no server's request line carries one anyway.
        errors.setdefault(name, []).append(f"must have at most {MAX_DIGITS} digits")
        return default
    # Any size: a page past the last is an empty page, never an overflow (the
    # database is asked for no OFFSET past the total, services.pagination).
    value = int(text)
    if value < low or (high is not None and value > high):
        span = f"between {low} and {high}" if high is not None else f"at least {low}"
        errors.setdefault(name, []).append(f"must be {span}")
    return value


def page_args(errors: dict[str, list[str]] | None = None) -> tuple[int, int]:
    """`(page, per_page)` from the query string, or a 400 naming each bad one.

    Pass `errors` to collect the endpoint's own query-parameter errors too, so
    a single 400 names every failing parameter.
    """
    errors = {} if errors is None else errors
    page = _int_arg("page", 1, 1, None, errors)
    per_page = _int_arg("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE, errors)
    if errors:
        raise ValidationError(errors)
    return page, per_page


def _page_url(page: int, per_page: int) -> str:
    args = [(key, value) for key, value in request.args.items(multi=True)
            if key not in ("page", "per_page")]
    args += [("page", str(page)), ("per_page", str(per_page))]
    return f"{request.base_url}?{urlencode(args)}"


def link_header(*, page: int, per_page: int, pages: int) -> str:
    links = [(1, "first")]
    if page > 1:
        links.append((min(page - 1, pages) if pages else 1, "prev"))
    if page < pages:
        links.append((page + 1, "next"))
    if pages:
        links.append((pages, "last"))
    return ", ".join(f'<{_page_url(number, per_page)}>; rel="{rel}"' for number, rel in links)


def collection(items: list, *, page: int, per_page: int, total: int) -> tuple[dict, dict]:
    """The body `{items, page, per_page, total, pages}` and its `Link` header."""
    pages = -(-total // per_page)
    body = {"items": items, "page": page, "per_page": per_page, "total": total, "pages": pages}
    return body, {"Link": link_header(page=page, per_page=per_page, pages=pages)}


def paged(page, represent: Callable) -> tuple[dict, dict]:
    """`collection()` of a `services.pagination.Page`, each item through `represent`."""
    return collection([represent(item) for item in page.items], page=page.page,
                      per_page=page.per_page, total=page.total)


def collection_model(ns: Namespace, name: str, item):
    """A Swagger model for one page of `item`s."""
    return ns.model(name, {
        "items": fields.List(fields.Nested(item), description="this page's items"),
        "page": fields.Integer(example=1, description="this page's number, from 1"),
        "per_page": fields.Integer(example=20, description="items per page (1 to 100)"),
        "total": fields.Integer(example=57, description="items in the whole collection"),
        "pages": fields.Integer(example=3, description="number of pages (0 when empty)"),
    })
