"""Start usergate with one command: `python3 run.py`.

On first run it makes a virtual environment in .venv, installs usergate into
it, migrates the SQLite database, creates a first admin if there is none, and
serves on http://localhost:5000. `flask --app run.py ...` uses this module too.

Whatever stops it (a `.venv` that is a file or a broken environment, no venv
module, no pip, a failed install, a taken port, a bad setting, a missing
database driver), it says so in one line starting with `usergate:` and exits
with status 1; it never ends in a traceback.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
VENV_PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
STAMP = VENV / ".usergate-installed"
MIN_PYTHON = (3, 11)


class Stop(Exception):
    """A reason to stop, told to the user in one line."""


def say(message: str) -> None:
    print(f"usergate: {message}", flush=True)


def _reexec(python: Path) -> None:
    """Run this script again under `python` (the interpreter of .venv)."""
    argv = [str(python), str(Path(__file__).resolve()), *sys.argv[1:]]
    sys.stdout.flush()
    if os.name == "nt":  # no exec on Windows: wait for the child and pass on its status
        sys.exit(subprocess.call(argv))
    try:
        os.execv(argv[0], argv)
    except OSError as exc:
        raise Stop(f"cannot run {python} ({exc.strerror}); remove .venv (rm -rf .venv) "
                   "and run python3 run.py again") from None


def _inside_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _check_venv_python() -> None:
    """.venv exists: stop unless it is a virtual environment whose python runs."""
    if VENV.is_symlink() or VENV.is_file():
        raise Stop(".venv is a file, not a virtual environment (tox 4 writes a PEP 832 "
                   "redirect file there); remove it (rm .venv) and run python3 run.py again")
    if not (VENV / "pyvenv.cfg").is_file():
        raise Stop(".venv exists but is not a virtual environment (no pyvenv.cfg); move it "
                   "away or remove it (rm -rf .venv) and run python3 run.py again")
    try:
        probe = subprocess.run(
            [str(VENV_PYTHON), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=60)
        version = tuple(int(part) for part in probe.stdout.strip().split("."))
        works = probe.returncode == 0
    except (OSError, ValueError, subprocess.TimeoutExpired):
        works, version = False, ()
    if not works:
        raise Stop(f".venv is a broken virtual environment ({VENV_PYTHON} does not run); "
                   "remove it (rm -rf .venv) and run python3 run.py again")
    if version < MIN_PYTHON:
        raise Stop(f".venv holds Python {'.'.join(map(str, version))}; usergate needs "
                   f"{'.'.join(map(str, MIN_PYTHON))}+: remove it (rm -rf .venv) and run "
                   "python3 run.py again with a newer python3")


def _create_venv() -> None:
    try:
        import ensurepip  # noqa: F401 - Debian ships venv without it (python3-venv)
        import venv  # noqa: F401
    except ImportError:
        raise Stop(f"{sys.executable} cannot create virtual environments (no venv/ensurepip); "
                   "install python3-venv (Debian/Ubuntu: apt install python3-venv) and run "
                   "python3 run.py again") from None
    say("creating .venv")
    made = not VENV.exists()
    result = subprocess.run([sys.executable, "-m", "venv", str(VENV)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        if made:  # leave nothing half-made for the next run to trip over
            import shutil

            shutil.rmtree(VENV, ignore_errors=True)
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no message"]
        raise Stop(f"could not create .venv: {lines[-1].strip()}")


def _bootstrap() -> None:
    """Outside .venv: check or make it, then run again inside it."""
    if sys.version_info < MIN_PYTHON:
        raise Stop(f"usergate needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; "
                   f"{sys.executable} is {sys.version.split()[0]}")
    if not (HERE / "pyproject.toml").is_file():
        raise Stop(f"run.py belongs in a usergate checkout; {HERE} has no pyproject.toml")
    if VENV.exists() or VENV.is_symlink():
        is_empty_dir = VENV.is_dir() and not VENV.is_symlink() and not any(VENV.iterdir())
        if not is_empty_dir:
            _check_venv_python()
    if not VENV_PYTHON.exists():
        _create_venv()
    _reexec(VENV_PYTHON)


def install_digest(folder: Path) -> str:
    """What the install depends on; a change means install again."""
    return hashlib.sha256(b"".join(
        (folder / name).read_bytes() for name in ("pyproject.toml", "setup.py")
        if (folder / name).is_file())).hexdigest()


def _install() -> None:
    """Inside .venv: install usergate (editable) once per pyproject.toml change."""
    digest = install_digest(HERE)
    if STAMP.is_file() and STAMP.read_text() == digest:
        return
    pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if pip.returncode != 0:
        raise Stop(".venv has no pip; remove it (rm -rf .venv) and run python3 run.py again")
    say("installing dependencies into .venv")
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                                "--disable-pip-version-check", "-e", f"{HERE}[server]"])
    if installed.returncode != 0:
        raise Stop(f"installing usergate into .venv failed (pip exit {installed.returncode}, "
                   "its messages are above); check access to the package index and run "
                   "python3 run.py again")
    STAMP.write_text(digest)
    # A fresh interpreter picks up the editable install's path entry.
    _reexec(Path(sys.executable))


def _address() -> tuple[str, int]:
    host = os.environ.get("USERGATE_HOST", "127.0.0.1")
    raw = os.environ.get("USERGATE_PORT", "5000").strip()
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise Stop(f"USERGATE_PORT must be a port number from 1 to 65535, not {raw!r}")
    port = int(raw)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Stop(f"USERGATE_HOST={host!r} is not an address to listen on ({exc})") from None
    family, _, _, _, sockaddr = infos[0]
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        # The server sets SO_REUSEADDR too, so a port in TIME_WAIT does not count as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(sockaddr)
    except OSError as exc:
        raise Stop(f"cannot listen on {host}:{port} ({exc.strerror}); another program may be "
                   "using it: set USERGATE_PORT to a free port") from None
    finally:
        probe.close()
    return host, port


def _serve() -> None:
    os.chdir(HERE)
    host, port = _address()
    try:
        from flask_migrate import upgrade

        from usergate import create_app
        from usergate.services.bootstrap import ensure_first_admin
    except ImportError as exc:
        STAMP.unlink(missing_ok=True)  # the next run reinstalls
        raise Stop(f"usergate is not installed properly in .venv ({exc}); run python3 run.py "
                   "again to reinstall") from None
    from usergate.startup import StartupError

    try:
        app = create_app()
    except StartupError as exc:
        raise Stop(exc.message) from None
    try:
        with app.app_context():
            upgrade()
            created = ensure_first_admin()
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        reason = getattr(exc, "orig", None) or exc
        first = (str(reason).strip().splitlines() or [type(reason).__name__])[0]
        what = "the database" if isinstance(exc, SQLAlchemyError) else "setting up"
        raise Stop(f"{what} failed before serving: {first}") from None
    if created:
        email, password = created
        # The generated password goes to a private file, never to the log.
        secret_file = Path(app.instance_path) / "first-admin-password.txt"
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        say(f"created the first admin {email}; its password is in {secret_file}\n"
            "          (set USERGATE_ADMIN_EMAIL / USERGATE_ADMIN_PASSWORD to choose them)")
    say(f"serving on http://localhost:{port}/api/v1/ui")
    from usergate.services.mail import start_background_deliverer

    start_background_deliverer(app)  # the mail outbox; USERGATE_MAIL_DELIVERY=off: none
    app.run(host=host, port=port, debug=False, threaded=True)


def main() -> int:
    try:
        if not _inside_venv():
            _bootstrap()
        _install()
        _serve()
    except Stop as exc:
        print(f"usergate: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line, as promised, even for what nobody foresaw
        print(f"usergate: stopped by {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def __getattr__(name: str):
    """`flask --app run.py`: the app, built when flask asks for it (not at import)."""
    if name == "app":
        from usergate import create_app

        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)


if __name__ == "__main__":
    sys.exit(main())
