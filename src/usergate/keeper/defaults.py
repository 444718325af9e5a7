"""The keeper's defaults and the rules between them, without importing anything heavy.

The command line's read path (``usergate-keeper token`` with a stored token
valid beyond the margin) needs these and nothing else of the refreshing code,
so they live apart from ``core`` (httpx) and ``store`` (SQLAlchemy).
"""

from __future__ import annotations

__all__ = ["DEFAULT_STORE", "DEFAULT_MARGIN", "DEFAULT_LEASE", "DEFAULT_HTTP_TIMEOUT",
           "check_timing"]

DEFAULT_STORE = "~/.usergate-keeper.db"
DEFAULT_MARGIN = 300.0
DEFAULT_LEASE = 30.0
DEFAULT_HTTP_TIMEOUT = 10.0


def check_timing(*, margin: float, lease_seconds: float, http_timeout: float) -> None:
    """Raise ValueError unless the margin and lease make sense with that HTTP timeout.

    The lease must outlast two requests (a refresh may need a second one to
    sign in again) plus a second, or a live holder could lose it mid-refresh.
    """
    if margin < 0:
        raise ValueError("margin must not be negative")
    if lease_seconds < 2 * http_timeout + 1:
        raise ValueError(f"lease ({lease_seconds}s) must exceed two HTTP timeouts "
                         f"({http_timeout}s) plus a second")
