"""Flask-Limiter, doing its work only on the requests that meet a limit.

usergate limits a few routes with a decorator (`RouteLimiter.route_limit`) and
sets no application-wide, default or meta limits. Flask-Limiter still runs three
hooks on every request: a before_request check that resolves the (empty) set of
limits of the route, an after_request hook that looks for limit headers to add,
and a teardown that resets its per-request state. On a protected GET that was
about a tenth of the request (docs/benchmarks.md).

`RouteLimiter` keeps the before_request check only when some limit applies to
every route (RATELIMIT_DEFAULT, RATELIMIT_APPLICATION, RATELIMIT_META or
RATELIMIT_IN_MEMORY_FALLBACK, or limits given to the constructor); adds the
header hook to a request (`after_this_request`) only when its limits were
evaluated (a decorated route); and drops the teardown, whose state lives on the
request context and goes with it. The same headers in the same order, the same
429s, no work elsewhere (tests/test_limiting.py, tests/test_header_set.py).
"""

from __future__ import annotations

from functools import wraps

from flask import Flask, after_this_request, current_app
from flask.globals import request_ctx
from flask_limiter import Limiter

# Settings that put a limit on every route: with any of them the check runs always.
_APP_WIDE = ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META",
             "RATELIMIT_IN_MEMORY_FALLBACK")
_USED = "_usergate_limiter_used"
# In the WSGI environ of a request whose limits Flask-Limiter evaluated: only such a
# response can carry its Retry-After (app_setup.EveryResponse looks for it then).
LIMITER_USED_KEY = "usergate.limiter_used"


class RouteLimiter(Limiter):
    _inject_headers = None  # Flask-Limiter's after_request hook, run per request when used

    @property
    def context(self):
        # Every use of Flask-Limiter's per-request state goes through here: the
        # first one in a request asks for the header hook at the end of it.
        ctx = request_ctx._get_current_object()
        if not getattr(ctx, _USED, False):
            setattr(ctx, _USED, True)
            ctx.request.environ[LIMITER_USED_KEY] = True
            if self._inject_headers is not None:
                after_this_request(self._inject_headers)
        return super().context

    def route_limit(self, limit):
        """`limit(limit)` for a route, skipped whole when the app's RATELIMIT_ENABLED is off.

        Off, Flask-Limiter's own decorator still identifies the route and resolves
        and evaluates its limits on every request (~7% of an introspection,
        bench/oauth.py). Asked of the app, not of `self.enabled`: one limiter object
        serves every app of the process.
        """
        def decorate(view):
            limited = self.limit(limit)(view)

            @wraps(view)
            def route(*args, **kwargs):
                if current_app.config["RATELIMIT_ENABLED"]:
                    return limited(*args, **kwargs)
                return view(*args, **kwargs)
            return route
        return decorate

    def init_app(self, app: Flask) -> None:
        super().init_app(app)
        if not self.enabled:
            return
        app_wide = (any(app.config.get(key) for key in _APP_WIDE)
                    or self.limit_manager.default_limits
                    or self.limit_manager.application_limits)
        before = app.before_request_funcs.setdefault(None, [])
        if not app_wide and self._check_request_limit in before:
            before.remove(self._check_request_limit)
        after = app.after_request_funcs.setdefault(None, [])
        for hook in [h for h in after if getattr(h, "args", None) == (self,)]:
            # partial(Limiter.__inject_headers, self): registered last, so it ran
            # first of the app's after_request hooks; a request's own
            # after_this_request hooks run before those, so the order is the same.
            after.remove(hook)
            self._inject_headers = hook
        # Its teardown only resets the per-request state, which lives on the
        # request context and goes with it.
        teardown = app.teardown_request_funcs.setdefault(None, [])
        teardown[:] = [h for h in teardown if getattr(h, "__self__", None) is not self]
