"""How a streamed call's items go over the wire: one a message (the original protocol) or in lists; outputs from
worker processes as those encoded them (``EncodedOutput``, packed by rpc/zerorpc_compat.py)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

from workbench.exceptions import BadArgument


def batched(items: Iterator[Any], size: int) -> Iterator[Any]:
    """Items one by one (size 1, the original protocol) or in lists of ``size`` (far fewer messages)."""
    if not isinstance(size, int) or size < 1 or size > 10_000:
        raise BadArgument(f"batch_size must be a whole number from 1 to 10000, got {size!r}")
    relay = getattr(items, "relay", None)
    if relay is not None:  # a ResultStream: outputs go on as their worker processes encoded them
        relay()
    if size == 1:
        yield from items
        return
    batches = getattr(items, "batches", None)
    if batches is not None:  # a ResultStream: lists of what is ready, so cold results are not held back
        yield from batches(size)
        return
    while chunk := list(islice(items, size)):
        yield chunk
