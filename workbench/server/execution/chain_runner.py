"""Runs a chain plan over one sample in this process: the steps marked to run are computed and stored.

The plan (planning/chain_plan.py) was made in the front and is trusted: the runner re-checks only what can
change in between, a cached input that was removed or replaced meanwhile (it is then computed), and the code
that ran (an output is stored only under the version it was planned with). The sample's bytes are read from
the store at most once per request, and only when a worker that needs them runs. Every worker gets references
to its dependencies' outputs. Each output is JSON-encoded once: the encoding that validates it is the one
stored. Failures are never stored.

Out of memory has one policy: a ``MemoryError`` fails the request with a WorkerFailed naming the worker, and the
process that raised it is kept. MemoryError is an ordinary exception raised where an allocation failed against
the process's own limit (RLIMIT_AS, ``worker_memory_mb``); unwinding frees the worker's objects and Python's
allocator stays consistent, so the next chain starts from the process's start-up footprint. Replacing the
process would cost a start-up (every worker and its signature files loaded again) and gain nothing. A native
library that corrupts itself on a failed allocation aborts or segfaults instead, and the pool replaces that
process as for any crash.
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
from workbench.server.execution.pipe_protocol import EncodedOutput, decoded
from workbench.server.intake.sample_intake import store_bytes
from workbench.server.planning.chain_plan import CACHED, ChainPlan, Step
from workbench.server.planning.plugin_manager import LoadedWorker, PluginManager

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
    """A chain's output plus what it cost: which workers ran and how many times the sample was read.

    ``relayable`` is the output as the executor got it: from a worker process, as that process encoded it
    (``EncodedOutput``, which a batch stream sends on as it is); ``output`` is its value."""

    relayable: dict[str, Any] | EncodedOutput | None = None
    ran: list[str] = field(default_factory=list)
    sample_reads: int = 0

    @property
    def output(self) -> dict[str, Any] | None:
        return decoded(self.relayable)


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


def encode_output(value: Any) -> str | None:
    """The output as JSON text (C encoder), or None when it is not JSON (``find_bad_value`` then names the
    culprit). Validation and storage share this one encoding. Non-str keys become str, as in JSON."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None


@contextmanager
def _alarm(seconds: float | None, native_grace: float | None) -> Iterator[None]:
    """Interrupt Python work after ``seconds`` (on the main thread only: signals are delivered there).

    SIGALRM raises _TimeoutSignal at the next bytecode, which also ends sleeps and regex matches. Native code
    that never returns to Python cannot be interrupted that way; in a worker process a CPU-time timer (SIGPROF,
    default action: terminate) kills the process ``native_grace`` seconds later, and the pool reports that as a
    timeout and replaces it. ``native_grace`` None (chains run in the caller's process) leaves native code be.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise _TimeoutSignal()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    previous_prof = signal.signal(signal.SIGPROF, signal.SIG_DFL) if native_grace is not None else None
    if native_grace is not None:
        signal.setitimer(signal.ITIMER_PROF, seconds + native_grace)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if native_grace is not None:
                signal.setitimer(signal.ITIMER_PROF, 0)
        finally:  # even if the alarm lands right here, the handlers are put back
            signal.signal(signal.SIGALRM, previous)
            if previous_prof is not None:
                signal.signal(signal.SIGPROF, previous_prof)


class ChainRunner:
    """Runs chain plans for ``store`` in this process.

    ``enforce_timeouts`` stops a worker past its timeout (main thread only); ``native_grace`` as in ``_alarm``.
    ``verify_versions``: a worker process loads worker files itself, so a file edited after the front planned
    may run other code than planned: its output is then returned but not stored under the planned version.
    In the front's own process (LocalExecutor) the plugins are the planner's and nothing needs verifying.
    """

    def __init__(self, store: DataStore, plugins: PluginManager, default_timeout: float = 60.0,
                 max_sample_bytes: int = 0, enforce_timeouts: bool = False,
                 native_grace: float | None = NATIVE_GRACE_S, verify_versions: bool = True) -> None:
        self.store, self.plugins = store, plugins
        self.default_timeout = default_timeout
        self.max_sample_bytes = max_sample_bytes
        self.enforce_timeouts = enforce_timeouts
        self.native_grace = native_grace
        self.verify_versions = verify_versions

    def run(self, plan: ChainPlan) -> ChainResult:
        """Compute the steps ``plan`` marks to run (dependencies first) and return the requested output."""
        if plan.output is not None:  # nothing to run: a cache hit
            return ChainResult(relayable=plan.output)
        plan.check_runnable()
        if plan.sample is None:  # a plan with steps to run always carries the sample's info
            raise UnknownMD5(f"no sample with md5 {plan.md5}; store it first with store_sample")
        result = ChainResult()
        chain = _Chain(self, plan, result)
        for step in plan.steps:
            if step.status != CACHED:
                chain.output_of(step.worker)
        result.relayable = chain.output_of(plan.worker)
        return result

    def _execute(self, worker: LoadedWorker, inputs: dict[str, Any], md5: str,
                 type_tag: str) -> tuple[dict[str, Any], str]:
        """The one wrapper that owns worker failure: every exception becomes a WorkerFailed naming the worker.

        Returns the output and its JSON text (the validation's encoding, stored as is)."""
        timeout = worker.timeout or self.default_timeout
        started = time.perf_counter()
        outcome = "ok"
        try:
            with _alarm(timeout if self.enforce_timeouts else None, self.native_grace):
                output = worker.instance.execute(inputs)
        except _TimeoutSignal:
            outcome = "timed_out"
            raise WorkerTimeout(
                f"worker {worker.name!r} timed out after {timeout:g} s on sample {md5} ({type_tag}); "
                "raise its timeout (class attribute or [server] worker_timeout) if the sample is legitimately big"
            ) from None
        except WorkerNotApplicable as exc:  # a worker may decline a sample its applies_to cannot single out
            outcome = "not_applicable"
            raise WorkerNotApplicable(f"worker {worker.name!r} does not apply to sample {md5} ({type_tag}): {exc}"
                                      ) from None
        except MemoryError:
            outcome = "memory"
            raise WorkerFailed(out_of_memory(worker.name, md5, type_tag)) from None
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
        encoded = encode_output(output)
        if encoded is None:
            bad = find_bad_value(output) or "a value JSON cannot encode"
            raise BadOutput(f"worker {worker.name!r} returned a value that is not a JSON type at {bad}; "
                            "convert it (bytes to hex or str, sets to lists) in execute()")
        return output, encoded


def out_of_memory(worker: str, md5: str, type_tag: str | None) -> str:
    """The one message for a chain that ran out of memory (see the module docstring for the policy)."""
    return (f"worker {worker!r} ran out of memory on sample {md5} ({type_tag}); "
            "raise [server] worker_memory_mb if the sample is legitimately big")


class _Chain:
    """One plan being run: outputs so far, each step computed or read at most once."""

    def __init__(self, runner: ChainRunner, plan: ChainPlan, result: ChainResult) -> None:
        self.runner, self.plan, self.result = runner, plan, result
        self.store = runner.store
        self.outputs: dict[str, Any] = {}
        self.sample = LazySample(self.store, plan.sample or {}, result)

    def output_of(self, name: str) -> Any:
        """A worker's output: computed already, stored and still valid (a cached step), or computed now."""
        if name in self.outputs:
            return self.outputs[name]
        step = self.plan.step(name)
        if step.status == CACHED:
            doc = self.store.get_output(self.plan.md5, name)
            if doc is not None and doc["chain_version"] == step.shape.chain_version:
                self.outputs[name] = doc["output"]
                return doc["output"]
        try:
            self._compute(step)
        except WorkerFailed as exc:
            if name == self.plan.worker or "(needed by " in str(exc):
                raise
            raise type(exc)(f"{exc} (needed by {self.plan.worker!r})") from None
        return self.outputs[name]

    def _compute(self, step: Step) -> None:
        plan, shape = self.plan, step.shape
        worker = self.runner.plugins.get(step.worker)
        inputs = {dep: self._input(dep) for dep in shape.dependencies}
        output, encoded = self.runner._execute(worker, inputs, plan.md5, plan.type_tag or "")
        self.result.ran.append(step.worker)
        if shape.cacheable and (not self.runner.verify_versions or worker.version() == shape.version):
            self.store.store_output(plan.md5, step.worker, shape.chain_version, shape.versions, output, encoded)
        self.outputs[step.worker] = output

    def _input(self, dep: str) -> Any:
        if dep == contract.SAMPLE:
            return self.sample
        if dep == contract.TAGS:
            return {"md5": self.plan.md5, "tags": self.store.get_tags(self.plan.md5)}  # the original's shape
        if dep == contract.CORPUS:
            return StoreCorpus(self.store, self.plan.md5, self.runner.max_sample_bytes)
        if dep in contract.PSEUDO_DEPENDENCIES:
            raise WorkerFailed(f"input {dep!r} is given only by help(topic), not to a chain over sample "
                               f"{self.plan.md5}")
        return self.output_of(dep)
