"""The business layer: rules live here; no HTTP, no flask_restx.

Imports run down only: api -> services -> security/models (tests/test_architecture.py).

The transaction rule: the service function a view (or a CLI command) calls
owns the transaction and commits it; every helper it calls only stages
(adds, flushes, executes UPDATE/DELETE) and never commits or rolls back. A
helper that finds a problem raises; the entry point may roll back before it
raises on, and otherwise the request's teardown (Flask-SQLAlchemy removes the
session) discards whatever was staged. Two exceptions, documented where they are:
`authentication.authenticate` (and `mfa_tokens.authenticate_mfa`, likewise) ends
its read-only transaction with COMMIT; `lockout.check` commits the slot it takes
before bcrypt runs (every worker must see it at once; it runs before anything is
staged); and a failed password check commits its `login_failed` audit event
(`sessions.record_failure`) before raising, so the event outlives the error.

Modules by subject: accounts (users by email, credentials, register/login),
authentication (when a token is rejected, when it is fresh), sessions (start,
rotate, fresh login, logout, revoke), users, addresses, maintenance (the
blacklist and expired sessions), runtime (per-app settings), pagination, mfa
(two-factor: enrol, confirm, verify, disable, reset), mfa_tokens (the token
between a password and its second factor), lockout (failed password checks per
email), password_policy (a new password's rules), audit (security events).
"""
