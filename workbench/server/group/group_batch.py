"""One batch over the whole group: the cold md5s of a batch go, a chunk at a time, through the group's load
balancer to whichever server it picks (HAProxy ``leastconn``: the least loaded), while cached results stream
straight from the store on the server the client talks to.

Each chunk is one ``group_compute`` call on a fresh connection, so the balancer places every chunk anew. A
chunk's results come back together, so a server that dies mid-chunk loses nothing: the chunk is sent again
(what the dead server had stored by then is served from the store), and every result is yielded once.
"""

from __future__ import annotations

import logging
from typing import Any

import zerorpc

from workbench.server.rpc.zmq_context import OptionsContext

log = logging.getLogger(__name__)
RETRIABLE = (zerorpc.LostRemote, zerorpc.TimeoutExpired)


class GroupRunner:
    """Computes chunks of a batch on the group's servers through their load balancer."""

    def __init__(self, address: str, chunk_size: int, in_flight: int, curve: dict[int, Any] | None = None,
                 attempts: int = 3) -> None:
        self.address, self.chunk_size, self.in_flight = address, chunk_size, in_flight
        self.attempts = attempts
        self._context = OptionsContext(curve) if curve else None
        self.chunks_sent = self.chunks_resent = 0

    def compute(self, worker: str, md5s: list[str], chain_timeout: float) -> list[dict[str, Any]] | None:
        """``[{'md5', worker: output} | error record]`` for ``md5s`` from some server of the group, or None
        when no server answered ``attempts`` times (the caller then computes them itself)."""
        for attempt in range(self.attempts):
            client = zerorpc.Client(timeout=chain_timeout * len(md5s) + 30, heartbeat=5,
                                    context=self._context)
            try:
                client.connect(self.address)
                self.chunks_sent += 1
                return client.group_compute(worker, md5s)
            except RETRIABLE as exc:
                self.chunks_resent += 1
                log.warning("group chunk of %d %s chains lost (%s, attempt %d): sending it again",
                            len(md5s), worker, type(exc).__name__, attempt + 1)
            finally:
                client.close()
        return None
