"""The front of the request path: plans each request, serves what is cached, hands the rest to the executor.

A cached request is a plan with nothing to run: one point read of the top worker's output (plus the sample's
type_tag when the chain dispatches on it); the sample's bytes are never read for it. A cold request's plan is
run by the executor (worker processes, or this process with ``procs = 0``). Batches stream through
``ResultStream`` (planning/batch_stream.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import gevent.pool

from workbench.exceptions import UnknownMD5, WorkbenchError
from workbench.server.data_store.base import DataStore
from workbench.server.execution.executor import Executor
from workbench.server.execution.pipe_protocol import EncodedOutput, decoded
from workbench.server.planning.batch_stream import ResultStream, error_record, select_subkeys
from workbench.server.planning.chain_plan import ChainPlan, ChainPlanner
from workbench.server.planning.plugin_manager import PluginManager
from workbench.server.planning.slab_cache import Slab, SlabCache

if TYPE_CHECKING:
    from workbench.server.group.group_batch import GroupRunner
    from workbench.server.group.leases import ChainLeases


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
        self.leases: ChainLeases | None = None  # set in a group: one server computes each cold chain
        self.group: GroupRunner | None = None  # set in a group: batches spread over every server
        self.slabs = SlabCache(store, self.counters)

    def run(self, plan: ChainPlan) -> dict[str, Any]:
        """The requested output of ``plan``: its stored output when nothing is to run, else the executor's."""
        return decoded(self.run_encoded(plan))

    def run_encoded(self, plan: ChainPlan) -> dict[str, Any] | EncodedOutput:
        """``run``, leaving an output from a worker process as that process encoded it (a batch stream relays it
        to the client as it is)."""
        if plan.output is not None:
            self.counters["cache_hits"] += 1
            return plan.output
        plan.check_runnable()
        top = plan.steps[-1].shape
        if self.leases is None or not top.cacheable:
            return self._execute(plan)
        output, found = self.leases.run_once(self.leases.key(plan.md5, plan.worker, top.chain_version),
                                             lambda: self._execute(plan), lambda: self._stored(plan), plan.timeout)
        if found is not None:
            self.counters["lease_waits"] += 1
            return found
        return output

    def _execute(self, plan: ChainPlan) -> dict[str, Any] | EncodedOutput:
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
        return result.relayable

    def _stored(self, plan: ChainPlan) -> dict[str, Any] | None:
        """The top worker's output if a valid one is stored now (another server computed it)."""
        doc = self.store.get_output(plan.md5, plan.worker)
        return doc["output"] if doc and doc["chain_version"] == plan.steps[-1].shape.chain_version else None

    def work(self, worker: str, md5: str, subkeys: list[str] | None = None) -> dict[str, Any]:
        """``{'md5': md5, worker: output}``, served from the store when valid, else computed."""
        output = self.run(self.planner.plan(worker, md5))
        if subkeys:
            output = select_subkeys(worker, output, subkeys)
        return {"md5": md5, worker: output}

    def cached_texts(self, worker: str, md5s: list[str], paths: list[str] | None = None) -> dict[str, str] | None:
        """Valid stored outputs as JSON text (only ``paths`` when given), one store query (Arrow slabs parse them
        in bulk); None when the chain is not cacheable or needs each sample's type_tag (``stream`` serves them)."""
        if self.planner.needs_type_tag(worker):
            return None
        top = self.planner.shape(worker, None).steps[-1]
        if not top.cacheable:
            return None
        return {md5: text for md5, (chain, text) in self.store.get_output_texts(md5s, worker, paths).items()
                if chain == top.chain_version}

    def slab(self, worker: str, paths: list[str], build: bool = True) -> Slab | None:
        """The worker's slab file of valid cached outputs (``paths`` only), or None: none yet (a background build
        is started if ``build``), ``cached_texts`` would be None, or the store keeps no slabs (MongoDB)."""
        if self.planner.needs_type_tag(worker):
            return None
        top = self.planner.shape(worker, None).steps[-1]
        if not top.cacheable:
            return None
        return self.slabs.get(worker, top.chain_version, paths, build)

    def compute_here(self, worker: str, md5s: list[str]) -> list[dict[str, Any]]:
        """Results for a chunk of a group batch, computed by this server (never spread further), in order: each
        ``{'md5', **EncodedOutput.wire()}`` (the server that asked relays the output as it is) or an error record."""
        self.plugins.get(worker)
        results: list[dict[str, Any]] = [{} for _ in md5s]

        def one(index: int, md5: str) -> None:
            try:
                output = self.run_encoded(self.planner.plan(worker, md5))
                encoded = output if type(output) is EncodedOutput else EncodedOutput.of(output)
                results[index] = {"md5": md5, **encoded.wire()}
            except WorkbenchError as exc:
                results[index] = error_record(md5, worker, exc)

        pool = gevent.pool.Pool(self.max_in_flight)
        for index, md5 in enumerate(md5s):
            pool.spawn(one, index, md5)
        pool.join()
        return results

    def run_afresh(self, worker: str, md5: str) -> dict[str, Any]:
        """Run every step of the chain again, cached or not (``test_worker``): the output."""
        return self.run(self.planner.plan(worker, md5, run_all=True))

    def explain(self, worker: str, md5: str) -> dict[str, Any]:
        """The chain plan for one sample, every step judged: cached, stale and why, not applicable, or to run."""
        return self.planner.plan(worker, md5, every_step=True).explain()

    def stream(self, worker: str, md5s: Iterable[str], subkeys: list[str] | None = None,
               shape: Callable[[dict], dict] | None = None) -> ResultStream:
        """One result (or error record) per md5, as they finish; at most ``max_in_flight`` chains at once.
        ``shape`` turns each ``{md5, worker: output}`` into what the API streams (batch_stream.original_item)."""
        self.plugins.get(worker)
        return ResultStream(self, worker, md5s, subkeys, shape)
