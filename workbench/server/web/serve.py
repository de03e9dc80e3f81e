"""Run the web view beside the RPC service: gevent's WSGI server on ``[server] web_port``, same bind address."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("workbench.web")


def start_web(config: Any, workbench: Any, curve_on: bool) -> Any:
    """Start serving (non-blocking) and return the gevent WSGIServer; None when the view is off, and why is logged.

    With CURVE on, RPC clients prove who they are; the web view must not be a way around that, so it needs
    ``web_token`` or stays off."""
    port = config.get("server", "web_port")
    if not port:
        return None
    from gevent.pywsgi import WSGIServer

    from workbench.server.web.app import create_app

    bind, token = config.get("server", "bind"), config.get("server", "web_token")
    if curve_on and not token:
        log.warning("web view off: the server runs with CURVE and [server] web_token is empty; set web_token "
                    "(or WORKBENCH_SERVER_WEB_TOKEN) to serve the web view on port %d", port)
        return None
    if not token and bind not in ("127.0.0.1", "localhost", "::1"):
        log.warning("web view on %s:%d without web_token: anyone who can reach it can read every sample", bind, port)
    server = WSGIServer(_listener(bind, port), create_app(workbench, token=token or None), log=None, error_log=log)
    server.start()
    log.info("web view on http://%s:%d/%s", bind, port, " (asks for web_token)" if token else "")
    print(f"workbench-server web view on http://{bind}:{port}/", flush=True)
    return server


def _listener(bind: str, port: int) -> Any:
    """The listening socket, with TCP_NODELAY (inherited by accepted sockets on Linux).

    Without it a response written in two parts waits for the client's delayed ACK: about 40 ms per request on a
    keep-alive connection, measured in bench/bench_web.py."""
    import socket

    from gevent import socket as gsocket

    sock = gsocket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((bind, port))
    sock.listen(128)
    return sock
