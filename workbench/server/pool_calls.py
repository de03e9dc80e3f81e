"""Calls of the server's own functions in a worker process (the pool's second kind of task, beside chains).

A call names ``module:function`` under ``workbench.server`` and is run as ``function(store, *args)`` with the
process's store, under the same timeout, crash and replacement handling as a chain. Workers never see it.
Used by the YARA retrohunt (workbench/server/retrohunt_task.py).
"""

from __future__ import annotations

import importlib
from typing import Any

from workbench.exceptions import BadArgument
from workbench.server.data_store import DataStore

CALLABLE_PREFIX = "workbench.server."


def call_function(spec: str, store: DataStore, args: list[Any]) -> Any:
    """``module:function(store, *args)``, for functions of workbench.server only."""
    module_name, _, name = spec.partition(":")
    if not module_name.startswith(CALLABLE_PREFIX) or not name.isidentifier():
        raise BadArgument(f"pool call {spec!r} refused: only 'workbench.server.<module>:<function>' can be called")
    return getattr(importlib.import_module(module_name), name)(store, *args)
