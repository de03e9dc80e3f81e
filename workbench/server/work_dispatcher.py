"""Serves work requests: cached outputs straight from the store, the rest through the executor.

The cached path touches only the store (one point lookup); the sample's bytes are never read for it.
Batches keep every worker process busy and stream results as they finish, with bounded memory; their cached
outputs are read a chunk of md5s per store query and travel in lists (``ResultStream.batches``).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

import gevent
import gevent.pool
import gevent.queue

from workbench.exceptions import BadArgument, UnknownMD5, WorkbenchError
from workbench.server.data_store.base import DataStore
from workbench.server.plugin_manager import PluginManager

CHAIN_VERSION_TTL = 1.0
STREAM_CHUNK = 100  # md5s per cached-output query in a batch stream
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
                 max_in_flight: int, stream_linger: float = 0.0) -> None:
        self.store, self.plugins, self.executor = store, plugins, executor
        self.default_timeout = default_timeout
        self.max_in_flight = max_in_flight
        self.stream_linger = stream_linger
        self.counters: Counter = Counter()
        self.workers_run: Counter = Counter()
        self._versions: dict[tuple[str, str | None], tuple[float, int, str]] = {}
        self._memo: dict[tuple, Any] = {}

    def _chain_version(self, worker: str, type_tag: str | None) -> str:
        key = (worker, type_tag)
        now = time.monotonic()
        hit = self._versions.get(key)
        if hit and hit[1] == self.plugins.generation and now - hit[0] < CHAIN_VERSION_TTL:
            return hit[2]
        version, _ = self.plugins.chain_version(worker, type_tag)
        self._versions[key] = (now, self.plugins.generation, version)
        return version

    def _per_generation(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per key and plugin generation: chain walks stay off the request path."""
        key = (*key, self.plugins.generation)
        if key not in self._memo:
            if len(self._memo) > 4096:  # old generations
                self._memo.clear()
            self._memo[key] = compute()
        return self._memo[key]

    def _chain_timeout(self, worker: str, type_tag: str | None) -> float:
        """The whole chain's time budget: every worker's timeout, plus slack for process start-up."""
        return self._per_generation(("timeout", worker, type_tag), lambda: sum(
            self.plugins.get(w).timeout or self.default_timeout for w in self.plugins.closure(worker, type_tag)) + 10)

    def _fast_path(self, worker: str) -> tuple[bool, bool]:
        """(cacheable, needs the sample's type_tag): what serving ``worker`` needs to read first."""
        return self._per_generation(("fast", worker), lambda: (
            self.plugins.get(worker).cacheable,
            any(self.plugins.get(name).dispatch for name in self.plugins.closure(worker))))

    def _type_tag(self, worker: str, md5: str) -> str | None:
        """The sample's type_tag when ``worker``'s chain dispatches on it (one point read), else None."""
        if not self._fast_path(worker)[1]:
            return None
        info = self.store.get_sample_info(md5)
        if info is None:
            raise UnknownMD5(f"no sample with md5 {md5}; store it first with store_sample")
        return info["type_tag"]

    def cached(self, worker: str, md5: str) -> dict[str, Any] | None:
        """The stored output if it is valid for the current code of the whole chain, else None."""
        if not self._fast_path(worker)[0]:
            return None
        type_tag = self._type_tag(worker, md5)
        doc = self.store.get_output(md5, worker)
        if doc is not None and doc["chain_version"] == self._chain_version(worker, type_tag):
            return doc["output"]
        return None

    def compute(self, worker: str, md5: str, force: bool = False) -> dict[str, Any]:
        """Run the chain in the executor (a worker process, or here in local mode).

        The sample is read here only when the chain depends on its type_tag (dispatch); otherwise the runner,
        which reads it anyway, is the one to refuse an unknown md5."""
        type_tag = self._type_tag(worker, md5)
        ran = True
        try:
            result = self.executor.run(worker, md5, timeout=self._chain_timeout(worker, type_tag), force=force,
                                       generation=self.plugins.generation)
        except UnknownMD5:
            ran = False
            raise
        finally:
            self.counters["chains_run"] += ran
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

    def cached_many(self, worker: str, md5s: list[str]) -> dict[str, dict[str, Any]]:
        """Valid stored outputs for many samples in one store query (workers whose chain needs no type_tag)."""
        version = self._chain_version(worker, None)
        return {md5: doc["output"] for md5, doc in self.store.get_outputs(md5s, worker).items()
                if doc["chain_version"] == version}

    def cached_texts(self, worker: str, md5s: list[str], paths: list[str] | None = None) -> dict[str, str] | None:
        """Valid stored outputs as JSON text (only ``paths`` when given), one store query (Arrow slabs parse them
        in bulk); None when the chain is not cacheable or needs each sample's type_tag (``stream`` serves them)."""
        cacheable, needs_tag = self._fast_path(worker)
        if not cacheable or needs_tag:
            return None
        version = self._chain_version(worker, None)
        return {md5: text for md5, (chain, text) in self.store.get_output_texts(md5s, worker, paths).items()
                if chain == version}

    def stream(self, worker: str, md5s: Iterable[str], subkeys: list[str] | None = None) -> ResultStream:
        """One result (or error record) per md5, as they finish; at most ``max_in_flight`` chains at once."""
        self.plugins.get(worker)
        return ResultStream(self, worker, md5s, subkeys)

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


class ResultStream:
    """The results of a batch, as they finish: iterate for one at a time, or ``batches(n)`` for lists.

    A producer greenlet walks the md5s in chunks: cached outputs are read for a whole chunk in one store query
    and queued as one list; the rest run as chains, at most ``max_in_flight`` at once. The queue is bounded, so
    neither the server's memory nor the work done ahead of a slow client grows with the batch. Dropping or
    closing the stream stops the producer and its chains.
    """

    def __init__(self, dispatcher: WorkDispatcher, worker: str, md5s: Iterable[str],
                 subkeys: list[str] | None) -> None:
        self._queue: gevent.queue.Queue = gevent.queue.Queue(maxsize=max(4, dispatcher.max_in_flight))
        self._pool = gevent.pool.Pool(dispatcher.max_in_flight)
        self._ready: deque[dict] = deque()
        self._done = False
        self._linger = dispatcher.stream_linger
        # the producer holds no reference to this object, so a dropped stream is collected (and closed)
        self._producer = gevent.spawn(_produce, dispatcher, worker, subkeys, iter(md5s), self._queue, self._pool)

    def _take(self, block: bool, timeout: float | None = None) -> bool:
        """Move one queued list into the ready buffer; False at the end, or when nothing came (in ``timeout``)."""
        if self._done:
            return False
        try:
            entry = self._queue.get(block=block, timeout=timeout)
        except gevent.queue.Empty:
            return False
        if entry is _DONE:
            self._done = True
            return False
        if isinstance(entry, Exception):
            self._done = True
            raise entry
        self._ready.extend(entry)
        return True

    def __iter__(self) -> ResultStream:
        return self

    def __next__(self) -> dict[str, Any]:
        while not self._ready:
            if not self._take(block=True):
                self.close()
                raise StopIteration
        return self._ready.popleft()

    def batches(self, size: int) -> Iterator[list[dict[str, Any]]]:
        """Lists of up to ``size`` results: waits for the first, then up to ``stream_linger`` seconds for company.

        Cached results travel ``size`` per message; cold ones as they finish, a few per message when they finish
        close together (measured: a message costs the two ends about as much CPU as decoding its result)."""
        try:
            while self._ready or self._take(block=True):
                deadline = time.monotonic() + self._linger
                while len(self._ready) < size:
                    remaining = deadline - time.monotonic()
                    if not self._take(block=remaining > 0, timeout=max(remaining, 0.0)):
                        break
                ready = self._ready
                yield [ready.popleft() for _ in range(min(size, len(ready)))]
        finally:
            self.close()

    def close(self) -> None:
        """Stop the producer and any chains it started (a client that leaves early)."""
        if not self._producer.dead:
            self._producer.kill(block=False)
        self._pool.kill(block=False)

    def __del__(self) -> None:
        self.close()


def _produce(dispatcher: WorkDispatcher, worker: str, subkeys: list[str] | None, md5s: Iterator[str],
             queue: gevent.queue.Queue, pool: gevent.pool.Pool) -> None:
    """Feed a ResultStream's queue: cached chunks as lists, chains as they finish, then _DONE."""

    def result(md5: str, output: dict[str, Any]) -> dict[str, Any]:
        try:
            return {"md5": md5, worker: select_subkeys(worker, output, subkeys) if subkeys else output}
        except WorkbenchError as exc:
            return error_record(md5, worker, exc)

    def one(md5: str, checked: bool) -> None:
        try:
            if checked:  # the chunk's cache query missed it: straight to a worker process
                queue.put([result(md5, dispatcher.compute(worker, md5))])
            else:
                queue.put([dispatcher.work(worker, md5, subkeys)])
        except WorkbenchError as exc:
            queue.put([error_record(md5, worker, exc)])

    try:
        while chunk := list(islice(md5s, STREAM_CHUNK)):
            try:
                cacheable, needs_tag = dispatcher._fast_path(worker)
            except WorkbenchError:  # e.g. the worker's file was deleted mid-stream: each item says so below
                cacheable = needs_tag = False
            checked = cacheable and not needs_tag
            hits = dispatcher.cached_many(worker, chunk) if checked else {}
            if hits:
                dispatcher.counters["cache_hits"] += len(hits)
                queue.put([result(md5, hits[md5]) for md5 in chunk if md5 in hits])
            for md5 in chunk:
                if md5 not in hits:
                    pool.spawn(one, md5, checked)  # waits while max_in_flight chains are running
        pool.join()
    except gevent.GreenletExit:
        return  # closed by the consumer: nobody waits for the end
    except Exception as exc:  # e.g. the store failing: the stream ends with this error, not silently short
        queue.put(exc)
        return
    queue.put(_DONE)
