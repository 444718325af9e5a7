"""Configuration classes.

Every setting named in API.md §5 is read from the environment (and `.env`)
once, inside the application factory, never at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_SECRET_KEY = "dev-only-secret-change-me-0123456789abcdef"

_INT_SETTINGS = (
    "JWT_ACCESS_TOKEN_EXPIRES",
    "JWT_REFRESH_TOKEN_EXPIRES",
    "JWT_FRESH_MAX_AGE",
    "JWT_LEEWAY",
    "BCRYPT_LOG_ROUNDS",
    "MAX_CONTENT_LENGTH",
    "MAX_ADDRESSES_PER_USER",
)
_STR_SETTINGS = (
    "SECRET_KEY",
    "DATABASE_URL",
    "JWT_ALGORITHM",
    "JWT_PRIVATE_KEY_FILE",
    "JWT_VERIFY_KEY_FILES",
    "JWT_ISSUER",
    "RATELIMIT_STORAGE_URI",
    "RATELIMIT_KEY_PREFIX",
    "RATELIMIT_AUTH",
    "TRUSTED_PROXIES",
)
_BOOL_SETTINGS = ("RATELIMIT_ENABLED",)


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says which setting and why."""


class Config:
    SECRET_KEY = DEFAULT_SECRET_KEY
    DATABASE_URL: str | None = None  # default: a SQLite file under instance/
    JWT_ALGORITHM = "HS256"
    JWT_PRIVATE_KEY_FILE: str | None = None
    JWT_VERIFY_KEY_FILES: str | None = None
    JWT_ISSUER = "usergate"
    JWT_ACCESS_TOKEN_EXPIRES = 900
    JWT_REFRESH_TOKEN_EXPIRES = 30 * 24 * 3600
    JWT_FRESH_MAX_AGE = 900
    JWT_LEEWAY = 0
    BCRYPT_LOG_ROUNDS = 12
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    # Prefix of the limiter's keys in a shared store: services (or test runs)
    # sharing one Redis keep separate counters.
    RATELIMIT_KEY_PREFIX = "usergate"
    # While a shared store (Redis) is down, each worker counts in its own memory
    # instead of failing every rate-limited request with a 500.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_AUTH = "10/minute"
    RATELIMIT_HEADERS_ENABLED = True
    MAX_CONTENT_LENGTH = 64 * 1024
    MAX_ADDRESSES_PER_USER = 50
    TRUSTED_PROXIES: str | None = None  # number of proxies in front, for ProxyFix

    SQLALCHEMY_TRACK_MODIFICATIONS = False
    RESTX_MASK_SWAGGER = False
    RESTX_VALIDATE = False
    ERROR_404_HELP = False
    RESTX_ERROR_404_HELP = False
    SWAGGER_UI_DOC_EXPANSION = "list"
    SWAGGER_UI_OAUTH_APP_NAME = "usergate"
    JSON_SORT_KEYS = False
    TESTING = False
    DEBUG = False


class DevelopmentConfig(Config):
    BCRYPT_LOG_ROUNDS = 4


class TestingConfig(Config):
    TESTING = True
    BCRYPT_LOG_ROUNDS = 4
    RATELIMIT_ENABLED = False


class ProductionConfig(Config):
    pass


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _parse_int(name: str, raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(
            f"{name} must be an integer number of seconds/bytes, not {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


def load_config(environ=None, overrides=None, instance_path: str | None = None) -> dict:
    """Return the settings for the configuration named by USERGATE_CONFIG.

    Order: class defaults < environment < ``overrides`` (tests pass these).
    """
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    name = overrides.pop("USERGATE_CONFIG", None) or environ.get("USERGATE_CONFIG", "development")
    if name not in CONFIGS:
        raise ConfigError(f"USERGATE_CONFIG must be one of {', '.join(CONFIGS)}, not {name!r}")
    cls = CONFIGS[name]
    settings = {key: getattr(cls, key) for key in dir(cls) if key.isupper()}
    settings["USERGATE_CONFIG"] = name

    for key in _INT_SETTINGS:
        if environ.get(key, "").strip():
            settings[key] = _parse_int(key, environ[key])
    for key in _STR_SETTINGS:
        if environ.get(key, "").strip():
            settings[key] = environ[key].strip()
    for key in _BOOL_SETTINGS:
        if environ.get(key, "").strip():
            settings[key] = _parse_bool(key, environ[key])
    settings.update(overrides)

    if not settings.get("DATABASE_URL"):
        folder = Path(instance_path or "instance")
        settings["DATABASE_URL"] = f"sqlite:///{(folder / 'usergate.db').resolve()}"
    settings["SQLALCHEMY_DATABASE_URI"] = _sqlalchemy_url(settings["DATABASE_URL"])
    settings["SQLALCHEMY_ENGINE_OPTIONS"] = _engine_options(settings["SQLALCHEMY_DATABASE_URI"])
    _validate(settings)
    return settings


def _sqlalchemy_url(url: str) -> str:
    # `postgresql://` is what people paste; psycopg 3 is the driver we ship.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # Concurrent writers wait for the lock instead of failing at once.
        return {"connect_args": {"timeout": 30}}
    options = {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 10, "pool_recycle": 1800}
    if url.startswith("postgresql") and "connect_timeout=" not in url:
        # libpq waits forever for a server that never answers: give up in time to
        # answer 503, well before gunicorn's worker timeout (30 s) kills the worker.
        # A connect_timeout in DATABASE_URL wins.
        options["connect_args"] = {"connect_timeout": 5}
    return options


def _validate(settings: dict) -> None:
    algorithm = settings["JWT_ALGORITHM"]
    if algorithm not in {"HS256", "RS256", "ES256", "EdDSA"}:
        raise ConfigError("JWT_ALGORITHM must be one of HS256, RS256, ES256, EdDSA")
    if algorithm != "HS256" and not settings.get("JWT_PRIVATE_KEY_FILE"):
        raise ConfigError(f"JWT_ALGORITHM={algorithm} needs JWT_PRIVATE_KEY_FILE")
    if settings["JWT_ACCESS_TOKEN_EXPIRES"] < 1 or settings["JWT_REFRESH_TOKEN_EXPIRES"] < 1:
        raise ConfigError("token lifetimes must be at least 1 second")
    if not 4 <= settings["BCRYPT_LOG_ROUNDS"] <= 31:
        raise ConfigError("BCRYPT_LOG_ROUNDS must be between 4 and 31")
    if settings["USERGATE_CONFIG"] == "production":
        secret = settings.get("SECRET_KEY") or ""
        if secret == DEFAULT_SECRET_KEY or len(secret.encode()) < 32:
            raise ConfigError(
                "production needs SECRET_KEY set to a random value of at least 32 bytes "
                '(python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
