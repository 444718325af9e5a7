"""Configuration is read once, from the environment, and refuses unsafe values."""

from __future__ import annotations

import pytest

from usergate import create_app
from usergate.config import DEFAULT_SECRET_KEY, ConfigError, load_config


def test_defaults_of_the_contract():
    settings = load_config(environ={}, instance_path="/tmp/usergate-test-instance")
    assert settings["USERGATE_CONFIG"] == "development"
    assert settings["JWT_ALGORITHM"] == "HS256"
    assert settings["JWT_ACCESS_TOKEN_EXPIRES"] == 900
    assert settings["JWT_REFRESH_TOKEN_EXPIRES"] == 2592000
    assert settings["JWT_FRESH_MAX_AGE"] == 900
    assert settings["JWT_LEEWAY"] == 0
    assert settings["RATELIMIT_STORAGE_URI"] == "memory://"
    assert settings["RATELIMIT_AUTH"] == "10/minute"
    assert settings["MAX_CONTENT_LENGTH"] == 64 * 1024
    assert settings["MAX_ADDRESSES_PER_USER"] == 50
    assert settings["DATABASE_URL"] == "sqlite:////tmp/usergate-test-instance/usergate.db"


def test_environment_overrides_and_types():
    settings = load_config(environ={
        "USERGATE_CONFIG": "testing", "JWT_ACCESS_TOKEN_EXPIRES": "60",
        "RATELIMIT_ENABLED": "yes", "DATABASE_URL": "postgresql://db.example/usergate",
    })
    assert settings["TESTING"] is True
    assert settings["JWT_ACCESS_TOKEN_EXPIRES"] == 60
    assert settings["RATELIMIT_ENABLED"] is True
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://db.example/usergate"


@pytest.mark.parametrize("environ, message", [
    ({"USERGATE_CONFIG": "staging"}, "USERGATE_CONFIG"),
    ({"JWT_ACCESS_TOKEN_EXPIRES": "15m"}, "JWT_ACCESS_TOKEN_EXPIRES"),
    ({"JWT_LEEWAY": "-1"}, "JWT_LEEWAY"),
    ({"RATELIMIT_ENABLED": "maybe"}, "RATELIMIT_ENABLED"),
    ({"JWT_ALGORITHM": "none"}, "JWT_ALGORITHM"),
    ({"JWT_ALGORITHM": "ES256"}, "JWT_PRIVATE_KEY_FILE"),
    ({"USERGATE_CONFIG": "production"}, "SECRET_KEY"),
    ({"USERGATE_CONFIG": "production", "SECRET_KEY": DEFAULT_SECRET_KEY}, "SECRET_KEY"),
    ({"USERGATE_CONFIG": "production", "SECRET_KEY": "x" * 31}, "SECRET_KEY"),
])
def test_bad_configuration_is_refused_with_the_setting_named(environ, message):
    with pytest.raises(ConfigError, match=message):
        load_config(environ=environ)


def test_production_starts_with_a_strong_secret(tmp_path):
    app = create_app({"USERGATE_CONFIG": "production", "SECRET_KEY": "s" * 48,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}", "BCRYPT_LOG_ROUNDS": 4})
    assert app.config["TESTING"] is False and app.config["DEBUG"] is False


def test_instance_folder_is_the_working_directory_s(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("USERGATE_INSTANCE_PATH", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app({"USERGATE_CONFIG": "testing"})
    assert app.instance_path == str(tmp_path / "instance")
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'instance' / 'usergate.db'}"
    monkeypatch.setenv("USERGATE_INSTANCE_PATH", str(tmp_path / "elsewhere"))
    assert create_app({"USERGATE_CONFIG": "testing"}).instance_path == str(tmp_path / "elsewhere")
