"""`python3 run.py` says in one line what stops it, never a traceback, and serves otherwise.

Each test copies run.py, pyproject.toml and setup.py into a folder of its own, so the
checkout's .venv is never touched. Where run.py must get past its install step, the
folder's .venv is a real virtual environment (made without pip, in a second) whose
`.pth` file points at this checkout's src/ and at the test interpreter's packages,
with run.py's install stamp written, as a finished first run leaves it. The missing
database driver is simulated by a `psycopg` package that fails to import.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from helpers.net import free_port, wait_for_health
from helpers.settings import clean_env

REPO = Path(__file__).resolve().parents[1]


def _load_run_py():
    spec = importlib.util.spec_from_file_location("usergate_run_py", REPO / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines functions only; the app is built lazily
    return module


@pytest.fixture
def project(tmp_path) -> Path:
    folder = tmp_path / "checkout"
    folder.mkdir()
    for name in ("run.py", "pyproject.toml", "setup.py"):
        (folder / name).write_bytes((REPO / name).read_bytes())
    return folder


def run_py(folder: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(folder / "run.py")], cwd=folder,
                          env=clean_env(**env), capture_output=True, text=True, timeout=180)


def assert_one_line(result: subprocess.CompletedProcess, *phrases: str) -> str:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("usergate: "), lines[0]
    for phrase in phrases:
        assert phrase in lines[0]
    assert result.returncode == 1
    return lines[0]


def ready_venv(folder: Path, *first: Path, pip: bool = True) -> Path:
    """folder/.venv as a finished first run leaves it, using this checkout's code."""
    venv = folder / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python3*/site-packages"))
    paths = [*first, REPO / "src"]
    if pip:  # the test interpreter's packages (pip, flask, ...) stand in for the install
        paths.append(Path(sysconfig.get_paths()["purelib"]))
    (site / "usergate-test.pth").write_text("".join(f"{path}\n" for path in paths))
    (venv / ".usergate-installed").write_text(_load_run_py().install_digest(folder))
    return venv


def test_a_venv_file_from_tox_is_explained(project):
    (project / ".venv").write_text(".tox/py311\n")  # what tox 4's PEP 832 redirect writes

    line = assert_one_line(run_py(project), ".venv is a file", "rm .venv")

    assert (project / ".venv").read_text() == ".tox/py311\n", line  # left as found


def test_tox_is_told_to_leave_the_venv_name_alone():
    # tox 4 writes that redirect file at .venv unless venv_redirect is off.
    assert "venv_redirect = false" in (REPO / "tox.ini").read_text().split("[testenv]")[0]


def test_a_folder_that_is_not_a_venv_is_explained(project):
    (project / ".venv").mkdir()
    (project / ".venv" / "notes.txt").write_text("mine")

    assert_one_line(run_py(project), "not a virtual environment", "pyvenv.cfg")
    assert (project / ".venv" / "notes.txt").exists()


def test_a_broken_venv_is_explained(project):
    venv = ready_venv(project)
    (venv / "bin" / "python").unlink()  # e.g. the Python it was made from is gone

    assert_one_line(run_py(project), "broken virtual environment", "rm -rf .venv")


def test_a_venv_without_pip_is_explained(project):
    venv = ready_venv(project, pip=False)
    (venv / ".usergate-installed").unlink()  # so run.py wants to install

    assert_one_line(run_py(project), "no pip")


def test_a_taken_port_is_explained(project):
    ready_venv(project)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        assert_one_line(run_py(project, USERGATE_PORT=str(port)), f"127.0.0.1:{port}",
                        "USERGATE_PORT")


def test_a_bad_port_setting_is_explained(project):
    ready_venv(project)

    assert_one_line(run_py(project, USERGATE_PORT="http"), "USERGATE_PORT", "'http'")


def test_a_bad_setting_is_explained(project):
    ready_venv(project)

    assert_one_line(run_py(project, USERGATE_CONFIG="staging"), "USERGATE_CONFIG")


def _without_psycopg(tmp_path: Path) -> Path:
    hidden = tmp_path / "no-psycopg"
    (hidden / "psycopg").mkdir(parents=True)
    (hidden / "psycopg" / "__init__.py").write_text("raise ImportError('psycopg is hidden')\n")
    return hidden


POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/usergate"


def test_run_py_without_the_postgres_driver_names_the_extra(project, tmp_path):
    ready_venv(project, _without_psycopg(tmp_path))

    assert_one_line(run_py(project, DATABASE_URL=POSTGRES_URL),
                    "pip install 'usergate[postgres]'")


@pytest.mark.parametrize("target", ["usergate", "run.py"])
def test_flask_cli_without_the_postgres_driver_names_the_extra(tmp_path, target):
    hidden = _without_psycopg(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", target, "db", "upgrade"], cwd=REPO,
        env=clean_env(DATABASE_URL=POSTGRES_URL, PYTHONPATH=f"{hidden}{os.pathsep}{REPO / 'src'}"),
        capture_output=True, text=True, timeout=120)

    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Traceback" not in output and "No such command" not in output, output
    assert [line for line in output.splitlines() if line.strip()] == [
        "Error: DATABASE_URL is a PostgreSQL URL but its driver is not installed: "
        "pip install 'usergate[postgres]'"]


@pytest.mark.parametrize("preload", [False, True])
def test_gunicorn_without_the_postgres_driver_names_the_extra(tmp_path, preload):
    hidden = _without_psycopg(tmp_path)
    (tmp_path / "gunicorn.conf.py").write_text("control_socket_disable = True\n")
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{free_port()}",
               *(["--preload"] if preload else []), "usergate:create_app()"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=clean_env(DATABASE_URL=POSTGRES_URL,
                                        PYTHONPATH=f"{hidden}{os.pathsep}{REPO / 'src'}"))

    assert done.returncode != 0  # the arbiter stops instead of respawning workers
    assert "Traceback" not in done.stderr, done.stderr
    assert "pip install 'usergate[postgres]'" in done.stderr


def test_run_py_serves_migrates_and_creates_the_first_admin(project):
    ready_venv(project)
    port = free_port()
    server = subprocess.Popen([sys.executable, str(project / "run.py")], cwd=project,
                              env=clean_env(USERGATE_PORT=str(port)), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}", server) == 200
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert "Traceback" not in output, output
    secret = project / "instance" / "first-admin-password.txt"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert secret.read_text().strip() not in output  # the password never reaches the log
    assert (project / "instance" / "usergate.db").exists()


def test_a_bad_setting_stays_a_config_error_and_is_a_one_line_cli_error(tmp_path):
    import click

    from usergate import create_app
    from usergate.config import ConfigError

    with pytest.raises(ConfigError) as raised:
        create_app({"USERGATE_CONFIG": "staging",
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})

    assert isinstance(raised.value, click.ClickException)  # flask prints `Error: <line>`
    assert "USERGATE_CONFIG" in raised.value.format_message()
