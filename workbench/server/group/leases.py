"""Chain leases: across the servers of a group, one cold chain for (md5, worker, chain version) runs once.

Before a server runs a cold chain it takes a lease on it in the shared store (one atomic write). A second
server asking for the same output while the lease runs waits for the first one's output instead of computing
it again; it computes itself when the lease is released without an output (the chain failed), when the lease
expires (its holder died: nobody renews it), or after waiting the chain's whole time budget. The holder renews
its lease every third of ``lease_seconds`` while the chain runs, so only a dead holder's lease expires.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import gevent

from workbench.server.data_store.base import DataStore

log = logging.getLogger(__name__)
T = TypeVar("T")
POLL_FIRST_S, POLL_MAX_S = 0.05, 0.5  # waiting servers look again this often, backing off


class ChainLeases:
    """Takes, renews and waits on chain leases in the store for one server."""

    def __init__(self, store: DataStore, server_name: str, seconds: float) -> None:
        self.store, self.seconds = store, seconds
        self.holder = f"{server_name}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self.waits = 0  # chains another server computed while this one waited (info)

    @staticmethod
    def key(md5: str, worker: str, chain_version: str) -> str:
        """The lease's name: the output it promises."""
        return f"{md5}:{worker}:{chain_version}"

    def run_once(self, key: str, compute: Callable[[], T], stored: Callable[[], Any],
                 budget: float) -> tuple[T | None, Any]:
        """``(compute(), None)`` when this server computed, or ``(None, output)`` when another one did."""
        started = time.monotonic()
        while True:
            if self.store.take_lease(key, self.holder, self.seconds):
                renewer = gevent.spawn(self._renew, key)
                try:
                    return compute(), None
                finally:
                    renewer.kill(block=False)
                    self.store.release_lease(key, self.holder)
            output = self._wait(key, stored, started + budget)
            if output is not None:
                self.waits += 1
                return None, output
            if time.monotonic() - started > budget:
                log.warning("lease %s still held after %.0f s: computing it here as well", key, budget)
                return compute(), None

    def _wait(self, key: str, stored: Callable[[], Any], deadline: float) -> Any:
        """The output once another holder stored it; None when its lease ends without one, or at ``deadline``."""
        pause = POLL_FIRST_S
        while True:
            output = stored()
            if output is not None:
                return output
            if self.store.lease_holder(key) is None or time.monotonic() > deadline:
                return stored()
            gevent.sleep(pause)
            pause = min(pause * 2, POLL_MAX_S)

    def _renew(self, key: str) -> None:
        while True:
            gevent.sleep(self.seconds / 3)
            self.store.take_lease(key, self.holder, self.seconds)
