"""YARA retrohunt: new rules over every stored sample (issue 10 part 5), on all worker processes.

The rules are compiled once, here, with includes disabled (a client must not make the server read its files);
a rule that does not compile is a BadArgument naming the line (and the rule file, for several). The compiled
rules go to the worker processes as a file, and the selected samples in slices of ``SLICE`` md5s, as pool calls
(pool_calls.CALLS -> retrohunt_task.match_samples): each process reads each sample's bytes once
from the store and matches them. YARA's own timeout (``[server] worker_timeout``) stops a hostile rule on one
sample, which is reported and the hunt goes on; past ``MAX_TIMEOUTS`` such samples the hunt stops, and the pool's
process timeout is the backstop for anything stuck past that. ``info()['retrohunts']`` shows the progress of
running hunts (and the last few finished).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import Any

import gevent.pool
import yara

from workbench.exceptions import BadArgument, WorkbenchError, WorkerTimeout

SLICE = 16  # samples per pool call: amortises a round trip, still fine-grained progress
MAX_TIMEOUTS = 10
KEEP_FINISHED = 5
TASK = "retrohunt.match_samples"  # an entry of pool_calls.CALLS


def rule_sources(rules: Any) -> dict[str, str]:
    """``{namespace: rules text}`` from one text (namespace 'default', as yara.compile(source=...)) or a dict."""
    if isinstance(rules, str):
        rules = {"default": rules}
    if not isinstance(rules, dict) or not rules or not all(
            isinstance(k, str) and k and isinstance(v, str) for k, v in rules.items()):
        raise BadArgument("rules must be YARA rules text, or a {namespace: rules text} dict of them; got "
                          f"{type(rules).__name__}")
    return dict(rules)


def compile_rules(sources: dict[str, str]) -> yara.Rules:
    """Compiled rules, or BadArgument with YARA's message (it starts with the line) and the namespace."""
    try:
        return yara.compile(sources=sources, includes=False)
    except yara.Error as exc:
        error = exc
    for namespace, text in sources.items():  # which one: YARA's message names the line, not the source
        try:
            yara.compile(source=text, includes=False)
        except yara.Error as exc:
            where = "" if len(sources) == 1 else f"rules {namespace!r}, "
            raise BadArgument(f"YARA rules do not compile: {where}{exc}; fix that line and retry") from None
    raise BadArgument(f"YARA rules do not compile together: {error}; rename rules that clash") from None


def _slices(md5s: Iterable[str]) -> Iterator[list[str]]:
    items = iter(md5s)
    while chunk := list(islice(items, SLICE)):
        yield chunk


@dataclass
class HuntProgress:
    """One retrohunt as ``info()`` shows it."""

    id: str
    namespaces: list[str]
    total: int
    done: int = 0
    matched: int = 0
    errors: int = 0
    timeouts: int = 0
    state: str = "running"  # running, done, failed, cancelled
    started: float = field(default_factory=time.time)
    seconds: float = 0.0


class Retrohunts:
    """Runs hunts through the executor (worker processes, or in-process with procs = 0) and tracks them."""

    def __init__(self, executor: Any, timeout: float, max_in_flight: int) -> None:
        self.executor = executor
        self.timeout_s = max(1, round(timeout))
        self.max_in_flight = max_in_flight
        self.hunts: dict[str, HuntProgress] = {}

    def status(self) -> list[dict[str, Any]]:
        """Running hunts and the last ``KEEP_FINISHED`` finished ones, oldest first."""
        return [asdict(h) for h in self.hunts.values()]

    def hunt(self, rules: Any, md5s: Iterable[str], total: int, progress: bool = False) -> Iterator[dict[str, Any]]:
        """Compile now (a bad rule fails the call), then stream ``{md5, matches}`` for matching samples,
        ``{md5, matches: [], error}`` for samples that could not be scanned and, with ``progress``, a
        ``{progress: {done, total, matched}}`` record after each slice. ``md5s`` is walked as the hunt goes (a
        store selection, never held whole); ``total`` is its size as counted before, for progress."""
        sources = rule_sources(rules)
        compiled = compile_rules(sources)
        digest = hashlib.sha256(json.dumps(sources, sort_keys=True).encode()).hexdigest()
        handle, path = tempfile.mkstemp(prefix="workbench-retrohunt-", suffix=".yarc")
        os.close(handle)
        compiled.save(path)
        record = HuntProgress(uuid.uuid4().hex[:12], sorted(sources), total)
        self.hunts[record.id] = record
        return self._run(record, digest, path, md5s, progress)

    def _run(self, record: HuntProgress, digest: str, path: str, md5s: Iterable[str],
             progress: bool) -> Iterator[dict[str, Any]]:
        pool = gevent.pool.Pool(self.max_in_flight)
        try:
            for results in pool.imap_unordered(lambda chunk: self._scan(digest, path, chunk), _slices(md5s),
                                               maxsize=self.max_in_flight):
                record.done += len(results)
                record.total = max(record.total, record.done)  # samples stored since the count
                for result in results:
                    if result.get("error"):
                        record.errors += 1
                        record.timeouts += result["error"]["kind"] == "timed_out"
                    record.matched += bool(result["matches"])
                    if result["matches"] or result.get("error"):
                        yield result
                if progress:
                    yield {"progress": {"done": record.done, "total": record.total, "matched": record.matched}}
                if record.timeouts >= MAX_TIMEOUTS:
                    record.state = "failed"
                    raise WorkerTimeout(f"YARA rules timed out on {record.timeouts} samples (past "
                                        f"{self.timeout_s} s each); the retrohunt was stopped after {record.done} of "
                                        f"{record.total}. Simplify the slow rule (loops over filesize, unanchored "
                                        "regular expressions) or raise [server] worker_timeout")
            record.state = "done"
        finally:
            pool.kill(block=False)
            if record.state == "running":
                record.state = "cancelled"
            record.seconds = round(time.time() - record.started, 3)
            os.unlink(path)
            self._forget_old()

    def _scan(self, digest: str, path: str, md5s: list[str]) -> list[dict[str, Any]]:
        """One slice in a worker process; a process killed or crashed on it fails the slice's samples only."""
        budget = len(md5s) * self.timeout_s + 10
        try:
            return self.executor.call(TASK, [digest, path, md5s, self.timeout_s], budget, f"{len(md5s)} samples")
        except WorkbenchError as exc:
            message = (f"the process scanning {len(md5s)} samples from {md5s[0]} was stopped after {budget} s "
                       "(stuck past YARA's own timeout); simplify the slow rule" if isinstance(exc, WorkerTimeout)
                       else f"the retrohunt failed on {len(md5s)} samples from {md5s[0]}: {exc}")
            error = {"type": type(exc).__name__, "kind": getattr(exc, "kind", None), "message": message}
            return [{"md5": md5, "matches": [], "error": error} for md5 in md5s]

    def _forget_old(self) -> None:
        finished = [key for key, h in self.hunts.items() if h.state != "running"]
        for key in finished[:-KEEP_FINISHED]:
            del self.hunts[key]
