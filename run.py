"""Start usergate with one command: `python3 run.py`.

On first run it makes a virtual environment in .venv, installs usergate into
it, migrates the SQLite database, creates a first admin if there is none, and
serves on http://localhost:5000. `flask --app run.py ...` uses this module too.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
VENV_PYTHON = VENV / "bin" / "python"


def _bootstrap() -> None:
    """Install into .venv (once per pyproject.toml change), then re-run inside it."""
    if Path(sys.prefix).resolve() != VENV.resolve():
        if not VENV_PYTHON.exists():
            print("usergate: creating .venv", flush=True)
            subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()),
                                    *sys.argv[1:]])
    stamp = VENV / ".usergate-installed"
    digest = hashlib.sha256((HERE / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        print("usergate: installing dependencies into .venv", flush=True)
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet",
                               "--disable-pip-version-check", "-e", f"{HERE}[server]"])
        stamp.write_text(digest)
        # A fresh interpreter picks up the editable install's path entry.
        os.execv(sys.executable, [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]])


def _serve() -> None:
    os.chdir(HERE)
    from flask_migrate import upgrade

    from usergate import create_app
    from usergate.services.bootstrap import ensure_first_admin

    app = create_app()
    with app.app_context():
        upgrade()
        created = ensure_first_admin()
    if created:
        email, password = created
        # The generated password goes to a private file, never to the log.
        secret_file = Path(app.instance_path) / "first-admin-password.txt"
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        print(f"usergate: created the first admin {email}; its password is in {secret_file}\n"
              "          (set USERGATE_ADMIN_EMAIL / USERGATE_ADMIN_PASSWORD to choose them)",
              flush=True)
    host = os.environ.get("USERGATE_HOST", "127.0.0.1")
    port = int(os.environ.get("USERGATE_PORT", "5000"))
    print(f"usergate: serving on http://localhost:{port}/api/v1/ui", flush=True)
    app.run(host=host, port=port, debug=False, threaded=True)


if __name__ == "__main__":
    _bootstrap()
    _serve()
else:
    from usergate import create_app

    app = create_app()
