"""Is the port free? Asked before the server creates anything, so a second server on a busy port leaves no trace."""

from __future__ import annotations

import errno
import socket

from workbench.exceptions import BadArgument


def check_port_free(bind: str, port: int) -> None:
    """BadArgument (one line, with the fix) if something already listens on bind:port.

    Binds a throwaway socket with SO_REUSEADDR, as libzmq does, so a port left in TIME_WAIT by a server that
    just stopped counts as free, and only a live listener counts as busy.
    """
    host = "" if bind in ("*", "0.0.0.0") else bind  # noqa: S104 - zmq's wildcard spelled for the socket module
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BadArgument(f"port {port} on {bind} is in use (another workbench-server?); stop it, or "
                                  "start this one with --port N") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise BadArgument(f"cannot listen on {bind}: no such local address; use --bind 127.0.0.1 or "
                                  "an address of this machine") from None
            raise BadArgument(f"cannot listen on {bind}:{port}: {exc.strerror}; pick another --bind/--port") from None
