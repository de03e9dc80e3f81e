"""One batch over the whole group: the cold md5s of a batch go, a chunk at a time, through the group's load
balancer to whichever server it picks (HAProxy ``leastconn``: the least loaded), while cached results stream
straight from the store on the server the client talks to.

A batch opens up to ``in_flight`` connections to the balancer, which places each as it opens (``leastconn``
spreads them evenly), and sends its chunks over them as ``group_compute`` calls: a connection takes the next chunk
when its last one is answered, so a faster server takes more chunks. A connection per chunk cost more than the
chunk's own calls (a zmq socket opened and closed: ~1.2 ms of the sending server's CPU per chunk, measured with
py-spy). A chunk's results come back together, so a server that dies mid-chunk loses nothing: the chunk is sent
again on a fresh connection (what the dead server had stored by then is served from the store), and every result
is yielded once.
"""

from __future__ import annotations

import logging
from typing import Any

import zerorpc

from workbench.server.rpc.zmq_context import OptionsContext

log = logging.getLogger(__name__)
RETRIABLE = (zerorpc.LostRemote, zerorpc.TimeoutExpired)


class GroupRunner:
    """Computes chunks of batches on the group's servers through their load balancer."""

    def __init__(self, address: str, chunk_size: int, in_flight: int, curve: dict[int, Any] | None = None,
                 attempts: int = 3) -> None:
        self.address, self.chunk_size, self.in_flight = address, chunk_size, in_flight
        self.attempts = attempts
        self._context = OptionsContext(curve) if curve else None
        self.chunks_sent = self.chunks_resent = 0

    def connect(self) -> zerorpc.Client:
        """A new connection to the balancer (placed on a server as it opens)."""
        client = zerorpc.Client(heartbeat=5, context=self._context)
        client.connect(self.address)
        return client

    def batch(self) -> GroupBatch:
        """Connections for one batch (close it when the batch ends)."""
        return GroupBatch(self)


class GroupBatch:
    """One batch's connections to the balancer, each reused chunk after chunk."""

    def __init__(self, runner: GroupRunner) -> None:
        self.runner = runner
        self.idle: list[zerorpc.Client] = []
        self.closed = False  # a chunk answered after the batch ended closes its connection

    def compute(self, worker: str, md5s: list[str], chain_timeout: float) -> list[dict[str, Any]] | None:
        """``[{'md5', **EncodedOutput.wire()} | error record]`` for ``md5s`` (``WorkFront.compute_here``) from some
        server of the group, or None when no server answered ``attempts`` times (the caller then computes them)."""
        runner = self.runner
        for attempt in range(runner.attempts):
            client = self.idle.pop() if self.idle else runner.connect()
            try:
                runner.chunks_sent += 1
                answers = client.group_compute(worker, md5s, timeout=chain_timeout * len(md5s) + 30)
            except RETRIABLE as exc:
                client.close()
                runner.chunks_resent += 1
                log.warning("group chunk of %d %s chains lost (%s, attempt %d): sending it again",
                            len(md5s), worker, type(exc).__name__, attempt + 1)
                continue
            except BaseException:
                client.close()
                raise
            if self.closed:
                client.close()
            else:
                self.idle.append(client)
            return answers
        return None

    def close(self) -> None:
        """Close the connections (the servers forget them)."""
        self.closed = True
        while self.idle:
            self.idle.pop().close()
