"""What the tests share, one module per subject (import from the module: `from helpers.tokens
import claims_of`). Nothing here imports pytest, so bench/ can use `helpers.live` too.

- settings: the test settings of an app, the explicit environment of every child process;
- accounts: PASSWORD, Tokens, AuthActions (register, sign in, headers via the real endpoints);
- problems: assert_problem and the RFC 6750 challenges;
- tokens: claims_of, header_of, bearer, b64 (reading tokens, never verifying them);
- paging: the rel -> URL map of a Link header;
- cookies: parse_set_cookies, every attribute of every Set-Cookie of a response;
- net: free_port, wait_for_health;
- live: the one live server (werkzeug or gunicorn in a child process, or a thread);
- databases: scratch PostgreSQL databases;
- smtp: a real SMTP server (aiosmtpd) and the mail it received.
"""
