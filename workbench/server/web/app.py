"""The Flask app factory: security around the pages (CSRF, optional token, headers) and shared helpers."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, abort, g, redirect, render_template, request, session, url_for

from workbench.exceptions import WorkbenchError

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
OPEN_ENDPOINTS = {"web.login", "static"}


class TtlCache:
    """A value recomputed at most every ``ttl`` seconds (store-wide counts: cheap, but not per request)."""

    def __init__(self, compute: Callable[[], Any], ttl: float) -> None:
        self.compute, self.ttl = compute, ttl
        self._value: Any = None
        self._at = -1e9

    def get(self) -> Any:
        """The value, recomputed when older than ttl."""
        now = time.monotonic()
        if now - self._at > self.ttl:
            self._value, self._at = self.compute(), now
        return self._value

    def clear(self) -> None:
        """Forget the value (after a change the user should see at once)."""
        self._at = -1e9


def create_app(workbench: Any, token: str | None = None, secret_key: bytes | None = None) -> Flask:
    """The web view over one Workbench. With ``token``, every page asks for it once per browser session."""
    from workbench.server.web.views import bp

    app = Flask(__name__)
    app.config.update(SECRET_KEY=secret_key or secrets.token_bytes(32), SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict", MAX_CONTENT_LENGTH=64 * 1024)
    app.extensions["workbench"] = workbench
    app.extensions["web_token"] = token
    app.extensions["sample_counts"] = TtlCache(workbench.sample_counts, ttl=5.0)
    app.extensions["output_counts"] = TtlCache(workbench.output_counts, ttl=10.0)
    app.register_blueprint(bp)
    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.before_request
    def guard() -> Any:
        if token and not session.get("authed") and request.endpoint not in OPEN_ENDPOINTS:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if given and hmac.compare_digest(given.encode(), token.encode()):
                g.bearer = True  # scripts: the header on every request, no session
            else:
                return redirect(url_for("web.login", next=request.full_path))
        if request.method == "POST" and not getattr(g, "bearer", False):
            sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token", "")
            expected = session.get("csrf", "")
            if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
                abort(400, "the form's CSRF token is missing or out of date: reload the page and try again")
        return None

    @app.after_request
    def headers(response: Any) -> Any:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    @app.errorhandler(WorkbenchError)
    def workbench_error(exc: WorkbenchError) -> Any:
        status = 404 if type(exc).__name__ in ("UnknownMD5", "UnknownWorker") else 400
        return render_template("error.html", status=status, error=f"{type(exc).__name__}: {exc}"), status

    @app.errorhandler(400)
    @app.errorhandler(404)
    @app.errorhandler(405)
    def http_error(exc: Any) -> Any:
        return render_template("error.html", status=exc.code, error=exc.description), exc.code

    return app


def csrf_token() -> str:
    """This browser session's CSRF token (made on first use), for forms and htmx headers."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]
