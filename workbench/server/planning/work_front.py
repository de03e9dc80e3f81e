"""The front of the request path: plans each request, serves what is cached, hands the rest to the executor.

A cached request is a plan with nothing to run: one point read of the top worker's output (plus the sample's
type_tag when the chain dispatches on it); the sample's bytes are never read for it. A cold request's plan is
run by the executor (worker processes, or this process with ``procs = 0``). Batches stream through
``ResultStream`` (planning/batch_stream.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from workbench.exceptions import UnknownMD5
from workbench.server.data_store.base import DataStore
from workbench.server.execution.executor import Executor
from workbench.server.planning.batch_stream import ResultStream, select_subkeys
from workbench.server.planning.chain_plan import ChainPlan, ChainPlanner
from workbench.server.planning.plugin_manager import PluginManager


class WorkFront:
    """Serves work requests through chain plans; counts what it serves."""

    def __init__(self, store: DataStore, plugins: PluginManager, executor: Executor, default_timeout: float,
                 max_in_flight: int, stream_linger: float = 0.0) -> None:
        self.store, self.plugins, self.executor = store, plugins, executor
        self.planner = ChainPlanner(store, plugins, default_timeout)
        self.max_in_flight = max_in_flight
        self.stream_linger = stream_linger
        self.counters: Counter = Counter()
        self.workers_run: Counter = Counter()

    def run(self, plan: ChainPlan) -> dict[str, Any]:
        """The requested output of ``plan``: its stored output when nothing is to run, else the executor's."""
        if plan.output is not None:
            self.counters["cache_hits"] += 1
            return plan.output
        plan.check_runnable()
        ran = True
        try:
            result = self.executor.run(plan)
        except UnknownMD5:  # removed since it was planned: nothing ran
            ran = False
            raise
        finally:
            self.counters["chains_run"] += ran
        self.counters["sample_reads"] += result.sample_reads
        self.workers_run.update(result.ran)
        return result.output

    def work(self, worker: str, md5: str, subkeys: list[str] | None = None) -> dict[str, Any]:
        """``{'md5': md5, worker: output}``, served from the store when valid, else computed."""
        output = self.run(self.planner.plan(worker, md5))
        if subkeys:
            output = select_subkeys(worker, output, subkeys)
        return {"md5": md5, worker: output}

    def run_afresh(self, worker: str, md5: str) -> dict[str, Any]:
        """Run every step of the chain again, cached or not (``test_worker``): the output."""
        return self.run(self.planner.plan(worker, md5, run_all=True))

    def explain(self, worker: str, md5: str) -> dict[str, Any]:
        """The chain plan for one sample, every step judged: cached, stale and why, not applicable, or to run."""
        return self.planner.plan(worker, md5, every_step=True).explain()

    def stream(self, worker: str, md5s: Iterable[str], subkeys: list[str] | None = None) -> ResultStream:
        """One result (or error record) per md5, as they finish; at most ``max_in_flight`` chains at once."""
        self.plugins.get(worker)
        return ResultStream(self, worker, md5s, subkeys)
