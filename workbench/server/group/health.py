"""The health endpoint a load balancer checks: ``GET /health`` on ``[server] health_port``, answered by the
server's own event loop.

A plain TCP check passes while ZeroMQ's I/O thread accepts connections even if the server's loop is stuck;
this answer comes from the loop itself, so a stopped, killed or hung server fails it within the balancer's
check interval (HAProxy: ``option httpchk``, see deploy/haproxy.cfg). 200 with a JSON body (server name, group,
worker processes alive, load) when the server can serve; 503 when its pool has no live worker process.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from gevent.pywsgi import WSGIServer

log = logging.getLogger(__name__)


def health_app(status: Callable[[], dict[str, Any]]) -> Callable:
    """A WSGI app answering ``/health`` with ``status()`` as JSON (503 when it says not ok)."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "/") not in ("/", "/health"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"GET /health\n"]
        try:
            body = status()
        except Exception as exc:  # the check must say why instead of hanging up
            body = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        code = "200 OK" if body.get("status") == "ok" else "503 Service Unavailable"
        start_response(code, [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
        return [json.dumps(body).encode() + b"\n"]

    return app


def start_health_server(bind: str, port: int, status: Callable[[], dict[str, Any]]) -> WSGIServer:
    """Serve the health endpoint on ``bind:port`` in this process's event loop (returns the started server)."""
    server = WSGIServer((bind, port), health_app(status), log=None, error_log=log)
    server.start()
    return server
