"""The names tests import as `from support import ...`; they live in the helpers package."""

from helpers.accounts import PASSWORD, AuthActions, Tokens
from helpers.net import free_port, wait_for_health
from helpers.problems import assert_problem

__all__ = ["PASSWORD", "AuthActions", "Tokens", "assert_problem", "free_port",
           "wait_for_health"]
