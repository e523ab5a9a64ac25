"""Serving behind a proxy that terminates HTTPS (Render, any load balancer).

``TAGSMITH_PROXIES`` says how many proxies stand in front: werkzeug's ProxyFix then takes the
client's address (the rate limits' key) and the scheme from their X-Forwarded-For and
X-Forwarded-Proto headers, and from no one else's. A request that came over HTTPS gets a
Secure session cookie and HSTS; plain HTTP (``make run`` on a laptop) keeps working.
The Host header is checked by Flask itself against ``TRUSTED_HOSTS`` (400 otherwise).
"""

from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

HSTS = "max-age=31536000"  # a year; no includeSubDomains: the site may live on a shared domain


class SessionInterface(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: Flask) -> bool:
        # Once a visitor came over HTTPS, the cookie (the CSRF token's secret) never travels in clear.
        return super().get_cookie_secure(app) or request.is_secure


def init_app(app: Flask) -> None:
    proxies = app.config["PROXIES"]
    if proxies:
        # X-Forwarded-Host is left alone: the Host header is the one TRUSTED_HOSTS checks.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    app.session_interface = SessionInterface()

    @app.after_request
    def strict_transport_security(response):
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
