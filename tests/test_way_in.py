"""An installed (not editable) usergate migrates and serves from any directory.

`pip install '.[server]'` of a copy of this checkout into a fresh virtual environment
(no system site-packages; pip fetches the dependencies from its index as usual, so
the first run takes a minute or two), then, from a directory that holds no
migrations/ and no source: `flask --app usergate db upgrade` on a SQLite file, and
`gunicorn 'usergate:create_app()'` answering /api/v1/health. The same environment
has no psycopg, so it also shows what a PostgreSQL URL without the `postgres`
extra says.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.net import free_port, wait_for_health
from helpers.settings import clean_env

pytestmark = [
    pytest.mark.slow,
    # Nothing here touches the test database: run it once, in the SQLite pass, not
    # again in `tox -e postgres` (CI's time budget).
    pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")),
                       reason="independent of the test database; runs in the SQLite pass"),
]

REPO = Path(__file__).resolve().parents[1]
_NOT_SHIPPED = shutil.ignore_patterns(".git", ".tox", ".venv", "build", "dist", "instance",
                                      "*.egg-info", "__pycache__", ".pytest_cache",
                                      ".ruff_cache", "*.db")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ folder of a fresh venv with usergate installed from a copy of the checkout."""
    root = tmp_path_factory.mktemp("way-in")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=_NOT_SHIPPED)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", f"{source}[server]"],
        env=clean_env(), capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    shutil.rmtree(source)  # nothing may still read the checkout
    return venv / "bin"


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    # gunicorn reads ./gunicorn.conf.py; versions without a control socket ignore the name.
    (folder / "gunicorn.conf.py").write_text("control_socket_disable = True\n")
    return folder


def test_the_wheel_carries_the_migrations(installed):
    done = subprocess.run(
        [str(installed / "python"), "-c",
         "import importlib.resources as r, usergate; print(usergate.__file__); "
         "m = r.files('usergate.migrations'); "
         "print(sorted(p.name for p in m.iterdir() if not p.name.startswith('__')))"],
        env=clean_env(), capture_output=True, text=True, check=True, cwd="/")
    module_file, listing = done.stdout.splitlines()
    assert module_file.startswith(str(installed.parent))  # the installed copy, not src/
    for name in ("alembic.ini", "env.py", "script.py.mako", "versions"):
        assert name in listing


def test_installed_usergate_migrates_and_serves_from_another_directory(installed, elsewhere):
    database = elsewhere / "usergate.db"
    env = clean_env(DATABASE_URL=f"sqlite:///{database}")

    upgrade = subprocess.run([str(installed / "flask"), "--app", "usergate", "db", "upgrade"],
                             cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)

    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert {"users", "sessions", "addresses", "alembic_version"} <= tables
    assert len(version) == 1

    port = free_port()
    server = subprocess.Popen(
        [str(installed / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "usergate:create_app()"],
        cwd=elsewhere, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}", server, seconds=120) == 200
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=60)
    assert "Traceback" not in output, output


def test_installed_usergate_without_psycopg_names_the_extra(installed, elsewhere):
    env = clean_env(DATABASE_URL="postgresql://postgres@127.0.0.1:5432/usergate")

    upgrade = subprocess.run([str(installed / "flask"), "--app", "usergate", "db", "upgrade"],
                             cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    served = subprocess.run(
        [str(installed / "gunicorn"), "--bind", f"127.0.0.1:{free_port()}",
         "usergate:create_app()"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)

    for done in (upgrade, served):
        output = done.stdout + done.stderr
        assert done.returncode != 0
        assert "pip install 'usergate[postgres]'" in output
        assert "Traceback" not in output and "No such command" not in output, output
