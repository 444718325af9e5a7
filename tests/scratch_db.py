"""The names tests import as `from scratch_db import ...`; see helpers.databases."""

from helpers.databases import (
    TEST_DATABASE_URL,
    admin_execute,
    admin_url,
    postgres_configured,
    scratch_postgres_database,
)
from helpers.settings import app_settings

__all__ = ["TEST_DATABASE_URL", "admin_execute", "admin_url", "app_settings",
           "postgres_configured", "scratch_postgres_database"]
