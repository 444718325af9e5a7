"""One way to read request bodies: a Flask-RESTX model is the schema.

`parse_json(model)` / `parse_form(model)` check the content type, parse, and
validate against the model's JSON schema, naming every failing field (unknown
fields included); fields with a `clean` method (Email, Password, ...) then
normalise their value or add their own message.
"""

from __future__ import annotations

import json
from typing import Any

import pycountry
from email_validator import EmailNotValidError, validate_email
from flask import request
from flask_restx import Model, fields
from jsonschema import Draft4Validator
from werkzeug.exceptions import UnsupportedMediaType

from ..errors import ValidationError

BODY = "body"  # the error key when the body as a whole is wrong


class Email(fields.String):
    """An email address, validated and normalised (trimmed, domain lower-cased)."""

    __schema_format__ = "email"

    def __init__(self, **kwargs):
        kwargs.setdefault("example", "ada@example.com")
        kwargs.setdefault("max_length", 320)
        super().__init__(**kwargs)

    def clean(self, value: str) -> str:
        try:
            return validate_email(value.strip(), check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(f"not a valid email address: {exc}") from None


class Password(fields.String):
    """8 to 256 characters, every one significant."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_length", 8)
        kwargs.setdefault("max_length", 256)
        kwargs.setdefault("example", "correct horse battery staple")
        super().__init__(**kwargs)


class Text(fields.String):
    """A string with surrounding white space trimmed; blank when required is an error.

    `nullable=True`: null is accepted and read as "" (for optional fields a
    client clears by sending either).
    """

    def clean(self, value: str) -> str:
        value = value.strip()
        if self.required and not value:
            raise ValueError("must not be blank")
        return value

    def schema(self):
        schema = super().schema()
        if self.nullable:
            schema["x-nullable"] = True  # Swagger 2.0 has no null type
        return schema


class CountryCode(fields.String):
    """An ISO 3166-1 alpha-2 country code, upper-cased on input (`de` -> `DE`)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("example", "DE")
        kwargs.setdefault("description", "ISO 3166-1 alpha-2 country code (any case on input)")
        super().__init__(**kwargs)

    def clean(self, value: str) -> str:
        code = value.strip().upper()
        if len(code) != 2 or not code.isascii() or pycountry.countries.get(alpha_2=code) is None:
            raise ValueError("must be an ISO 3166-1 alpha-2 country code such as DE or US")
        return code


def _schema_errors(model: Model, data: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    schema = model._schema
    for error in Draft4Validator(schema).iter_errors(data):
        if error.validator == "required" and not error.path:
            # Draft 4 reports each missing name as its own error, each listing them all.
            for name in error.validator_value:
                if name not in data and "is required" not in errors.get(name, []):
                    errors.setdefault(name, []).append("is required")
        elif error.validator == "additionalProperties" and not error.path:
            for name in sorted(set(data) - set(schema.get("properties", {}))):
                errors.setdefault(name, []).append("is not a known field")
        else:
            key = ".".join(str(part) for part in error.path) or BODY
            errors.setdefault(key, []).append(_message(error))
    return errors


def _message(error) -> str:
    if error.validator == "type":
        expected = error.validator_value
        names = expected if isinstance(expected, list) else [expected]
        return "must be " + " or ".join(
            {"string": "a string", "integer": "an integer", "boolean": "true or false",
             "object": "an object", "array": "an array", "number": "a number"}.get(n, n)
            for n in names)
    if error.validator == "minLength":
        return f"must be at least {error.validator_value} characters long"
    if error.validator == "maxLength":
        return f"must be at most {error.validator_value} characters long"
    if error.validator == "enum":
        return "must be one of " + ", ".join(map(str, error.validator_value))
    return error.message


def validate(model: Model, data: Any) -> dict:
    """Return the cleaned data or raise ValidationError naming every failing field."""
    if not isinstance(data, dict):
        raise ValidationError({BODY: ["must be a JSON object"]})
    data = {name: "" if value is None and getattr(model.get(name), "nullable", False) else value
            for name, value in data.items()}
    errors = _schema_errors(model, data)
    cleaned = dict(data)
    for name, field in model.items():
        clean = getattr(field, "clean", None)
        if clean is None or name in errors or cleaned.get(name) is None:
            continue
        try:
            cleaned[name] = clean(cleaned[name])
        except ValueError as exc:
            errors.setdefault(name, []).append(str(exc))
    if errors:
        raise ValidationError(errors)
    return cleaned


def parse_json(model: Model) -> dict:
    if request.mimetype != "application/json":
        raise UnsupportedMediaType()
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError({BODY: ["is not valid JSON"]},
                              detail="The request body is not valid JSON") from None
    return validate(model, data)


def parse_form(model: Model) -> dict:
    if request.mimetype != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType()
    return validate(model, request.form.to_dict())


def parse_body(model: Model, *, form: bool = False) -> dict:
    """JSON, or also a form body where the endpoint accepts one."""
    if form and request.mimetype == "application/x-www-form-urlencoded":
        return parse_form(model)
    return parse_json(model)
