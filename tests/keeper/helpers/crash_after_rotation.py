"""``usergate-keeper ARGS...`` that dies the moment it would store a refresh's result.

    python crash_after_rotation.py --store STORE run --margin M --lease L ...

The real command line and the real Worker; only ``TokenStore.complete`` -- the
one UPDATE that stores a refresh's new access and refresh tokens -- is replaced
by a SIGKILL of this process.  So the process dies after the token endpoint has
answered (the server has rotated the refresh token) and before anything is
stored: the row stays ``refreshing`` under this process's lease, holding the
refresh token the server has just spent.
"""

import os
import signal
import sys

from usergate.keeper import cli
from usergate.keeper.store import TokenStore


def die_instead_of_storing(self, name, owner, **_tokens) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    TokenStore.complete = die_instead_of_storing
    cli.main(args=sys.argv[1:], prog_name="usergate-keeper")
