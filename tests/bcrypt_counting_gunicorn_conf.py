"""gunicorn.conf.py, plus a count of bcrypt verifications (tests/test_lockout_gunicorn.py).

Each worker appends its pid to USERGATE_TEST_BCRYPT_LOG once per
`Bcrypt.check_password_hash` call, then runs the real one: the test reads how
many password checks reached the hash, across every worker.
"""

import os
import runpy

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
globals().update({name: value for name, value in
                  runpy.run_path(os.path.join(_ROOT, "gunicorn.conf.py")).items()
                  if not name.startswith("_")})


def post_fork(server, worker):
    import flask_bcrypt

    path = os.environ["USERGATE_TEST_BCRYPT_LOG"]
    original = flask_bcrypt.Bcrypt.check_password_hash

    def counting(self, pw_hash, password):
        with open(path, "a") as log:
            log.write(f"{os.getpid()}\n")
        return original(self, pw_hash, password)

    flask_bcrypt.Bcrypt.check_password_hash = counting
