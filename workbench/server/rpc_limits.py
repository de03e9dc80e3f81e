"""Per-client limits at the RPC boundary, so one client cannot exhaust the server.

A client is its CURVE public key when CURVE is on (zmq attaches the ZAP User-Id to every message), otherwise
its connection (the ROUTER routing id: one per zerorpc.Client). Each client may have at most
``max_inflight_per_client`` requests running (streams count until they end); the next one is answered at once
with ServerBusy, so the acceptor never stalls and memory stays bounded by clients x limit x 2 x max_message_mb.
A request over max_message_mb is answered with a clear BadArgument; ZeroMQ drops one over twice that unread.
With CURVE, a request whose key was removed from the authorized folder gets no answer at all, even on a
connection opened while the key was still allowed (ZAP only checks new connections).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import zerorpc
import zmq
from zerorpc.decorators import rep

from workbench.exceptions import BadArgument, ServerBusy

log = logging.getLogger(__name__)
BUSY_METHOD = "_workbench_server_busy"
TOO_LARGE_METHOD = "_workbench_message_too_large"
HARD_CEILING_FACTOR = 2  # ZeroMQ drops messages over this many times max_message_mb unread (no reply possible)


def payload_bytes(value: Any) -> int:
    """Roughly how many bytes of strings and bytes a decoded request carries."""
    if isinstance(value, bytes | str):
        return len(value)
    if isinstance(value, list | tuple):
        return sum(payload_bytes(item) for item in value)
    if isinstance(value, dict):
        return sum(payload_bytes(k) + payload_bytes(v) for k, v in value.items())
    return 8


def peer_user_id(event: Any) -> str | None:
    """The ZAP User-Id (CURVE: the client's z85 public key) of the connection an event came on, or None."""
    try:
        return event.identity[0].get("User-Id") or None
    except (AttributeError, IndexError, TypeError, zmq.ZMQError):
        return None


def peer_key(event: Any) -> bytes | str:
    """Who sent an event: the CURVE key if there is one, else the connection's routing id."""
    user_id = peer_user_id(event)
    if user_id:
        return user_id
    try:
        return b"".join(frame.bytes for frame in event.identity)
    except (AttributeError, TypeError):
        return b""


class LimitedServer(zerorpc.Server):
    """zerorpc.Server with a per-client in-flight bound and, with CURVE, a per-request key check."""

    def __init__(self, methods: Any = None, *, max_inflight_per_client: int = 0, max_message_bytes: int = 0,
                 key_allowed: Callable[[str | None], bool] | None = None, **kwargs: Any) -> None:
        super().__init__(methods, **kwargs)
        self.max_inflight_per_client = max_inflight_per_client
        self.max_message_bytes = max_message_bytes
        self._key_allowed = key_allowed
        self.inflight: Counter = Counter()
        limit = max_inflight_per_client

        def refuse(*_: Any) -> None:
            raise ServerBusy(f"server busy: this client already has {limit} requests in flight "
                             "(max_inflight_per_client); wait for some to finish, or raise [server] "
                             "max_inflight_per_client in the server's config.ini")

        def too_large(size: int) -> None:
            raise BadArgument(f"request of {size / 2**20:.1f} MB is over max_message_mb "
                              f"({max_message_bytes // 2**20} MB): upload big files in chunks (combine_samples, "
                              "as client_helper.upload_file does) or raise [server] max_message_mb")

        self._methods[BUSY_METHOD] = rep(refuse)
        self._methods[TOO_LARGE_METHOD] = rep(too_large)

    def _async_task(self, initial_event: Any) -> None:
        if self._key_allowed is not None and not self._key_allowed(peer_user_id(initial_event)):
            log.warning("dropped a request from a CURVE key that is no longer authorized (%s)",
                        peer_user_id(initial_event))
            return
        client = peer_key(initial_event)
        if self.max_inflight_per_client and self.inflight[client] >= self.max_inflight_per_client:
            initial_event.name = BUSY_METHOD  # answered at once with ServerBusy; the request is never run
            super()._async_task(initial_event)
            return
        size = payload_bytes(initial_event.args) if self.max_message_bytes else 0
        if size > self.max_message_bytes:
            initial_event.name = TOO_LARGE_METHOD
            initial_event._args = (size,)  # zerorpc Events expose args read-only
            super()._async_task(initial_event)
            return
        self.inflight[client] += 1
        try:
            super()._async_task(initial_event)
        finally:
            self.inflight[client] -= 1
            if self.inflight[client] <= 0:
                del self.inflight[client]
