"""Models and response declarations every namespace shares."""

from __future__ import annotations

from http import HTTPStatus

from flask_restx import Model, Namespace, fields

from .guards import token_required
from .representations import ok

problem_model = Model("Problem", {
    "type": fields.String(example="about:blank"),
    "title": fields.String(example="Bad Request"),
    "status": fields.Integer(example=400),
    "detail": fields.String(example="Input failed validation: email"),
    "code": fields.String(example="validation_error"),
    "errors": fields.Raw(example={"email": ["is required"]},
                         description="field name -> list of messages"),
})

class NullableString(fields.String):
    """A string that may be null; Swagger 2.0 has no `null` type, so `x-nullable`."""

    def schema(self):
        return {**super().schema(), "x-nullable": True}


BEARER = [{"Bearer": []}, {"oauth2": []}]

ERRORS = {
    400: "Invalid input (problem JSON naming every failing field)",
    401: "Missing, invalid or expired token (see WWW-Authenticate)",
    403: "Not allowed (see WWW-Authenticate)",
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    415: "Wrong content type",
    429: "Rate limit exceeded (see Retry-After)",
    503: "Database unreachable",
}


def shared_namespace(name: str, description: str, path: str | None = None) -> Namespace:
    ns = Namespace(name, description=description, path=path)
    ns.add_model(problem_model.name, problem_model)
    return ns


def errors(ns: Namespace, *codes: int):
    """Document the problem responses an operation can give."""

    def decorator(func):
        for code in codes:
            func = ns.response(code, ERRORS.get(code, HTTPStatus(code).phrase),
                               problem_model)(func)
        return func

    return decorator


def item_route(ns: Namespace, url: str, endpoint: str, params: dict):
    """Route a Resource at an item's URL and document the id(s) the URL holds."""

    def decorator(cls):
        return ns.route(url, endpoint=endpoint)(ns.doc(params=params)(cls))

    return decorator


def operation(ns: Namespace, code: int, answer: str, model=None, *, problems=(),
              guard=None, expect=None, headers=None, security=BEARER, **doc):
    """An operation's whole decorator stack in one: its docs, answers and guard.

    The same stack as writing, top to bottom, `@ns.doc(security=..., **doc)`,
    `@ns.expect(expect)`, `@ns.response(code, answer, model, headers=...)`,
    `@errors(ns, *problems)` and `@guard`. The guard is the view's only wrapper,
    so a request pays for nothing more than the guard itself.
    """

    def decorator(view):
        if guard is not None:
            view = guard(view)
        view = errors(ns, *problems)(view)
        extra = {} if headers is None else {"headers": headers}
        view = ns.response(code, answer, model, **extra)(view)
        if expect is not None:
            view = ns.expect(expect)(view)
        return ns.doc(security=security, **doc)(view)

    return decorator


def item_get(ns: Namespace, find, represent, answer: str, model, summary: str):
    """The GET of a Resource at one item's URL (`get = item_get(...)` in its class).

    Any signed-in user may ask; `find(id)` answers 404 when the id names nothing they
    may see. The body is `represent(item)`; `summary` is the operation's docstring.
    """

    def get(self, **url_id):
        (item_id,) = url_id.values()
        return ok(represent(find(item_id)))

    get.__doc__ = summary
    return operation(ns, 200, answer, model, problems=(400, 401, 404), guard=token_required)(get)
