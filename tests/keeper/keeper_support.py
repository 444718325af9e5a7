"""Helpers shared by the token keeper's tests (imported, not a conftest)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import usergate.keeper

HERE = Path(__file__).resolve().parent
HELPERS = HERE / "helpers"
# The directory holding the usergate package, for child processes, whether or
# not the project is installed.
SRC = Path(usergate.keeper.__file__).resolve().parents[2]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python process that imports usergate.keeper."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
    env.pop("USERGATE_KEEPER_PASSWORD", None)
    env.update(extra)
    return env


def keeper_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "usergate.keeper", *args]


class Clock:
    """A clock tests move by hand instead of sleeping."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


