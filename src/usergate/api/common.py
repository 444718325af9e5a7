"""Models and response declarations every namespace shares."""

from __future__ import annotations

from http import HTTPStatus

from flask_restx import Model, Namespace, fields

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
