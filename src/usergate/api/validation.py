"""One way to read request bodies: a Flask-RESTX model is the schema.

`parse_json(model)` / `parse_form(model)` check the content type, parse, and
validate against the model's JSON schema, naming every failing field (unknown
fields included); fields with a `clean` method (Email, Password, ...) then
normalise their value or add their own message.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pycountry
from email_validator import EmailNotValidError, validate_email
from flask import request
from flask_restx import Model, fields
from jsonschema import Draft4Validator
from werkzeug.exceptions import UnsupportedMediaType

from ..emails import MAX_KEY_LENGTH, email_key
from ..errors import ValidationError
from .edge import display_name, unstorable_fields

BODY = "body"  # the error key when the body as a whole is wrong
CONTROL_MESSAGE = "must not contain control characters"


class Email(fields.String):
    """An email address, validated and normalised (trimmed, domain lower-cased)."""

    __schema_format__ = "email"

    def __init__(self, **kwargs):
        kwargs.setdefault("example", "ada@example.com")
        kwargs.setdefault("max_length", 320)
        super().__init__(**kwargs)

    def clean(self, value: str) -> str:
        try:
            email = validate_email(value.strip(), check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(f"not a valid email address: {exc}") from None
        if len(email_key(email)) > MAX_KEY_LENGTH:  # folding lengthens: ß -> ss
            raise ValueError(f"must be at most {MAX_KEY_LENGTH} characters long "
                             "once case-folded")
        return email


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
        # One line of printable text: no NUL, newline, escape or other C0/C1 control.
        if any(unicodedata.category(ch) == "Cc" for ch in value):
            raise ValueError(CONTROL_MESSAGE)
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
    # Text no database can store is refused first, and such fields are not checked
    # further (jsonschema and the cleaners would trip over a lone surrogate).
    errors = unstorable_fields(data)
    checkable = {name: value for name, value in data.items() if display_name(name) not in errors}
    for name, messages in _schema_errors(model, checkable).items():
        if name not in errors:
            errors[name] = messages
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
        data = json.loads(raw, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise ValidationError({exc.name: ["is given more than once"]}) from None
    except RecursionError:
        raise ValidationError({BODY: ["is nested too deeply"]},
                              detail="The request body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise ValidationError({BODY: ["is not valid JSON"]},
                              detail="The request body is not valid JSON") from None
    return validate(model, data)


class _DuplicateKey(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object whose names are unique (RFC 8259 §4): a repeated one is ambiguous."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _DuplicateKey(display_name(name))
            seen.add(name)
    return data


def parse_form(model: Model) -> dict:
    if request.mimetype != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType()
    return validate(model, request.form.to_dict())


def parse_body(model: Model, *, form: bool = False) -> dict:
    """JSON, or also a form body where the endpoint accepts one."""
    if form and request.mimetype == "application/x-www-form-urlencoded":
        return parse_form(model)
    return parse_json(model)
