"""Serves work requests: cached outputs straight from the store, the rest through the executor.

The cached path touches only the store (one point lookup); the sample's bytes are never read for it.
Batches keep every worker process busy and stream results as they finish, with bounded memory.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import gevent
import gevent.pool
import gevent.queue

from workbench.exceptions import BadArgument, UnknownMD5, WorkbenchError
from workbench.server.data_store.base import DataStore
from workbench.server.plugin_manager import PluginManager

CHAIN_VERSION_TTL = 1.0
_DONE = object()


def select_subkeys(worker: str, output: dict[str, Any], subkeys: list[str]) -> dict[str, Any]:
    """Only the dotted paths asked for, nested as in the full result (``meta.file_type`` or ``file_type``)."""
    picked: dict[str, Any] = {}
    for path in subkeys:
        if not isinstance(path, str) or not path:
            raise BadArgument(f"bad subkey {path!r}: use dotted paths such as '{worker}.field'")
        parts = path.split(".")
        if parts[0] == worker:
            parts = parts[1:]
        value: Any = output
        for depth, part in enumerate(parts):
            if not isinstance(value, dict) or part not in value:
                where = ".".join([worker, *parts[:depth]])
                keys = sorted(value)[:20] if isinstance(value, dict) else type(value).__name__
                raise BadArgument(f"subkey {path!r} not found: {where} has {keys}")
            value = value[part]
        target = picked
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        if parts:
            target[parts[-1]] = value
        else:
            picked = output
    return picked


def error_record(md5: str, worker: str, exc: WorkbenchError) -> dict[str, Any]:
    """One failed item of a stream: the stream goes on, the failure is named."""
    return {"md5": md5, worker: None, "error": {"type": type(exc).__name__, "kind": getattr(exc, "kind", None),
                                               "message": str(exc)}}


class WorkDispatcher:
    """The cache front of the chain runner; counts what it serves."""

    def __init__(self, store: DataStore, plugins: PluginManager, executor: Any, default_timeout: float,
                 max_in_flight: int) -> None:
        self.store, self.plugins, self.executor = store, plugins, executor
        self.default_timeout = default_timeout
        self.max_in_flight = max_in_flight
        self.counters: Counter = Counter()
        self.workers_run: Counter = Counter()
        self._versions: dict[tuple[str, str | None], tuple[float, int, str]] = {}

    def _chain_version(self, worker: str, type_tag: str | None) -> str:
        key = (worker, type_tag)
        now = time.monotonic()
        hit = self._versions.get(key)
        if hit and hit[1] == self.plugins.generation and now - hit[0] < CHAIN_VERSION_TTL:
            return hit[2]
        version, _ = self.plugins.chain_version(worker, type_tag)
        self._versions[key] = (now, self.plugins.generation, version)
        return version

    def _needs_type_tag(self, worker: str) -> bool:
        return any(self.plugins.get(name).dispatch for name in self.plugins.closure(worker))

    def cached(self, worker: str, md5: str) -> dict[str, Any] | None:
        """The stored output if it is valid for the current code of the whole chain, else None."""
        if not self.plugins.get(worker).cacheable:
            return None
        type_tag = None
        if self._needs_type_tag(worker):
            info = self.store.get_sample_info(md5)
            if info is None:
                raise UnknownMD5(f"no sample with md5 {md5}; store it first with store_sample")
            type_tag = info["type_tag"]
        doc = self.store.get_output(md5, worker)
        if doc is not None and doc["chain_version"] == self._chain_version(worker, type_tag):
            return doc["output"]
        return None

    def compute(self, worker: str, md5: str, force: bool = False) -> dict[str, Any]:
        """Run the chain in the executor (a worker process, or here in local mode)."""
        info = self.store.get_sample_info(md5)
        if info is None:
            raise UnknownMD5(f"no sample with md5 {md5}; store it first with store_sample")
        chain = self.plugins.closure(worker, info["type_tag"])
        timeout = sum(self.plugins.get(w).timeout or self.default_timeout for w in chain) + 10
        self.counters["chains_run"] += 1
        result = self.executor.run(worker, md5, timeout=timeout, force=force)
        self.counters["sample_reads"] += result.sample_reads
        self.workers_run.update(result.ran)
        return result.output

    def work(self, worker: str, md5: str, subkeys: list[str] | None = None, force: bool = False) -> dict:
        """``{'md5': md5, worker: output}``, served from the store when valid, else computed."""
        output = None if force else self.cached(worker, md5)
        if output is None:
            output = self.compute(worker, md5, force=force)
        else:
            self.counters["cache_hits"] += 1
        if subkeys:
            output = select_subkeys(worker, output, subkeys)
        return {"md5": md5, worker: output}

    def stream(self, worker: str, md5s: Iterable[str], subkeys: list[str] | None = None) -> Iterator[dict]:
        """One result (or error record) per md5, as they finish; at most ``max_in_flight`` chains at once."""
        self.plugins.get(worker)
        results: gevent.queue.Queue = gevent.queue.Queue(maxsize=self.max_in_flight * 2)
        pool = gevent.pool.Pool(self.max_in_flight)

        def one(md5: str) -> None:
            try:
                results.put(self.work(worker, md5, subkeys))
            except WorkbenchError as exc:
                results.put(error_record(md5, worker, exc))

        def produce() -> None:
            try:
                for md5 in md5s:
                    pool.spawn(one, md5)
                pool.join()
            finally:
                results.put(_DONE)

        producer = gevent.spawn(produce)
        try:
            while (item := results.get()) is not _DONE:
                yield item
        finally:
            producer.kill()
            pool.kill()

    def explain(self, worker: str, md5: str) -> dict[str, Any]:
        """The chain plan for one sample: for each worker, cached, stale and why, or to run."""
        info = self.store.get_sample_info(md5)
        if info is None:
            raise UnknownMD5(f"no sample with md5 {md5}; store it first with store_sample")
        type_tag = info["type_tag"]
        plan = []
        for name in self.plugins.closure(worker, type_tag):
            loaded = self.plugins.get(name)
            chain_version, versions = self.plugins.chain_version(name, type_tag)
            step = {"worker": name, "version": versions[name], "dependencies":
                    self.plugins.dependencies_of(name, type_tag)}
            doc = self.store.get_output(md5, name) if loaded.cacheable else None
            if loaded.applies_to and type_tag not in loaded.applies_to:
                step.update(status="not_applicable", reason=f"applies to {'/'.join(loaded.applies_to)}, "
                                                            f"sample is {type_tag!r}")
            elif not loaded.cacheable:
                step.update(status="to_run", reason="not cacheable: its output depends on other samples")
            elif doc is None:
                step.update(status="to_run", reason="no stored output for this sample yet")
            elif doc["chain_version"] == chain_version:
                step.update(status="cached", reason=f"stored {doc['time']}, code unchanged", stored=doc["time"])
            else:
                changed = sorted(w for w in versions if doc["versions"].get(w) != versions[w])
                step.update(status="stale", reason=f"code changed since {doc['time']} in: {', '.join(changed)}")
            plan.append(step)
        return {"worker": worker, "md5": md5, "type_tag": type_tag, "plan": plan}
