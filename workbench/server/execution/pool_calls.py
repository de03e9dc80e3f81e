"""Calls of the server's own functions in a worker process (the pool's second kind of task, beside chains).

A call names an entry of ``CALLS``, a closed registry (nothing is imported by name), and runs as
``function(store, *args)`` with the process's store, under the same timeout, crash and replacement handling as a
chain. Workers never see it. Used by the YARA retrohunt (workbench/server/retrohunt_task.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workbench.exceptions import BadArgument
from workbench.server.corpus import retrohunt_task
from workbench.server.data_store import DataStore

CALLS: dict[str, Callable[..., Any]] = {
    "retrohunt.match_samples": retrohunt_task.match_samples,
}


def call_function(name: str, store: DataStore, args: list[Any]) -> Any:
    """``CALLS[name](store, *args)``."""
    function = CALLS.get(name)
    if function is None:
        raise BadArgument(f"pool call {name!r} refused: not one of {sorted(CALLS)}")
    return function(store, *args)
