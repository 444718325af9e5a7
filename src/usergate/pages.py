"""The small built-in pages mail links open: /account/verify and /account/reset.

Plain HTML forms; a same-origin script (static/account/account.js) reads the
token from the URL fragment (or, for links that put it in the query, from
there, then removes it from the address bar) and posts it to the API. The
fragment never reaches the server, so no access log holds the token; the
Content-Security-Policy allows nothing but this origin's own script and style,
and `Referrer-Policy: no-referrer` keeps the URL out of every Referer.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

pages = Blueprint("account", __name__, url_prefix="/account",
                  static_folder="static/account", static_url_path="/static")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


@pages.after_request
def _page_headers(response):
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response


def _render(template: str):
    return render_template(template, product=current_app.config["MAIL_PRODUCT_NAME"])


@pages.get("/verify")
def verify():
    return _render("account/verify.html")


@pages.get("/reset")
def reset():
    return _render("account/reset.html")
