"""Configuration classes.

Every setting of docs/api.md "Configuration" is read from the environment (and `.env`)
once, inside the application factory, never at import time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_SECRET_KEY = "dev-only-secret-change-me-0123456789abcdef"
MAX_DURATION = 100 * 365 * 24 * 3600

_INT_SETTINGS = (
    "JWT_ACCESS_TOKEN_EXPIRES",
    "JWT_REFRESH_TOKEN_EXPIRES",
    "JWT_FRESH_MAX_AGE",
    "JWT_LEEWAY",
    "BCRYPT_LOG_ROUNDS",
    "MAX_CONTENT_LENGTH",
    "MAX_ADDRESSES_PER_USER",
    "REFRESH_REUSE_GRACE",
    "SESSION_MAX_AGE",
    "MAIL_PORT",
    "MAIL_TIMEOUT",
    "MAIL_LEASE",
    "MAIL_RETRY_BASE",
    "MAIL_RETRY_MAX",
    "MAIL_MAX_ATTEMPTS",
    "MAIL_POLL_INTERVAL",
    "PASSWORD_RESET_EXPIRES",
    "EMAIL_VERIFICATION_EXPIRES",
    "MAIL_KEEP_SENT",
    "MFA_TOKEN_EXPIRES",
    "AUDIT_RETENTION",
    "LOGIN_MAX_FAILURES",
    "LOGIN_LOCKOUT",
    "PASSWORD_MIN_LENGTH",
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
    "REFRESH_TOKEN_TRANSPORT",
    "CORS_ORIGINS",
    "PUBLIC_BASE_URL",
    "MAIL_BACKEND",
    "MAIL_SERVER",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_DEFAULT_SENDER",
    "MAIL_FILE_PATH",
    "MAIL_PRODUCT_NAME",
    "PASSWORD_RESET_URL",
    "EMAIL_VERIFICATION_URL",
    "RATELIMIT_MAIL",
    "JWT_AUDIENCE",
    "JWT_RESOURCES",
    "RATELIMIT_INTROSPECT",
    "MFA_ISSUER",
    "MFA_ENCRYPTION_KEY",
    "PASSWORD_BREACH_CHECK",
    "HIBP_API_URL",
)
_BOOL_SETTINGS = ("RATELIMIT_ENABLED", "MAIL_USE_TLS", "MAIL_USE_SSL", "REQUIRE_VERIFIED_EMAIL")


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
    # Browser sessions (docs/browser.md).
    REFRESH_TOKEN_TRANSPORT = "body"  # or "cookie": login and refresh set an HttpOnly cookie
    REFRESH_REUSE_GRACE = 0  # seconds a just-spent refresh token answers the current one
    SESSION_MAX_AGE = 90 * 24 * 3600  # absolute session lifetime; refreshes never pass it
    CORS_ORIGINS: str | None = None  # comma-separated origins allowed, with credentials
    # Mail (docs/api.md §6.1, §6.2; docs/mail.md). The outbox is delivered outside requests.
    MAIL_BACKEND = "smtp"  # smtp | file (.eml files under MAIL_FILE_PATH) | console
    MAIL_SERVER = "localhost"
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_DEFAULT_SENDER = "usergate <no-reply@localhost>"
    MAIL_TIMEOUT = 10
    MAIL_FILE_PATH: str | None = None  # default: instance/mail
    MAIL_PRODUCT_NAME = "usergate"
    MAIL_LEASE = 120  # seconds a deliverer's claim holds before another may take it over
    MAIL_RETRY_BASE = 30  # first retry delay; doubles per attempt
    MAIL_RETRY_MAX = 3600  # longest retry delay
    MAIL_MAX_ATTEMPTS = 30  # then the message is kept as failed
    MAIL_POLL_INTERVAL = 2  # the deliverer's sleep when nothing is due
    MAIL_KEEP_SENT = 7 * 24 * 3600  # sent messages (envelopes only) are deleted after this
    PASSWORD_RESET_URL: str | None = None  # default: <origin>/account/reset#token={token}
    EMAIL_VERIFICATION_URL: str | None = None  # default: <origin>/account/verify#token={token}
    PASSWORD_RESET_EXPIRES = 3600
    EMAIL_VERIFICATION_EXPIRES = 24 * 3600
    REQUIRE_VERIFIED_EMAIL = False
    RATELIMIT_MAIL = "5/hour"
    # The origin of every absolute URL usergate writes (Swagger's tokenUrl, ...);
    # unset, they follow the request's Host.
    PUBLIC_BASE_URL: str | None = None
    # Standard authorization-server endpoints (docs/oauth.md).
    JWT_AUDIENCE: str | None = None  # when set, every access token's aud; required on verify
    JWT_RESOURCES: str | None = None  # comma-separated RFC 8707 resources /auth/token may name
    RATELIMIT_INTROSPECT = "6000/minute"  # /auth/introspect and /auth/revoke, per address
    # Two-factor sign-in (docs/mfa.md).
    MFA_ISSUER = "usergate"  # the issuer authenticator apps show next to the email
    MFA_ENCRYPTION_KEY: str | None = None  # Fernet key(s); unset: derived from SECRET_KEY
    MFA_TOKEN_EXPIRES = 300  # lifetime of the mfa token between password and code
    # Audit events older than this (seconds) are deleted by `flask audit purge` (docs/audit.md).
    AUDIT_RETENTION = 365 * 24 * 3600
    # Brute-force protection per account (docs/api.md §6.3, services/lockout.py).
    LOGIN_MAX_FAILURES = 10
    LOGIN_LOCKOUT = 300  # the first lock; each further one doubles, up to an hour
    # Password policy (docs/api.md §6.4, services/password_policy.py).
    PASSWORD_MIN_LENGTH = 8
    PASSWORD_BREACH_CHECK = ""  # "hibp": also ask a Pwned Passwords range API
    HIBP_API_URL = "https://api.pwnedpasswords.com/range/"

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
    MAIL_BACKEND = "file"


class TestingConfig(Config):
    TESTING = True
    BCRYPT_LOG_ROUNDS = 4
    RATELIMIT_ENABLED = False
    MAIL_BACKEND = "file"


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
    if not settings.get("MAIL_FILE_PATH"):
        settings["MAIL_FILE_PATH"] = str((Path(instance_path or "instance") / "mail").resolve())
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
    _validate_browser(settings)
    _validate_mail(settings)
    _validate_audience(settings)
    _validate_public_base_url(settings.get("PUBLIC_BASE_URL"))
    for name in ("JWT_ACCESS_TOKEN_EXPIRES", "JWT_REFRESH_TOKEN_EXPIRES", "JWT_FRESH_MAX_AGE",
                 "JWT_LEEWAY"):
        # Past this, now + lifetime leaves what a datetime (and a token's exp) can hold.
        if settings[name] > MAX_DURATION:
            raise ConfigError(f"{name} must be at most {MAX_DURATION} seconds (100 years)")
    if not 1 <= settings["MFA_TOKEN_EXPIRES"] <= MAX_DURATION:
        raise ConfigError("MFA_TOKEN_EXPIRES must be at least 1 second")
    if settings["LOGIN_MAX_FAILURES"] < 1 or settings["LOGIN_LOCKOUT"] < 1:
        raise ConfigError("LOGIN_MAX_FAILURES and LOGIN_LOCKOUT must be at least 1")
    if not 8 <= settings["PASSWORD_MIN_LENGTH"] <= 256:
        raise ConfigError("PASSWORD_MIN_LENGTH must be between 8 and 256")
    if (settings.get("PASSWORD_BREACH_CHECK") or "none").lower() not in {"none", "hibp"}:
        raise ConfigError("PASSWORD_BREACH_CHECK must be hibp or empty")
    if settings["USERGATE_CONFIG"] == "production":
        secret = settings.get("SECRET_KEY") or ""
        if secret == DEFAULT_SECRET_KEY or len(secret.encode()) < 32:
            raise ConfigError(
                "production needs SECRET_KEY set to a random value of at least 32 bytes "
                '(python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )


_ORIGIN = re.compile(r"https?://[^/\s?#*]+")


def parse_origins(value: str | None) -> list[str]:
    """CORS_ORIGINS as a list of origins (scheme://host[:port], lower-cased, no slash)."""
    origins = []
    for item in (value or "").split(","):
        origin = item.strip().rstrip("/").lower()
        if not origin:
            continue
        if not _ORIGIN.fullmatch(origin):
            raise ConfigError(
                f"CORS_ORIGINS holds {item.strip()!r}: each entry must be an origin like "
                "https://app.example.com (no path, no wildcard: credentials are allowed)")
        origins.append(origin)
    return origins


def _validate_browser(settings: dict) -> None:
    transport = str(settings["REFRESH_TOKEN_TRANSPORT"]).strip().lower()
    if transport not in {"body", "cookie"}:
        raise ConfigError("REFRESH_TOKEN_TRANSPORT must be body or cookie")
    settings["REFRESH_TOKEN_TRANSPORT"] = transport
    if settings["SESSION_MAX_AGE"] < 1:
        raise ConfigError("SESSION_MAX_AGE must be at least 1 second")
    parse_origins(settings.get("CORS_ORIGINS"))


def _validate_mail(settings: dict) -> None:
    if settings["MAIL_BACKEND"] not in {"smtp", "file", "console"}:
        raise ConfigError("MAIL_BACKEND must be one of smtp, file, console")
    if settings["MAIL_USE_TLS"] and settings["MAIL_USE_SSL"]:
        raise ConfigError("MAIL_USE_TLS (STARTTLS) and MAIL_USE_SSL (implicit TLS) "
                          "exclude each other: set one")
    for name in ("PASSWORD_RESET_URL", "EMAIL_VERIFICATION_URL"):
        if settings.get(name) and "{token}" not in settings[name]:
            raise ConfigError(f"{name} must contain {{token}} where the link token goes")
    if settings["MAIL_LEASE"] <= settings["MAIL_TIMEOUT"]:
        raise ConfigError("MAIL_LEASE must be longer than MAIL_TIMEOUT, or a slow send "
                          "could be claimed and sent again by another deliverer")


def resource_list(settings: dict) -> tuple[str, ...]:
    """JWT_RESOURCES as a tuple of URIs (comma-separated in the environment)."""
    raw = settings.get("JWT_RESOURCES") or ()
    items = raw.split(",") if isinstance(raw, str) else raw
    return tuple(item.strip() for item in items if item.strip())


def _validate_audience(settings: dict) -> None:
    from urllib.parse import urlsplit

    # RFC 8707 §2: a resource is an absolute URI without a fragment.
    for resource in resource_list(settings):
        parts = urlsplit(resource)
        if not parts.scheme or not parts.netloc or parts.fragment:
            raise ConfigError(f"JWT_RESOURCES holds {resource!r}: each resource must be an "
                              "absolute URI without a fragment (RFC 8707)")


def _validate_public_base_url(value: str | None) -> None:
    if not value:
        return
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if (parts.scheme not in ("http", "https") or not parts.hostname
            or parts.path.strip("/") or parts.query or parts.fragment):
        raise ConfigError("PUBLIC_BASE_URL must be an origin such as https://id.example.com "
                          f"(scheme and host, no path), not {value!r}")
