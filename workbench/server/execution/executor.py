"""The one interface the front runs chain plans through, and its in-process implementation.

``ProcessPool`` (execution/process_pool.py) runs plans in long-lived worker processes; ``LocalExecutor`` runs
them in the calling process (``procs = 0``). Both take the plan itself as the request: the steps to run, the
chain's time budget and the plugin generation it was made with.
"""

from __future__ import annotations

from typing import Any, Protocol

from workbench.server.data_store.base import DataStore
from workbench.server.execution.chain_runner import ChainResult, ChainRunner
from workbench.server.execution.pool_calls import call_function
from workbench.server.planning.chain_plan import ChainPlan
from workbench.server.planning.plugin_manager import PluginManager


class Executor(Protocol):
    """Runs chain plans; ``size``/``replaced``/``alive``/``load`` describe its worker processes for ``info``."""

    size: int
    replaced: int

    def run(self, plan: ChainPlan) -> ChainResult:
        """Run the steps ``plan`` marks to run within ``plan.timeout``; the requested worker's output."""

    def call(self, function: str, args: list[Any], timeout: float, what: str) -> Any:
        """Run ``function(store, *args)`` (a name in execution/pool_calls.CALLS) within ``timeout``."""

    def alive(self) -> int:
        """How many worker processes are running."""

    def load(self) -> dict[str, Any]:
        """Tasks each worker process holds, and tasks waiting for one."""

    def close(self) -> None:
        """Stop the worker processes."""


class LocalExecutor:
    """Runs plans in the calling process (``procs = 0``): for debugging, notebooks and in-memory stores.

    The plan's generation is the front's own (same plugins). Timeouts: each worker's timeout is enforced with
    SIGALRM when the chain runs on the process's main thread (scripts, notebooks, tests); the chain's total
    budget is the sum of those. Native code cannot be stopped in-process (that would kill the caller), and
    under the gevent server (chains run in greenlets, not the main thread) nothing can be interrupted: a long
    chain blocks the event loop. Use worker processes (``procs >= 1``) to serve untrusted samples.
    """

    size = 0
    replaced = 0

    def __init__(self, store: DataStore, plugins: PluginManager, default_timeout: float,
                 max_sample_bytes: int) -> None:
        self.runner = ChainRunner(store, plugins, default_timeout, max_sample_bytes, enforce_timeouts=True,
                                  native_grace=None, verify_versions=False)

    def alive(self) -> int:
        """No worker processes in local mode."""
        return 0

    def load(self) -> dict[str, Any]:
        """No worker processes in local mode."""
        return {"held": [], "waiting": 0}

    def run(self, plan: ChainPlan) -> ChainResult:
        """Run the plan right here."""
        return self.runner.run(plan)

    def call(self, function: str, args: list[Any], timeout: float, what: str) -> Any:
        """Run ``function(store, *args)`` right here (no timeout beyond the function's own)."""
        return call_function(function, self.runner.store, args)

    def close(self) -> None:
        """Nothing to stop."""
