"""Runs the keeper's command line in this process, then reports what it imported.

    python modules_after.py OUT [usergate-keeper arguments...]

Exactly what ``python -m usergate.keeper ARGS`` does (runpy runs the package's
``__main__``), then writes to OUT, as JSON, the exit status and which of the
heavy modules (SQLAlchemy, httpx, Flask and their parts) ended up in
``sys.modules``.  stdout and stderr are the command's own.
"""

import json
import runpy
import sys

HEAVY = ("sqlalchemy", "httpx", "httpcore", "flask", "werkzeug", "psycopg", "psycopg2")


def main() -> None:
    out = sys.argv[1]
    sys.argv = ["usergate-keeper", *sys.argv[2:]]
    status = 0
    try:
        runpy.run_module("usergate.keeper", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        loaded = sorted({name.split(".")[0] for name in sys.modules} & set(HEAVY))
        with open(out, "w") as f:
            json.dump({"status": status, "loaded": loaded}, f)
    sys.exit(status)


if __name__ == "__main__":
    main()
