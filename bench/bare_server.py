"""The baseline every bench compares against: a bare zerorpc server with no Workbench code at all.

Run as ``python bench/bare_server.py PORT``. Same gevent patching and heartbeat as workbench-server, so the
difference measured is Workbench's own work.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from gevent import monkey

monkey.patch_all()

import zerorpc  # noqa: E402 - after patch_all, as in workbench-server


class Bare:
    """No-op call, byte sink, streams of a given dict and replays of held messages."""

    def noop(self, *args: Any) -> None:
        """Does nothing: the cost of one zerorpc call."""
        return None

    def put(self, data: bytes, name: str = "") -> int:
        """Receives bytes and drops them: the wire cost of an upload."""
        return len(data)

    @zerorpc.stream
    def items(self, count: int, item: dict) -> Iterator[dict]:
        """``count`` copies of ``item``, one per message."""
        for _ in range(count):
            yield item

    def hold(self, messages: list) -> int:
        """Keep messages (e.g. Arrow IPC bytes) in memory for ``replay``; returns how many."""
        self._held = list(messages)
        return len(self._held)

    @zerorpc.stream
    def replay(self) -> Iterator[Any]:
        """The held messages, one per stream message, exactly as given."""
        yield from getattr(self, "_held", [])

    @zerorpc.stream
    def item_lists(self, count: int, size: int, item: dict) -> Iterator[list]:
        """``count`` copies of ``item`` in lists of ``size`` (the last one shorter)."""
        sent = 0
        while sent < count:
            n = min(size, count - sent)
            yield [item] * n
            sent += n


def main() -> None:
    server = zerorpc.Server(Bare(), heartbeat=5)
    server.bind(f"tcp://127.0.0.1:{int(sys.argv[1])}")
    print("ready", flush=True)
    server.run()


if __name__ == "__main__":
    main()
