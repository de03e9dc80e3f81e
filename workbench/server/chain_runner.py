"""Runs a worker chain over one sample in this process: cached outputs reused, the rest computed and stored.

The sample's bytes are read from the store at most once per request, and only when a worker that needs
them has to run. Every worker gets references to its dependencies' outputs. Failures are never stored.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from workbench import contract
from workbench.analysis import ssdeep_index
from workbench.exceptions import BadOutput, UnknownMD5, WorkerFailed, WorkerNotApplicable, WorkerTimeout
from workbench.server.data_store.base import DataStore
from workbench.server.plugin_manager import LoadedWorker, PluginManager
from workbench.server.sample_intake import store_bytes

log = logging.getLogger(__name__)
TRACE = os.environ.get("WORKBENCH_TRACE") == "1"
NATIVE_GRACE_S = 2.0


class _TimeoutSignal(BaseException):
    """Raised inside a worker by SIGALRM; a BaseException so no worker's ``except Exception`` swallows it."""


class LazySample(Mapping):
    """The 'sample' input: metadata at once, ``raw_bytes`` read from the store on first use only."""

    def __init__(self, store: DataStore, info: dict[str, Any], counter: ChainResult) -> None:
        self._store, self._info, self._counter = store, info, counter
        self._bytes: bytes | None = None

    def __getitem__(self, key: str) -> Any:
        if key != "raw_bytes":
            return self._info[key]
        if self._bytes is None:
            self._bytes = self._store.get_sample_bytes(self._info["md5"])
            self._counter.sample_reads += 1
            if TRACE:
                log.info("trace: sample bytes read md5=%s", self._info["md5"])
            if self._bytes is None:
                raise UnknownMD5(f"sample {self._info['md5']} was removed while a request was running on it")
        return self._bytes

    def __iter__(self) -> Iterator[str]:
        return iter(contract.SAMPLE_FIELDS)

    def __len__(self) -> int:
        return len(contract.SAMPLE_FIELDS)


class StoreCorpus:
    """The 'corpus' input: read other samples' outputs, add extracted children. See contract.Corpus."""

    def __init__(self, store: DataStore, md5: str, max_sample_bytes: int) -> None:
        self._store, self._md5, self._max = store, md5, max_sample_bytes

    def outputs(self, worker: str, fields: list[str] | None = None) -> Iterator[tuple[str, dict]]:
        """Yield ``(md5, output)`` for every sample with a stored output of ``worker``."""
        return self._store.iter_outputs(worker, fields)

    def store_child(self, raw_bytes: bytes, filename: str, type_tag: str = "") -> str:
        """Store bytes as a sample linked as a child of the current one; return its md5."""
        child = store_bytes(self._store, raw_bytes, filename, type_tag, self._max)
        if child != self._md5:
            self._store.add_link(self._md5, child)
        return child

    # --- fuzzy-hash similarity (issue 10): the store's index instead of a scan --------------------------
    @property
    def store_id(self) -> str:
        """Names the store, for caches kept across requests in a worker process."""
        return self._store.uri

    def similar_ssdeep(self, ssdeep_hash: str, threshold: int, limit: int) -> tuple[list[dict], int, int]:
        """Top ``limit`` {md5, score} by ssdeep.compare (>= threshold) found through the index, this sample
        excluded; also how many samples shared an index key and how many of those were compared."""
        found = self._store.ssdeep_candidates(ssdeep_index.index_keys(ssdeep_hash))
        return ssdeep_index.score(ssdeep_hash, found, threshold, limit, exclude=self._md5)

    def tlsh_digests_since(self, cursor: Any = None) -> tuple[list[tuple[str, str | None]], Any]:
        """(md5, tlsh) of meta_deep outputs stored since ``cursor`` (None: all) and the next cursor."""
        return self._store.tlsh_digests_since(cursor)

    def fuzzy_hashes(self, md5s: list[str]) -> dict[str, dict]:
        """The current meta_deep ssdeep/tlsh of these samples (absent ones left out), to check cached hits."""
        found = self._store.get_outputs(list(md5s), ssdeep_index.INDEXED_WORKER)
        return {md5: {k: doc["output"].get(k) for k in ("ssdeep", "tlsh")} for md5, doc in found.items()}


@dataclass
class ChainResult:
    """A chain's output plus what it cost: which workers ran and how many times the sample was read."""

    output: dict[str, Any] | None = None
    ran: list[str] = field(default_factory=list)
    sample_reads: int = 0


def find_bad_value(value: Any, path: str = "") -> str | None:
    """The dotted path of the first value that is not a JSON type, with its type, or None."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}{key!r} (a {type(key).__name__} key; keys must be str)"
            found = find_bad_value(item, f"{path}{key}.")
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = find_bad_value(item, f"{path}{index}.")
            if found:
                return found
        return None
    if isinstance(value, float) and value != value:
        return f"{path.rstrip('.')} (NaN)"
    if value is None or isinstance(value, str | int | float | bool):
        return None
    return f"{path.rstrip('.')} (a {type(value).__name__})"


def _is_json(value: Any) -> bool:
    """The fast check (C encoder); ``find_bad_value`` then names the culprit. Non-str keys become str, as in JSON."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


@contextmanager
def _alarm(seconds: float | None) -> Iterator[None]:
    """Interrupt Python work after ``seconds`` (main thread of a worker process only).

    SIGALRM raises _TimeoutSignal at the next bytecode, which also ends sleeps and regex matches. Native code
    that never returns to Python cannot be interrupted that way, so a CPU-time timer (SIGPROF, default action:
    terminate) kills the process ``NATIVE_GRACE_S`` later; the pool reports that as a timeout and replaces it.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise _TimeoutSignal()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    previous_prof = signal.signal(signal.SIGPROF, signal.SIG_DFL)
    signal.setitimer(signal.ITIMER_PROF, seconds + NATIVE_GRACE_S)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.setitimer(signal.ITIMER_PROF, 0)
        finally:  # even if the alarm lands right here, the handlers are put back
            signal.signal(signal.SIGALRM, previous)
            signal.signal(signal.SIGPROF, previous_prof)


class ChainRunner:
    """Computes ``worker`` for ``md5`` with its dependencies, in this process, against ``store``."""

    def __init__(self, store: DataStore, plugins: PluginManager, default_timeout: float = 60.0,
                 max_sample_bytes: int = 0, enforce_timeouts: bool = False) -> None:
        self.store, self.plugins = store, plugins
        self.default_timeout = default_timeout
        self.max_sample_bytes = max_sample_bytes
        self.enforce_timeouts = enforce_timeouts

    def run(self, worker_name: str, md5: str, force: bool = False) -> ChainResult:
        """Output of ``worker_name`` for ``md5``; ``force`` recomputes the top worker even when cached."""
        info = self.store.get_sample_info(md5)
        if info is None:
            raise UnknownMD5(f"no sample with md5 {md5}; store it first with store_sample")
        type_tag = info["type_tag"]
        self._check_applies(self.plugins.get(worker_name), md5, type_tag)
        result = ChainResult()
        pseudo: dict[str, Any] = {contract.SAMPLE: LazySample(self.store, info, result)}
        outputs: dict[str, Any] = {}
        for name in self.plugins.closure(worker_name, type_tag):
            try:
                self._run_one(name, md5, type_tag, outputs, pseudo, result, force and name == worker_name)
            except WorkerFailed as exc:
                if name == worker_name:
                    raise
                raise type(exc)(f"{exc} (needed by {worker_name!r})") from None
        result.output = outputs[worker_name]
        return result

    def _run_one(self, name: str, md5: str, type_tag: str, outputs: dict[str, Any], pseudo: dict[str, Any],
                 result: ChainResult, force: bool) -> None:
        """Reuse the stored output of one worker when its chain is unchanged, else compute and store it."""
        worker = self.plugins.get(name)
        chain_version, versions = self.plugins.chain_version(name, type_tag)
        if worker.cacheable and not force:
            doc = self.store.get_output(md5, name)
            if doc is not None and doc["chain_version"] == chain_version:
                outputs[name] = doc["output"]
                return
        self._check_applies(worker, md5, type_tag)
        inputs = {dep: self._input(dep, outputs, pseudo, md5) for dep in self.plugins.dependencies_of(name, type_tag)}
        output = self._execute(worker, inputs, md5, type_tag)
        result.ran.append(name)
        if worker.cacheable:
            self.store.store_output(md5, name, chain_version, versions, output)
        outputs[name] = output

    @staticmethod
    def _check_applies(worker: LoadedWorker, md5: str, type_tag: str) -> None:
        if worker.applies_to and type_tag not in worker.applies_to:
            raise WorkerNotApplicable(
                f"worker {worker.name!r} applies to type_tag {'/'.join(worker.applies_to)}; sample {md5} is "
                f"{type_tag!r}. Pick a worker for {type_tag!r} (see list_all_workers) or re-tag the sample"
            )

    def _input(self, dep: str, outputs: dict[str, Any], pseudo: dict[str, Any], md5: str) -> Any:
        if dep in outputs:
            return outputs[dep]
        if dep == contract.TAGS:
            return self.store.get_tags(md5)
        if dep == contract.CORPUS:
            return StoreCorpus(self.store, md5, self.max_sample_bytes)
        if dep == contract.SAMPLE:
            return pseudo[dep]
        raise WorkerFailed(f"input {dep!r} is given only by help(topic), not to a chain over sample {md5}")

    def _execute(self, worker: LoadedWorker, inputs: dict[str, Any], md5: str, type_tag: str) -> dict[str, Any]:
        """The one wrapper that owns worker failure: every exception becomes a WorkerFailed naming the worker."""
        timeout = worker.timeout or self.default_timeout
        started = time.perf_counter()
        outcome = "ok"
        try:
            with _alarm(timeout if self.enforce_timeouts else None):
                output = worker.instance.execute(inputs)
        except _TimeoutSignal:
            outcome = "timed_out"
            raise WorkerTimeout(
                f"worker {worker.name!r} timed out after {timeout:g} s on sample {md5} ({type_tag}); "
                "raise its timeout (class attribute or [server] worker_timeout) if the sample is legitimately big"
            ) from None
        except MemoryError:
            outcome = "memory"
            raise WorkerFailed(
                f"worker {worker.name!r} ran out of memory on sample {md5} ({type_tag}); "
                "raise [server] worker_memory_mb if the sample is legitimately big"
            ) from None
        except (Exception, SystemExit) as exc:  # sys.exit() in a worker fails its request, not its process
            outcome = "raised"
            where = traceback.extract_tb(exc.__traceback__)[-1]
            raise WorkerFailed(
                f"worker {worker.name!r} failed on sample {md5} ({type_tag}): {type(exc).__name__}: {exc} "
                f"(at {os.path.basename(where.filename)}:{where.lineno}); nothing was stored for it"
            ) from None
        finally:
            if TRACE:
                log.info("trace: worker=%s md5=%s inputs=%s seconds=%.4f outcome=%s", worker.name, md5,
                         sorted(inputs), time.perf_counter() - started, outcome)
        if not isinstance(output, dict):
            raise BadOutput(f"worker {worker.name!r} returned a {type(output).__name__}, not a dict; fix its execute()")
        bad = None if _is_json(output) else find_bad_value(output) or "a value JSON cannot encode"
        if bad:
            raise BadOutput(f"worker {worker.name!r} returned a value that is not a JSON type at {bad}; "
                            "convert it (bytes to hex or str, sets to lists) in execute()")
        return output
