"""Batch streaming: one result per md5, as they finish, with bounded memory.

Batches keep every worker process busy and stream results as they finish; their cached outputs are read a
chunk of md5s per store query and travel in lists (``ResultStream.batches``). Also the result shaping shared
with single requests (subkeys, error records).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

import gevent
import gevent.pool
import gevent.queue

from workbench.exceptions import BadArgument, WorkbenchError
from workbench.server.data_store.base import let_loop_run
from workbench.server.execution.pipe_protocol import EncodedOutput, decoded

if TYPE_CHECKING:
    from workbench.server.group.group_batch import GroupBatch
    from workbench.server.planning.work_front import WorkFront

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


def subkey_list(subkeys: Any) -> list[str] | None:
    """The original's subkeys: one dotted path as a string, or a list of them (None or empty: the whole output)."""
    if subkeys is None or subkeys == [] or subkeys == "":
        return None
    if isinstance(subkeys, str):
        return [subkeys]
    if not isinstance(subkeys, list | tuple) or not all(isinstance(path, str) and path for path in subkeys):
        raise BadArgument(f"subkeys must be a dotted path or a list of them, e.g. ['md5', 'sparse_features.*'], "
                          f"got {subkeys!r}")
    return list(subkeys)


def with_md5(output: Any, md5: str) -> Any:
    """The output as clients see it: carrying its sample's md5, as the original's store added it."""
    if type(output) is EncodedOutput:
        return output.with_md5(md5)
    if isinstance(output, dict) and "md5" not in output:
        return {"md5": md5, **output}
    return output


def flat_subkeys(worker: str, output: dict[str, Any], subkeys: list[str]) -> dict[str, Any]:
    """The original's subkey result: ``{last_key: value}`` for each dotted path; ``'foo.*'`` takes every key of
    foo. A path may start with the worker's name (``meta.md5``) unless the output has a key of that name."""
    picked: dict[str, Any] = {}
    for path in subkeys:
        parts = path.split(".")
        if parts[0] == worker and worker not in output and len(parts) > 1:
            parts = parts[1:]
        value: Any = output
        for depth, part in enumerate(parts):
            if part == "*" and depth == len(parts) - 1 and isinstance(value, dict):
                picked.update(value)
                break
            if not isinstance(value, dict) or part not in value:
                where = ".".join([worker, *parts[:depth]])
                keys = sorted(value)[:20] if isinstance(value, dict) else type(value).__name__
                raise BadArgument(f"subkey {path!r} not found: {part!r} is not in {where}, which has {keys}")
            value = value[part]
        else:
            picked[parts[-1]] = value
    return picked


def original_item(worker: str, subkeys: list[str] | None, serve: Callable[[str, Any, str], Any] | None = None
                  ) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A stream item as the original's streams gave it: the output itself (carrying md5; ``serve(worker,
    output, md5)`` adds what is read when served), or with subkeys the flat dict of ``flat_subkeys``. Error
    records stay as they are (``{md5, worker: None, error}``)."""

    def shape(result: dict[str, Any]) -> dict[str, Any]:
        output = result.get(worker)
        if output is None and result.get("error") is not None:
            return result
        output = serve(worker, output, result["md5"]) if serve else with_md5(output, result["md5"])
        if not subkeys:
            return output
        try:
            return flat_subkeys(worker, decoded(output), subkeys)
        except WorkbenchError as exc:
            return error_record(result["md5"], worker, exc)

    return shape


def error_record(md5: str, worker: str, exc: WorkbenchError) -> dict[str, Any]:
    """One failed item of a stream: the stream goes on, the failure is named."""
    return {"md5": md5, worker: None, "error": {"type": type(exc).__name__, "kind": getattr(exc, "kind", None),
                                               "message": str(exc)}}


class ResultStream:
    """The results of a batch, as they finish: iterate for one at a time, or ``batches(n)`` for lists.

    A producer greenlet walks the md5s in chunks: cached outputs are read for a whole chunk in one store query
    and queued as one list; the rest run as chains, at most ``max_in_flight`` at once. The queue is bounded, so
    neither the server's memory nor the work done ahead of a slow client grows with the batch. Dropping or
    closing the stream stops the producer and its chains.
    """

    def __init__(self, front: WorkFront, worker: str, md5s: Iterable[str],
                 subkeys: list[str] | None, shape: Callable[[dict], dict] | None = None) -> None:
        self._shape = shape  # how the API shapes each item (original_item); None: {md5, worker: output}
        self._worker = worker
        self._relayed = False  # see relay()
        self._queue: gevent.queue.Queue = gevent.queue.Queue(maxsize=max(4, front.max_in_flight))
        self._pool = gevent.pool.Pool(front.max_in_flight)
        self._ready: deque[dict] = deque()
        self._done = False
        self._linger = front.stream_linger
        # the producer holds no reference to this object, so a dropped stream is collected (and closed)
        self._producer = gevent.spawn(_produce, front, worker, subkeys, iter(md5s), self._queue, self._pool)

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

    def relay(self) -> ResultStream:
        """Leave outputs from worker processes encoded (``EncodedOutput``) in the items: for the RPC layer, which
        sends them on as they are (otherwise each is decoded here, as the item is handed out)."""
        self._relayed = True
        return self

    def _out(self, item: dict[str, Any]) -> Any:
        if not self._relayed:
            output = item.get(self._worker)
            if type(output) is EncodedOutput:
                item[self._worker] = output.value()
        return self._shape(item) if self._shape else item

    def __iter__(self) -> ResultStream:
        return self

    def __next__(self) -> dict[str, Any]:
        while not self._ready:
            if not self._take(block=True):
                self.close()
                raise StopIteration
        return self._out(self._ready.popleft())

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
                yield [self._out(ready.popleft()) for _ in range(min(size, len(ready)))]
        finally:
            self.close()

    def close(self) -> None:
        """Stop the producer and any chains it started (a client that leaves early)."""
        if not self._producer.dead:
            self._producer.kill(block=False)
        self._pool.kill(block=False)

    def __del__(self) -> None:
        self.close()


def _produce(front: WorkFront, worker: str, subkeys: list[str] | None, md5s: Iterator[str],
             queue: gevent.queue.Queue, pool: gevent.pool.Pool) -> None:
    """Feed a ResultStream's queue: cached chunks as lists, chains as they finish, then _DONE."""

    def result(md5: str, output: dict[str, Any] | EncodedOutput) -> dict[str, Any]:
        try:
            return {"md5": md5, worker: select_subkeys(worker, decoded(output), subkeys) if subkeys else output}
        except WorkbenchError as exc:
            return error_record(md5, worker, exc)

    def one(md5: str, checked: bool) -> None:
        try:
            if checked:  # the chunk's cache query missed it: plan it and run it
                queue.put([result(md5, front.run_encoded(front.planner.plan(worker, md5, top_missed=True)))])
            else:
                queue.put([front.work(worker, md5, subkeys)])
        except WorkbenchError as exc:
            queue.put([error_record(md5, worker, exc)])

    groups = gevent.pool.Pool(front.group.in_flight if front.group is not None else 1)
    group_batch = front.group.batch() if front.group is not None else None
    try:
        while chunk := list(islice(md5s, STREAM_CHUNK)):
            try:
                checked = not front.planner.needs_type_tag(worker)
            except WorkbenchError:  # e.g. the worker's file was deleted mid-stream: each item says so below
                checked = False
            hits = front.planner.cached_outputs(worker, chunk) if checked else {}
            if hits:
                front.counters["cache_hits"] += len(hits)
                queue.put([result(md5, hits[md5]) for md5 in chunk if md5 in hits])
            cold = [md5 for md5 in chunk if md5 not in hits]
            if group_batch is not None and len(cold) > 1:
                _spread(front, group_batch, worker, cold, result, queue, groups)
                continue
            for md5 in cold:
                pool.spawn(one, md5, checked)  # waits while max_in_flight chains are running
            let_loop_run()  # one chunk per turn of the loop: other clients' calls are served between chunks
        pool.join()
        groups.join()
    except gevent.GreenletExit:
        groups.kill(block=False)
        return  # closed by the consumer: nobody waits for the end
    except Exception as exc:  # e.g. the store failing: the stream ends with this error, not silently short
        queue.put(exc)
        return
    finally:
        if group_batch is not None:
            group_batch.close()
    queue.put(_DONE)


def _spread(front: WorkFront, group_batch: GroupBatch, worker: str, cold: list[str], result: Any,
            queue: gevent.queue.Queue, groups: gevent.pool.Pool) -> None:
    """Send ``cold`` md5s to the group's servers a chunk at a time; each chunk's results are queued once."""
    size = group_batch.runner.chunk_size

    def chunk_of(md5s: list[str]) -> None:
        timeout = front.planner.shape(worker, None).timeout if not front.planner.needs_type_tag(worker) else 600.0
        answers = group_batch.compute(worker, md5s, timeout)
        if answers is None:  # no server of the group answered: compute them here
            answers = front.compute_here(worker, md5s)
        queue.put([answer if answer.get("error") else result(answer["md5"], EncodedOutput.from_wire(answer))
                   for answer in answers])

    for start in range(0, len(cold), size):
        groups.spawn(chunk_of, cold[start:start + size])  # waits while in_flight chunks are out
